using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>
/// The audit writer fails (a fault nobody foresaw; here <see cref="Kill"/>): under the gateway root it is restarted
/// however often it fails, backs off, refuses calls meanwhile, and every entry it had accepted is written exactly once
/// — its callers answered once — in one verifiable chain.
/// </summary>
public sealed class AuditWriterRestartSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TempDir _dir = new();
    private readonly FlakyFileSystem _fs = new();
    private readonly AuditAvailability _availability = new();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    private AuditOptions Options(AuditFailMode mode = AuditFailMode.Degrade, TimeSpan? backoff = null) => new()
    {
        Directory = _dir.Path,
        FailMode = mode,
        RetryInterval = TimeSpan.FromMilliseconds(200),
        UseIndex = false,
        FileSystem = _fs,
        Availability = _availability,
        RestartBackoffMin = backoff ?? TimeSpan.FromMilliseconds(20),
        RestartBackoffMax = backoff ?? TimeSpan.FromMilliseconds(200),
    };

    // The production supervision: the writer as the gateway root's child, next to an ordinary child.
    private async Task<(IActorRef Writer, IActorRef Other)> Start(AuditOptions options)
    {
        var registry = new ActorRegistry();
        var created = new TaskCompletionSource();
        Sys.ActorOf(GatewayRootActor.Props(
            [AuditHostingExtensions.WriterChild(options), NodeChild.Of<Idle>("other", 1, _ => Props.Create(() => new Idle()))],
            new HostingContext(Sys, registry, new ServiceCollection().BuildServiceProvider(), new KruxOsSettings()), created), "gateway-" + Guid.NewGuid().ToString("N")[..8]);
        await created.Task.WaitAsync(Wait, TestContext.Current.CancellationToken);
        return (registry.Get<AuditWriter>(), registry.Get<Idle>());
    }

    private async Task<AuditHealth> HealthOf(IActorRef writer) =>
        await writer.Ask<AuditHealth>(GetAuditHealth.Instance, Wait, TestContext.Current.CancellationToken);

    private async Task AwaitStatus(IActorRef writer, AuditHealthStatus status) =>
        await AwaitAssertAsync(async () => Assert.Equal(status, (await HealthOf(writer)).Status), Wait,
            cancellationToken: TestContext.Current.CancellationToken);

    [Fact]
    public async Task Should_write_every_entry_accepted_before_a_failure_exactly_once_and_answer_each_caller_once()
    {
        // arrange: one durable entry, then a batch held in its fsync and ten more behind it
        var (writer, _) = await Start(Options());
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        writer.Tell(new Append(Drafts.Call(0), probe));
        await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        using var gate = new ManualResetEventSlim(false);
        _fs.Gate = gate;
        var sent = new List<Guid>();
        var first = Drafts.Call(1);
        sent.Add(first.Id);
        writer.Tell(new Append(first, probe));
        await AwaitConditionAsync(() => Task.FromResult(Volatile.Read(ref _fs.SyncCalls) == 2), Wait, cancellationToken: TestContext.Current.CancellationToken);
        for (var i = 2; i <= 11; i++)
        {
            var d = Drafts.Call(i);
            sent.Add(d.Id);
            writer.Tell(new Append(d, probe));
        }

        // act: the writer fails while that batch is on its way to the disk; then the disk returns
        writer.Tell(Kill.Instance);
        await AwaitConditionAsync(() => Task.FromResult(_availability.Refusal is not null), Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains("restarting", _availability.Refusal, StringComparison.Ordinal);
        gate.Set();

        // assert: every caller answered exactly once, every entry once, in order, on one chain
        var answers = new List<AuditAppended>();
        for (var i = 0; i < sent.Count; i++) answers.Add(await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken));
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        Assert.Equal(sent.Order(), answers.Select(a => a.Id).Order());
        var entries = Drafts.ReadAll(_dir.Path);
        Assert.Equal(12, entries.Count);
        Assert.Equal(sent, entries.Skip(1).Select(e => e.Id));
        Assert.Equal(answers.ToDictionary(a => a.Id, a => a.EntryHash), entries.Skip(1).ToDictionary(e => e.Id, e => e.EntryHash!));
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        Assert.Null(_availability.Refusal);
    }

    [Fact]
    public async Task Should_refuse_calls_while_it_restarts_and_keep_the_entries_it_buffers_meanwhile()
    {
        // arrange: a long backoff, so the restart is still under way while the test looks
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(Core.Supervision.SupervisionEvent));
        var (writer, _) = await Start(Options(backoff: TimeSpan.FromSeconds(8)));
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Healthy);

        // act
        writer.Tell(Kill.Instance);
        var during = Drafts.Call(1);
        writer.Tell(new Append(during, probe));

        // assert: refused for calls, critical, announced; the entry is buffered (degrade) and written once it is back
        var buffered = await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(during.Id, buffered.Id);
        Assert.Contains("restarting", _availability.Refusal, StringComparison.Ordinal);
        var health = await HealthOf(writer);
        Assert.Equal(AuditHealthStatus.Restarting, health.Status);
        Assert.Equal(HealthStatus.Critical, AuditProbe.Assess(health, 10_000).Status);
        var alert = (Core.Supervision.SupervisionEvent)await events.FishForMessageAsync(
            m => m is Core.Supervision.SupervisionEvent { Type: Core.Supervision.SupervisionEventTypes.HealthAlert } e
                 && e.Data.GetProperty("severity").GetString() == "critical", Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains("restarting", alert.Data.GetProperty("message").GetString(), StringComparison.Ordinal);
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        Assert.Null(_availability.Refusal);
        // Healthy from the moment the log is open again; the entries taken over are written right after
        await AwaitAssertAsync(async () => Assert.Equal(0, (await HealthOf(writer)).BufferedEntries), Wait,
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(during.Id, Assert.Single(Drafts.ReadAll(_dir.Path)).Id);
    }

    [Fact]
    public async Task Should_refuse_new_entries_while_it_restarts_under_fail_mode_halt()
    {
        var (writer, _) = await Start(Options(AuditFailMode.Halt, backoff: TimeSpan.FromSeconds(8)));
        var probe = CreateTestProbe();
        await AwaitStatus(writer, AuditHealthStatus.Healthy);

        writer.Tell(Kill.Instance);
        writer.Tell(new Append(Drafts.Call(1), probe));

        var refused = await probe.ExpectMsgAsync<AuditFailed>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains("restarting", refused.Reason, StringComparison.Ordinal);
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        Assert.Empty(Drafts.ReadAll(_dir.Path));
    }

    [Fact]
    public async Task Should_be_restarted_after_any_number_of_failures_while_other_children_keep_their_limit()
    {
        // arrange
        var (writer, other) = await Start(Options());
        var probe = CreateTestProbe();
        Watch(writer);
        Watch(other);

        // act: fifteen failures in a row each (the root allows its other children ten a minute)
        for (var i = 0; i < 15; i++)
        {
            writer.Tell(Kill.Instance);
            other.Tell(Kill.Instance);
        }

        // assert: the ordinary child is stopped; the writer comes back and records
        await ExpectTerminatedAsync(other, Wait, cancellationToken: TestContext.Current.CancellationToken);
        await AwaitStatus(writer, AuditHealthStatus.Healthy);
        writer.Tell(new Append(Drafts.Call(1), probe));
        await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    [Fact]
    public async Task Should_record_hostile_entries_and_keep_writing_everyone_elses()
    {
        // arrange: entries no earlier writer could seal, between ordinary ones
        var (writer, _) = await Start(Options());
        var probe = CreateTestProbe();
        var huge = new string('h', 2 * 1024 * 1024);
        JsonElement Json(string text) => JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 10_000 }).RootElement.Clone();
        AuditEntry[] drafts =
        [
            Drafts.Call(0),
            Drafts.Call(1) with { Inputs = JsonSerializer.SerializeToElement(new { content = huge }) },
            Drafts.Call(2) with { Inputs = Json("""{"a\ud800":"\udc00","n":1e400}""") },
            Drafts.Call(3) with { Inputs = Json(new string('[', 5000) + new string(']', 5000)) },
            Drafts.Call(4) with { OutputSummary = huge, Capability = "x\ud800" + huge },
            Drafts.Call(5),
        ];

        // act
        foreach (var d in drafts) writer.Tell(new Append(d, probe));

        // assert
        var answers = new List<AuditAppended>();
        foreach (var _ in drafts) answers.Add(await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(drafts.Select(d => d.Id), answers.Select(a => a.Id));
        Assert.Equal(drafts.Select(d => d.Id), Drafts.ReadAll(_dir.Path).Select(e => e.Id));
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
        Assert.Equal(AuditHealthStatus.Healthy, (await HealthOf(writer)).Status);
    }

    private sealed class Idle : ReceiveActor
    {
        public Idle() => ReceiveAny(_ => { });
    }
}
