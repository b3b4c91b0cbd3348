using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Supervision;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>The writer's daily retention run at 03:00 UTC and its 7-day warning, on a clock the spec moves.</summary>
public sealed class AuditRetentionSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly DateTimeOffset Today = new(2026, 11, 25, 2, 30, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();
    private readonly ManualClock _clock = new(Today);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    /// <summary>One entry on each of the given days (relative to today), chained.</summary>
    private void WriteDays(params int[] days)
    {
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            var n = 0;
            foreach (var d in days)
            {
                _clock.Now = Today.AddDays(d);
                writer.AppendBatch([chain.Seal(Drafts.Call(n++, at: _clock.Now))]);
            }
        }
        _clock.Now = Today;
    }

    private static string Message(SupervisionEvent e) => e.Data.GetProperty("message").GetString()!;

    /// <summary>The retention warnings published so far as health_alert events.</summary>
    private List<SupervisionEvent> RetentionAlerts() =>
        [.. _events.Where(e => e.Type == SupervisionEventTypes.HealthAlert && Message(e).Contains("will be deleted", StringComparison.Ordinal))];

    private readonly System.Collections.Concurrent.ConcurrentQueue<SupervisionEvent> _events = new();

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(System.Collections.Concurrent.ConcurrentQueue<SupervisionEvent> events) => Receive<SupervisionEvent>(events.Enqueue);
    }

    [Fact]
    public async Task Should_run_retention_at_03_00_utc_once_a_day_warn_seven_days_ahead_and_delete_only_after_the_warning_period()
    {
        // arrange: a file that expires in 4 days (86 days old), one already expired (100 days old), and today's
        var ct = TestContext.Current.CancellationToken;
        WriteDays(-100, -86, 0);
        Sys.EventStream.Subscribe(Sys.ActorOf(Props.Create(() => new Recorder(_events))), typeof(SupervisionEvent));
        var writer = Sys.ActorOf(AuditWriterActor.Props(new AuditOptions
        {
            Directory = _dir.Path,
            UseIndex = false,
            Clock = _clock,
            RetentionCheckInterval = TimeSpan.FromMilliseconds(100),
        }));

        // act + assert: checks before 03:00 do nothing
        await Task.Delay(600, ct);
        Assert.Empty(RetentionAlerts());
        Assert.False(File.Exists(_dir.File(AuditFileNames.RetentionState)));

        // 03:00: the first run warns about the file that expires soon, and keeps the expired one for 7 days
        _clock.Now = Today.AddMinutes(30);
        await AwaitConditionAsync(() => Task.FromResult(RetentionAlerts().Count > 0), Wait, cancellationToken: ct);
        var warning = Assert.Single(RetentionAlerts());
        Assert.Equal("warning", warning.Data.GetProperty("severity").GetString());
        Assert.Equal("audit", warning.Data.GetProperty("service").GetString());
        Assert.Contains(AuditFileNames.ForDay(DateOnly.FromDateTime(Today.AddDays(-86).UtcDateTime)), Message(warning), StringComparison.Ordinal);
        Assert.Contains(_events, e => e.Type == SupervisionEventTypes.HealthAlert && Message(e).Contains("kept until", StringComparison.Ordinal));
        Assert.Equal(3, AuditDirectory.ListDayFiles(_dir.Path).Count);

        // later checks the same day do not run it again
        _clock.Now = Today.AddHours(5);
        await Task.Delay(600, ct);
        Assert.Single(RetentionAlerts());

        // 7 days after the first warning, at 03:00: both expired files go, anchored; today's stays
        _clock.Now = Today.AddDays(7).AddMinutes(31);
        await AwaitConditionAsync(() => Task.FromResult(AuditDirectory.ListDayFiles(_dir.Path).Count == 1), Wait, cancellationToken: ct);
        Assert.Equal(2, AuditDirectory.ReadAnchors(_dir.Path).Count);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);

        // and a manual run (kruxos audit rotate) answers with what it did
        var manual = await writer.Ask<RetentionResult>(RunRetention.Instance, Wait, ct);
        Assert.Empty(manual.Deleted);
    }
}
