using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

public sealed class AuditWriterActorSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly TempDir _dir = new();
    private readonly FlakyFileSystem _fs = new();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    private AuditOptions Options(AuditFailMode mode = AuditFailMode.Degrade, int ring = 10_000, bool index = false) => new()
    {
        Directory = _dir.Path,
        FailMode = mode,
        RingCapacity = ring,
        RetryInterval = TimeSpan.FromMilliseconds(200),
        UseIndex = index,
        FileSystem = _fs,
    };

    private IActorRef Start(AuditOptions options) => Sys.ActorOf(AuditWriterActor.Props(options));

    private async Task<AuditHealth> HealthOf(IActorRef writer) =>
        await writer.Ask<AuditHealth>(GetAuditHealth.Instance, Wait, TestContext.Current.CancellationToken);

    private async Task AwaitStatus(IActorRef writer, AuditHealthStatus status) =>
        await AwaitAssertAsync(async () => Assert.Equal(status, (await HealthOf(writer)).Status), Wait,
            cancellationToken: TestContext.Current.CancellationToken);

    [Fact]
    public async Task Should_reply_only_after_the_batch_is_fsynced_and_group_later_arrivals()
    {
        var writer = Start(Options());
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        using var gate = new ManualResetEventSlim(false);
        _fs.Gate = gate;

        writer.Tell(new Append(Drafts.Call(0), probe));
        await AwaitConditionAsync(() => Task.FromResult(Volatile.Read(ref _fs.SyncCalls) == 1), Wait, cancellationToken: TestContext.Current.CancellationToken);
        for (var i = 1; i <= 20; i++) writer.Tell(new Append(Drafts.Call(i), probe));
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300), TestContext.Current.CancellationToken);
        gate.Set();

        var replies = new List<AuditAppended>();
        for (var i = 0; i <= 20; i++) replies.Add(await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(2, Volatile.Read(ref _fs.SyncCalls)); // one fsync for the first entry, one for the 20 that waited
        var entries = Drafts.ReadAll(_dir.Path);
        Assert.Equal(replies.Select(r => (r.Id, r.EntryHash)), entries.Select(e => (e.Id, e.EntryHash!)));
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    [Fact]
    public async Task Should_degrade_to_the_ring_on_fsync_failure_and_flush_the_same_chain_when_it_recovers()
    {
        var writer = Start(Options());
        var probe = CreateTestProbe();
        for (var i = 0; i < 3; i++)
        {
            writer.Tell(new Append(Drafts.Call(i), probe));
            await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        }

        _fs.FailSync = true;
        var buffered = new List<Guid>();
        for (var i = 3; i < 13; i++)
        {
            var draft = Drafts.Call(i);
            writer.Tell(new Append(draft, probe));
            buffered.Add((await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: TestContext.Current.CancellationToken)).Id);
        }
        var health = await HealthOf(writer);
        Assert.Equal(AuditHealthStatus.Degraded, health.Status);
        Assert.True(health.IsCritical);
        Assert.Equal(10, health.BufferedEntries);
        Assert.Contains("fsync", health.LastError, StringComparison.Ordinal);
        Assert.Equal(3, Drafts.ReadAll(_dir.Path).Count);

        _fs.FailSync = false;
        await AwaitStatus(writer, AuditHealthStatus.Healthy);

        var entries = Drafts.ReadAll(_dir.Path);
        Assert.Equal(13, entries.Count);
        Assert.Equal(buffered, entries.Skip(3).Select(e => e.Id));
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
        Assert.Equal(0, (await HealthOf(writer)).BufferedEntries);
    }

    [Fact]
    public async Task Should_keep_chain_order_when_a_batch_fails_with_later_entries_already_queued_behind_it()
    {
        // arrange: the first batch is held in its fsync while 20 more entries queue up behind it on the disk side
        var writer = Start(Options());
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        using var gate = new ManualResetEventSlim(false);
        _fs.Gate = gate;
        var sent = new List<Guid>();
        var first = Drafts.Call(0);
        sent.Add(first.Id);
        writer.Tell(new Append(first, probe));
        await AwaitConditionAsync(() => Task.FromResult(Volatile.Read(ref _fs.SyncCalls) == 1), Wait, cancellationToken: TestContext.Current.CancellationToken);
        for (var i = 1; i <= 20; i++)
        {
            var draft = Drafts.Call(i);
            sent.Add(draft.Id);
            writer.Tell(new Append(draft, probe));
        }
        await HealthOf(writer); // the 20 appends were handled (submitted) before the fsync fails

        // act: that one fsync fails (the next ones work: a later entry written now would land before entry 0)
        _fs.FailNextSyncs = 1;
        gate.Set();
        var buffered = new List<Guid>();
        for (var i = 0; i <= 20; i++) buffered.Add((await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: TestContext.Current.CancellationToken)).Id);
        await AwaitStatus(writer, AuditHealthStatus.Healthy);

        // assert: every entry once, in the order they arrived, on one intact chain; none was told it was durable early
        Assert.Equal(sent.Order(), buffered.Order()); // each was told "buffered" once, none "appended"
        Assert.Equal(sent, Drafts.ReadAll(_dir.Path).Select(e => e.Id));
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Should_publish_a_critical_health_alert_when_it_degrades_and_another_when_it_recovers()
    {
        // arrange
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(Core.Supervision.SupervisionEvent));
        var writer = Start(Options());
        var probe = CreateTestProbe();
        writer.Tell(new Append(Drafts.Call(0), probe));
        await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);

        // act: fsync fails, then works again
        _fs.FailSync = true;
        writer.Tell(new Append(Drafts.Call(1), probe));
        await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        var degraded = (Core.Supervision.SupervisionEvent)await events.FishForMessageAsync(
            m => m is Core.Supervision.SupervisionEvent { Type: Core.Supervision.SupervisionEventTypes.HealthAlert }, Wait,
            cancellationToken: TestContext.Current.CancellationToken);
        _fs.FailSync = false;
        var recovered = (Core.Supervision.SupervisionEvent)await events.FishForMessageAsync(
            m => m is Core.Supervision.SupervisionEvent { Type: Core.Supervision.SupervisionEventTypes.HealthAlert }, Wait,
            cancellationToken: TestContext.Current.CancellationToken);

        // assert
        Assert.Equal(("audit", "critical"), (degraded.Data.GetProperty("service").GetString(), degraded.Data.GetProperty("severity").GetString()));
        Assert.Contains("audit writer degraded", degraded.Data.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("fsync", degraded.Data.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("info", recovered.Data.GetProperty("severity").GetString());
        Assert.Contains("recovered", recovered.Data.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, Drafts.ReadAll(_dir.Path).Count);
    }

    [Fact]
    public async Task Should_fail_calls_in_halt_mode_and_still_keep_the_sealed_entries()
    {
        var writer = Start(Options(AuditFailMode.Halt));
        var probe = CreateTestProbe();
        writer.Tell(new Append(Drafts.Call(0), probe));
        await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);

        _fs.FailSync = true;
        writer.Tell(new Append(Drafts.Call(1), probe));
        var failed = await probe.ExpectMsgAsync<AuditFailed>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        writer.Tell(new Append(Drafts.Call(2), probe));
        var rejected = await probe.ExpectMsgAsync<AuditFailed>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(AuditHealthStatus.Halted, (await HealthOf(writer)).Status);
        Assert.Contains("halt", rejected.Reason, StringComparison.Ordinal);

        _fs.FailSync = false;
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        var entries = Drafts.ReadAll(_dir.Path);
        // the entry whose batch failed was already chained: it is written, never dropped; the rejected one never entered the chain
        Assert.Equal(2, entries.Count);
        Assert.Equal(failed.Id, entries[1].Id);
        Assert.DoesNotContain(entries, e => e.Id == rejected.Id);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    [Fact]
    public async Task Should_fail_closed_when_the_ring_is_full()
    {
        var writer = Start(Options(ring: 5));
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        _fs.FailWrite = true;

        var replies = new List<object>();
        for (var i = 0; i < 8; i++)
        {
            writer.Tell(new Append(Drafts.Call(i), probe));
            replies.Add(await probe.ExpectMsgAsync<object>(Wait, cancellationToken: TestContext.Current.CancellationToken));
        }

        Assert.Equal(5, replies.Count(r => r is AuditBuffered));
        Assert.Equal(3, replies.Count(r => r is AuditFailed));
        Assert.All(replies.Skip(5), r => Assert.IsType<AuditFailed>(r));
        _fs.FailWrite = false;
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        Assert.Equal(5, Drafts.ReadAll(_dir.Path).Count);
    }

    [Fact]
    public async Task Should_produce_one_valid_chain_with_every_entry_once_under_concurrent_appenders()
    {
        var writer = Start(Options(index: true));
        var ct = TestContext.Current.CancellationToken;
        const int tasks = 50, perTask = 200;

        var results = await Task.WhenAll(Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            var ids = new List<(Guid Id, string Hash)>();
            for (var i = 0; i < perTask; i++)
            {
                var draft = Drafts.Call(t * perTask + i, agent: $"agent{t}", session: $"s-{t}");
                var reply = await writer.Ask<AuditAppended>(r => new Append(draft, r), Wait, ct);
                Assert.Equal(draft.Id, reply.Id);
                ids.Add((reply.Id, reply.EntryHash));
            }
            return ids;
        }, ct)));

        var sent = results.SelectMany(r => r).ToDictionary(x => x.Id, x => x.Hash);
        var entries = Drafts.ReadAll(_dir.Path);
        var report = AuditVerifier.VerifyDirectory(_dir.Path);
        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(tasks * perTask, entries.Count);
        Assert.Equal(tasks * perTask, entries.Select(e => e.Id).Distinct().Count());
        Assert.All(entries, e => Assert.Equal(sent[e.Id], e.EntryHash));
        var page = await new AuditReader(_dir.Path).QueryAsync(new AuditQuery { Agent = "agent7" }, ct);
        Assert.Equal(perTask, page.Total);
    }

    [Fact]
    public async Task Should_write_a_chain_note_and_continue_when_the_log_is_broken_at_startup()
    {
        var (w, recovery) = AuditFileWriter.Open(_dir.Path, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        using (w) w.AppendBatch([.. Enumerable.Range(0, 4).Select(i => chain.Seal(Drafts.Call(i)))]);
        var file = AuditDirectory.ListDayFiles(_dir.Path)[0].Path;
        var bytes = File.ReadAllBytes(file);
        var at = bytes.AsSpan().IndexOf("summary 2"u8);
        bytes[at] ^= 0x01;
        File.WriteAllBytes(file, bytes);

        var writer = Start(Options());
        var probe = CreateTestProbe();
        writer.Tell(new Append(Drafts.Call(4), probe));
        await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);

        var health = await HealthOf(writer);
        Assert.Equal((ChainIssueKind.HashMismatch, 2), (health.StartupBreak!.Kind, health.StartupBreak.EntryIndex));
        var entries = Drafts.ReadAll(_dir.Path);
        Assert.Equal(6, entries.Count);
        Assert.Equal(AuditEntryKind.ChainNote, entries[4].Kind);
        Assert.Equal("hash_mismatch", entries[4].Metadata.Details!.Value.GetProperty("break_kind").GetString());
        Assert.Equal(entries[3].EntryHash, entries[4].PreviousHash);
        var report = AuditVerifier.VerifyDirectory(_dir.Path);
        var issue = Assert.Single(report.Issues); // the original tampering stays visible; the new chain is sound
        Assert.Equal(2, issue.EntryIndex);
    }

    [Fact]
    public async Task Should_buffer_while_the_log_cannot_be_opened_and_flush_once_it_can()
    {
        var blocked = _dir.File("audit");
        File.WriteAllText(blocked, "not a directory");
        var options = Options();
        options.Directory = blocked;
        var writer = Start(options);
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Degraded);

        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            var d = Drafts.Call(i);
            ids.Add(d.Id);
            writer.Tell(new Append(d, probe));
            await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        }
        File.Delete(blocked);
        await AwaitStatus(writer, AuditHealthStatus.Healthy);

        Assert.Equal(ids, Drafts.ReadAll(blocked).Select(e => e.Id));
        Assert.True(AuditVerifier.VerifyDirectory(blocked).IsIntact);
    }
}
