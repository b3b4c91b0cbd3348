using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>
/// Chain notes: a break is noted once however often it is found (each restart, each daily verification), and
/// breaks outside the newest file are found by the writer's background verification of the whole directory.
/// </summary>
public sealed class AuditChainNoteSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private const string Day1 = "audit-2026-11-23.log";
    private const string Day3 = "audit-2026-11-25.log";
    private readonly TempDir _dir = new();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    /// <summary>Three day files of four entries each; the clock ends on day 3.</summary>
    private void WriteThreeDays()
    {
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            for (var day = 0; day < 3; day++)
            {
                _clock.Now = new DateTimeOffset(2026, 11, 23 + day, 12, 0, 0, TimeSpan.Zero);
                writer.AppendBatch([.. Enumerable.Range(day * 4, 4).Select(i => chain.Seal(Drafts.Call(i, at: _clock.Now.AddSeconds(i))))]);
            }
        }
    }

    /// <summary>Flips a byte inside record <paramref name="index"/> of <paramref name="file"/>; returns its offset.</summary>
    private long Tamper(string file, int index)
    {
        var path = _dir.File(file);
        var frame = AuditDirectory.ReadFrames(path, new TailHolder()).ElementAt(index);
        var bytes = File.ReadAllBytes(path);
        var at = bytes.AsSpan((int)frame.Offset).IndexOf("summary "u8) + (int)frame.Offset;
        bytes[at] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        return frame.Offset;
    }

    private IActorRef Start(TimeSpan? retentionCheck = null) => Sys.ActorOf(AuditWriterActor.Props(new AuditOptions
    {
        Directory = _dir.Path,
        UseIndex = false,
        Clock = _clock,
        RetryInterval = TimeSpan.FromMilliseconds(200),
        RetentionCheckInterval = retentionCheck ?? TimeSpan.FromMinutes(10),
    }));

    private async Task<AuditHealth> Health(IActorRef writer) =>
        await writer.Ask<AuditHealth>(GetAuditHealth.Instance, Wait, TestContext.Current.CancellationToken);

    /// <summary>Waits until the writer has finished <paramref name="count"/> background verifications.</summary>
    private async Task Verified(IActorRef writer, int count = 1) =>
        await AwaitConditionAsync(async () => (await Health(writer)).LastVerification?.Count >= count, Wait,
            cancellationToken: TestContext.Current.CancellationToken);

    private async Task Append(IActorRef writer, int n)
    {
        var probe = CreateTestProbe();
        writer.Tell(new Append(Drafts.Call(n, at: _clock.Now), probe));
        await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);
    }

    private List<AuditEntry> Notes() => [.. Drafts.ReadAll(_dir.Path).Where(e => e.Kind == AuditEntryKind.ChainNote)];

    [Fact]
    public async Task Should_note_a_break_in_the_newest_file_once_however_often_the_writer_restarts()
    {
        // arrange: a flipped byte in the newest day file, found by every start's check of that file
        WriteThreeDays();
        var offset = Tamper(Day3, 2);

        // act: three starts, each appending an entry
        for (var run = 0; run < 3; run++)
        {
            var writer = Start();
            await Append(writer, 100 + run);
            await Verified(writer);
            var found = (await Health(writer)).StartupBreak!;
            Assert.Equal((ChainIssueKind.HashMismatch, Day3, 2), (found.Kind, found.File, found.EntryIndex));
            await writer.GracefulStop(Wait);
        }

        // assert: one note, located, and the original break still reported by every verification
        var note = Assert.Single(Notes());
        Assert.Equal(new ChainBreakKey("hash_mismatch", Day3, 2, offset), ChainBreakKey.OfNote(note));
        Assert.Equal(16, Drafts.ReadAll(_dir.Path).Count); // 12 + the note + 3 calls
        Assert.Equal(2, Assert.Single(AuditVerifier.VerifyDirectory(_dir.Path).Issues).EntryIndex);
    }

    [Fact]
    public async Task Should_raise_a_critical_system_alert_for_a_chain_break_found_at_startup_and_by_verification()
    {
        // arrange: breaks in the newest file (startup check) and an older one (background verification)
        WriteThreeDays();
        Tamper(Day3, 2);
        Tamper(Day1, 1);
        var alerts = CreateTestProbe();
        Sys.EventStream.Subscribe(alerts, typeof(KruxOS.Core.Alerts.SystemAlertRaised));

        // act
        var writer = Start();
        await Verified(writer);

        // assert: one alert per finding, from the audit component, critical
        var first = await alerts.ExpectMsgAsync<KruxOS.Core.Alerts.SystemAlertRaised>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        var second = await alerts.ExpectMsgAsync<KruxOS.Core.Alerts.SystemAlertRaised>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.All(new[] { first, second }, a =>
        {
            Assert.Equal("audit", a.Component);
            Assert.Equal(KruxOS.Core.Alerts.AlertSeverity.Critical, a.Severity);
        });
        Assert.Contains("at startup", first.Message, StringComparison.Ordinal);
        Assert.Contains("background verification", second.Message, StringComparison.Ordinal);
        await writer.GracefulStop(Wait);
    }

    [Fact]
    public async Task Should_note_a_break_in_an_older_day_file_found_by_the_background_verification_once()
    {
        // arrange: the newest file and its link are intact, so the startup check finds nothing
        WriteThreeDays();
        var offset = Tamper(Day1, 1);

        // act
        var writer = Start();
        await Verified(writer);
        await AwaitConditionAsync(() => Task.FromResult(Notes().Count == 1), Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Null((await Health(writer)).StartupBreak);
        await writer.GracefulStop(Wait);
        var again = Start();
        await Verified(again);
        await Append(again, 100);
        await again.GracefulStop(Wait);

        // assert: noted once, with its location, and no note for a break that is not there
        var note = Assert.Single(Notes());
        Assert.Equal(new ChainBreakKey("hash_mismatch", Day1, 1, offset), ChainBreakKey.OfNote(note));
        Assert.Equal("verification", note.Metadata.Details!.Value.GetProperty("found").GetString());
        Assert.Equal(Day3, AuditDirectory.ListDayFiles(_dir.Path)[^1].Name);
    }

    [Fact]
    public async Task Should_verify_the_whole_directory_again_on_the_daily_retention_tick()
    {
        // arrange: an intact log, verified once the writer opened it, before 03:00 UTC
        WriteThreeDays();
        _clock.Now = new DateTimeOffset(2026, 11, 25, 2, 0, 0, TimeSpan.Zero);
        var writer = Start(retentionCheck: TimeSpan.FromMilliseconds(100));
        await Verified(writer);
        Assert.Empty(Notes());

        // act: a closed day file is tampered with; ticks before 03:00 do nothing, the first one at 03:00 verifies
        var offset = Tamper(Day1, 3);
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.Equal(1, (await Health(writer)).LastVerification!.Count);
        _clock.Now = new DateTimeOffset(2026, 11, 25, 3, 0, 0, TimeSpan.Zero);
        await Verified(writer, 2);

        // assert
        await AwaitConditionAsync(() => Task.FromResult(Notes().Count == 1), Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(new ChainBreakKey("hash_mismatch", Day1, 3, offset), ChainBreakKey.OfNote(Assert.Single(Notes())));
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.Equal(2, (await Health(writer)).LastVerification!.Count); // once a day
    }
}
