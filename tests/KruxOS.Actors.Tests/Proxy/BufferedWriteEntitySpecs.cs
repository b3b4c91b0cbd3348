using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Proxy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using KruxOS.Core.Supervision;
using KruxOS.Proxy;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Core.Proxy.WriteCommands;

namespace KruxOS.Actors.Tests.Proxy;

/// <summary>
/// The buffered-write entity on a real node (SQLite journal): it waits out its window, executes exactly once, never after
/// a cancel, retries with backoff into the dead letters, and after a crash between "the provider accepted" and "recorded
/// done" finds the write by its marker instead of sending it twice.
/// </summary>
public sealed class BufferedWriteEntitySpecs
{
    private static readonly AgentName Agent = AgentName.Parse("builder");
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(200);

    private static KruxOsSettings Settings(TempDir dir) => new()
    {
        DataDir = dir.Path,
        MetricsInterval = TimeSpan.FromMinutes(5),
        Proxy = new ProxySettings { Backoff = [Short, Short], CallTimeout = TimeSpan.FromSeconds(5), EntityIdle = TimeSpan.FromSeconds(30) },
    };

    private static Task<NodeHost> Start(KruxOsSettings settings, FakeMailAdapter adapter) => NodeHost.StartAsync(settings, s =>
    {
        s.AddSingleton(adapter);
        s.AddServiceAdapter<FakeMailAdapter>();
    });

    private static BufferWrite Buffer(WriteId id, TimeSpan window, string operation = "fakemail.send", RollbackSpec? rollback = null) =>
        new(id, FakeMailAdapter.Service, CapabilityName.Parse(operation), JsonDocument.Parse("""{"to":"bob@example.com"}""").RootElement.Clone(),
            WriteMarker.New(id), Agent, "sess-1", "to bob@example.com", window, rollback, DateTimeOffset.UtcNow);

    private static async Task<WriteResult> Ask(NodeHost node, IWriteCommand command) =>
        await (await node.Registry.GetAsync<WriteRegion>()).Ask<WriteResult>(command, TestTimeouts.Reply);

    private static async Task<BufferedWriteState> WaitFor(NodeHost node, WriteId id, Func<BufferedWriteState, bool> done, TimeSpan? within = null)
    {
        var index = node.Services.GetRequiredService<WriteIndex>();
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (index.Get(id) is { } s && done(s)) return s;
            await Task.Delay(50);
        }
        throw new TimeoutException($"write {id} never reached the expected state; last: {index.Get(id)?.Status}");
    }

    [Fact]
    public async Task Should_execute_exactly_once_after_the_window_and_never_when_cancelled_inside_it()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider();
        await using var node = await Start(Settings(dir), new FakeMailAdapter(provider, TimeSpan.FromSeconds(1)));
        var events = new List<SupervisionEvent>();
        var recorder = node.System.ActorOf(Props.Create(() => new Recorder<SupervisionEvent>(events)));
        node.System.EventStream.Subscribe(recorder, typeof(SupervisionEvent));

        var sent = WriteId.New(DateTimeOffset.UtcNow);
        var kept = Buffer(sent, TimeSpan.FromSeconds(2));
        var cancelled = WriteId.New(DateTimeOffset.UtcNow);
        var buffered = await Ask(node, kept);
        Assert.Equal(WriteStatus.Buffered, buffered.State.Status);
        Assert.True((await Ask(node, Buffer(cancelled, TimeSpan.FromSeconds(2)))).IsOk);

        // inside the window: nothing reached the provider; the cancel wins
        await Task.Delay(500);
        Assert.Empty(provider.Accepted);
        var cancel = await Ask(node, new CancelWrite(cancelled, "user:ops", null, "wrong recipient", DateTimeOffset.UtcNow));
        Assert.Equal(WriteStatus.Cancelled, cancel.State.Status);

        var done = await WaitFor(node, sent, s => s.Status == WriteStatus.Done);
        Assert.StartsWith("msg-", done.ProviderReference, StringComparison.Ordinal);
        Assert.True(done.FinishedAt >= buffered.State.BufferUntil);
        // long after both windows: the kept write reached the provider once, the cancelled one never
        await Task.Delay(2500);
        Assert.Equal(1, provider.CountFor(kept.Marker));
        Assert.Single(provider.Accepted);
        Assert.Equal(WriteStatus.Cancelled, node.Services.GetRequiredService<WriteIndex>().Get(cancelled)!.Status);
        // a cancel after the window is refused with the status
        var late = await Ask(node, new CancelWrite(sent, "user:ops", null, "too late", DateTimeOffset.UtcNow));
        Assert.Equal(WriteResultCode.Conflict, late.Code);
        // write_buffered was published for both, with the spec's fields
        var buffer = events.Where(e => e.Type == ProxyEvents.WriteBuffered).ToList();
        Assert.Equal(2, buffer.Count);
        var data = buffer[0].Data;
        Assert.Equal("fakemail", data.GetProperty("service").GetString());
        Assert.Equal("fakemail.send", data.GetProperty("operation").GetString());
        Assert.True(data.GetProperty("cancellable").GetBoolean());
        Assert.StartsWith("wr-", data.GetProperty("write_id").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_retry_with_backoff_into_the_dead_letters_raise_a_critical_alert_and_run_again_on_an_operator_retry()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider { FailNext = 3 };
        await using var node = await Start(Settings(dir), new FakeMailAdapter(provider, TimeSpan.FromMilliseconds(200)));
        var alerts = new List<SystemAlertRaised>();
        var recorder = node.System.ActorOf(Props.Create(() => new Recorder<SystemAlertRaised>(alerts)));
        node.System.EventStream.Subscribe(recorder, typeof(SystemAlertRaised));
        var id = WriteId.New(DateTimeOffset.UtcNow);
        Assert.True((await Ask(node, Buffer(id, TimeSpan.FromMilliseconds(200)))).IsOk);

        var dead = await WaitFor(node, id, s => s.Status == WriteStatus.DeadLettered);
        Assert.Equal(3, dead.Attempts);
        Assert.Equal("503 service unavailable", dead.LastError);
        Assert.Equal(2, provider.Lookups);  // attempts 2 and 3 looked the write up before sending
        Assert.Empty(provider.Accepted);
        var index = node.Services.GetRequiredService<WriteIndex>();
        Assert.Equal(1, index.DeadLetterDepth);
        Assert.Equal(1, index.Counts(FakeMailAdapter.Service, DateTimeOffset.UtcNow).DeadLettered);
        for (var i = 0; i < 100 && alerts.Count == 0; i++) await Task.Delay(50);
        var alert = Assert.Single(alerts);
        Assert.Equal(AlertSeverity.Critical, alert.Severity);
        Assert.Equal("proxy", alert.Component);
        Assert.Contains(id.Value, alert.Message, StringComparison.Ordinal);

        // the operator retries: the provider works again, the write goes out once and leaves the dead letters
        var retried = await Ask(node, new RetryWrite(id, "user:ops", DateTimeOffset.UtcNow));
        Assert.True(retried.IsOk);
        var done = await WaitFor(node, id, s => s.Status == WriteStatus.Done);
        Assert.Single(provider.Accepted);
        Assert.Equal(0, index.DeadLetterDepth);
        Assert.Equal(3, provider.Lookups);
        Assert.NotNull(done.ProviderReference);
    }

    [Fact]
    public async Task Should_dead_letter_a_permanent_failure_at_once_and_discard_it_on_request()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider { FailNext = 1, Permanent = true };
        await using var node = await Start(Settings(dir), new FakeMailAdapter(provider, TimeSpan.FromMilliseconds(100)));
        var id = WriteId.New(DateTimeOffset.UtcNow);
        Assert.True((await Ask(node, Buffer(id, TimeSpan.FromMilliseconds(100)))).IsOk);
        var dead = await WaitFor(node, id, s => s.Status == WriteStatus.DeadLettered);
        Assert.Equal(1, dead.Attempts);
        var discarded = await Ask(node, new DiscardWrite(id, "user:ops", "obsolete", DateTimeOffset.UtcNow));
        Assert.Equal(WriteStatus.Discarded, discarded.State.Status);
        await Task.Delay(500);
        Assert.Empty(provider.Accepted);
    }

    [Fact]
    public async Task Should_record_the_rollback_point_before_executing()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider();
        await using var node = await Start(Settings(dir), new FakeMailAdapter(provider, TimeSpan.FromMilliseconds(100)));
        var id = WriteId.New(DateTimeOffset.UtcNow);
        var spec = new RollbackSpec("untrash", TimeSpan.FromHours(72));
        Assert.True((await Ask(node, Buffer(id, TimeSpan.FromMilliseconds(100), "fakemail.delete", spec))).IsOk);
        var done = await WaitFor(node, id, s => s.Status == WriteStatus.Done);
        Assert.Equal("untrash", done.Rollback!.Kind);
        Assert.True(done.Rollback.CapturedAt <= done.FinishedAt);
        Assert.Equal(1, node.Services.GetRequiredService<WriteIndex>().Counts(FakeMailAdapter.Service, DateTimeOffset.UtcNow).RollbackPoints);
    }

    [Fact]
    public async Task Should_execute_a_write_buffered_before_a_restart_once_after_it()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider();
        var adapter = new FakeMailAdapter(provider, TimeSpan.FromSeconds(3));
        var id = WriteId.New(DateTimeOffset.UtcNow);
        var write = Buffer(id, TimeSpan.FromSeconds(3));
        await using (var node = await Start(Settings(dir), adapter))
            Assert.True((await Ask(node, write)).IsOk);
        Assert.Empty(provider.Accepted);

        // life 2: nobody asks for the write; the index replays the journal and wakes it when its window ends
        await using (var node = await Start(Settings(dir), adapter))
        {
            var done = await WaitFor(node, id, s => s.Status == WriteStatus.Done);
            Assert.True(done.FinishedAt >= done.BufferUntil);
            await Task.Delay(1000);
            Assert.Equal(1, provider.CountFor(write.Marker));
        }
    }

    [Fact]
    public async Task Should_never_send_twice_when_the_node_dies_after_the_provider_accepted_the_write()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider { HangAfterAccept = true };
        var adapter = new FakeMailAdapter(provider, TimeSpan.FromMilliseconds(200));
        var id = WriteId.New(DateTimeOffset.UtcNow);
        var write = Buffer(id, TimeSpan.FromMilliseconds(200));

        // life 1: the provider accepts the write, and the node stops before the outcome is recorded
        await using (var node = await Start(Settings(dir), adapter))
        {
            Assert.True((await Ask(node, write)).IsOk);
            await provider.AcceptedAndHanging.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(WriteStatus.Executing, node.Services.GetRequiredService<WriteIndex>().Get(id)!.Status);
        }
        provider.HangAfterAccept = false;

        // life 2: the open attempt is found by its marker, recorded done, and not sent again
        await using (var node = await Start(Settings(dir), adapter))
        {
            var done = await WaitFor(node, id, s => s.Status == WriteStatus.Done);
            Assert.StartsWith("found-", done.ProviderReference, StringComparison.Ordinal);
            await Task.Delay(1000);
            Assert.Equal(1, provider.CountFor(write.Marker));
            Assert.True(provider.Lookups >= 1);
        }
    }

    [Fact]
    public async Task Should_let_an_agent_cancel_only_its_own_writes_and_tell_nothing_about_others()
    {
        using var dir = new TempDir();
        var provider = new FakeProvider();
        await using var node = await Start(Settings(dir), new FakeMailAdapter(provider, TimeSpan.FromSeconds(3)));
        await node.Services.GetRequiredService<WriteIndex>().Ready.WaitAsync(TestTimeouts.Reply);
        var catalog = node.Services.GetRequiredService<KruxOS.Capabilities.CapabilityCatalog>();
        var cancel = CapabilityName.Parse("proxy.cancel_write");
        var handler = catalog.HandlerFor(cancel);
        KruxOS.Capabilities.InvocationContext As(string agent) => new(Principal.ForAgent(AgentName.Parse(agent)),
            new KruxOS.Capabilities.SessionSnapshot(AgentName.Parse(agent), "sess-" + agent, DateTimeOffset.UtcNow, 1, new KruxOS.Core.Sessions.ClientInfo("spec", "1")),
            null, catalog.Registry.All.Single(d => d.Name == cancel), DateTimeOffset.UtcNow, catalog.Registry, null!);
        async Task<KruxOS.Core.Errors.StructuredError> Refused(string agent, string writeId)
        {
            var args = JsonSerializer.SerializeToElement(new { write_id = writeId });
            var e = await Assert.ThrowsAsync<KruxOS.Capabilities.CapabilityException>(() => handler.ExecuteAsync(As(agent), args, CancellationToken.None).AsTask());
            return e.Error;
        }

        var victim = WriteId.New(DateTimeOffset.UtcNow);
        var write = Buffer(victim, TimeSpan.FromSeconds(3));
        Assert.True((await Ask(node, write)).IsOk);

        // another agent: the same answer as for an id that does not exist, and the write is untouched
        var foreign = await Refused("mallory", victim.Value);
        var unknown = await Refused("mallory", WriteId.New(DateTimeOffset.UtcNow).Value);
        Assert.Equal("WriteNotFound", foreign.ErrorType);
        Assert.Equal(unknown.ErrorType, foreign.ErrorType);
        Assert.Equal(unknown.Message.Replace(WriteIdOf(unknown), "X", StringComparison.Ordinal), foreign.Message.Replace(victim.Value, "X", StringComparison.Ordinal));
        Assert.Equal("WriteNotFound", (await Refused("mallory", "wr-../../etc")).ErrorType);
        var done = await WaitFor(node, victim, s => s.Status == WriteStatus.Done);
        Assert.Equal(1, provider.CountFor(write.Marker));

        // its own agent cancels it inside the window: never sent; after the window it is not cancellable
        var own = WriteId.New(DateTimeOffset.UtcNow);
        var mine = Buffer(own, TimeSpan.FromSeconds(3));
        Assert.True((await Ask(node, mine)).IsOk);
        var ok = await handler.ExecuteAsync(As("builder"), JsonSerializer.SerializeToElement(new { write_id = own.Value }), CancellationToken.None);
        Assert.Equal("cancelled", ok.Data.GetProperty("status").GetString());
        await Task.Delay(4000);
        Assert.Equal(0, provider.CountFor(mine.Marker));
        Assert.Equal("WriteNotCancellable", (await Refused("builder", victim.Value)).ErrorType);
        Assert.NotNull(done.ProviderReference);
    }

    private static string WriteIdOf(KruxOS.Core.Errors.StructuredError e) => e.ContextString("write_id")!;

    private sealed class Recorder<T> : ReceiveActor
    {
        public Recorder(List<T> into) => Receive<T>(e => { lock (into) into.Add(e); });
    }
}
