using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.Tests.Audit;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Audit;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>
/// Rate limits at the session entity. The entity owns its agent's rate-limit counters, so it must not passivate
/// while a counted call is still inside its window: an agent that calls only now and then (/rpc holds no
/// connection) would otherwise get a fresh limit after every idle timeout. A limit that escalates or refuses a
/// call is reported as a <c>rate_limit_hit</c> supervision event.
/// </summary>
public sealed class AgentSessionRateLimitSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(200);

    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();
    private readonly ManualClock _clock = new(T0);

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    // The single-node entity parent (as in the gateway), with a short idle timeout and a clock the spec moves.
    private IActorRef Sessions(string agentPolicy)
    {
        var catalog = _caps.Catalog();
        var compiled = PolicyCompiler.Compile(new Dictionary<string, string> { ["agents/builder.yaml"] = agentPolicy }, catalog.Registry);
        Assert.True(compiled.Succeeded, string.Join("\n", compiled.Errors));
        var deps = Pipeline.Dependencies(catalog, Sys.ActorOf(RecordingAudit.Props(_records)), new PolicyStore(catalog.Registry, compiled.Set!))
            with { IdleTimeout = Idle, Clock = _clock };
        return Sys.ActorOf(GenericChildPerEntityParent.Props(new AgentSessionMessageExtractor(), id => AgentSessionActor.Props(id, deps)));
    }

    private async Task<ToolCallResult> EchoAsync(IActorRef sessions)
    {
        sessions.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"x"}"""));
        return await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
    }

    private async Task<TestKitProbe> WatchEntityAsync(IActorRef sessions)
    {
        var entity = await Sys.ActorSelection(sessions.Path / Pipeline.Agent.Value).ResolveOne(TestTimeouts.Reply);
        var watcher = CreateTestProbe();
        await watcher.WatchAsync(entity);
        return new TestKitProbe(watcher, entity);
    }

    private sealed record TestKitProbe(Akka.TestKit.TestProbe Watcher, IActorRef Entity);

    [Fact]
    public async Task Should_keep_a_rate_window_across_idle_timeouts_and_passivate_once_it_has_ended()
    {
        // arrange: one call per hour, and the hour's only call made
        var sessions = Sessions("rules:\n  - capability: test.echo\n    tier: autonomous\n    rate_limit: { max: 1, window: 1h }\n");
        Assert.False((await EchoAsync(sessions)).IsError);
        var probe = await WatchEntityAsync(sessions);

        // act: idle for several idle timeouts, with no connection open
        await probe.Watcher.ExpectNoMsgAsync(Idle * 5);
        var second = await EchoAsync(sessions);

        // assert: the entity stayed, so the limit still holds
        Assert.Equal("RateLimited", second.Error?.ErrorType);
        Assert.Equal(3600, second.Error!.RetryAfterSeconds);

        // act: the hour passes
        _clock.Now = T0.AddHours(1).AddSeconds(1);

        // assert: with no live window left, the idle entity passivates, and a fresh one admits the next call
        await probe.Watcher.ExpectTerminatedAsync(probe.Entity, TestTimeouts.Reply);
        Assert.False((await EchoAsync(sessions)).IsError);
    }

    [Fact]
    public async Task Should_passivate_after_the_idle_timeout_when_no_rate_window_is_live()
    {
        // arrange: a rule without a rate limit
        var sessions = Sessions("rules:\n  - capability: test.echo\n    tier: autonomous\n");
        Assert.False((await EchoAsync(sessions)).IsError);
        var probe = await WatchEntityAsync(sessions);

        // act + assert
        await probe.Watcher.ExpectTerminatedAsync(probe.Entity, TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_publish_rate_limit_hit_when_a_limit_refuses_a_call()
    {
        // arrange
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(SupervisionEvent));
        var sessions = Sessions("rules:\n  - capability: test.echo\n    tier: autonomous\n    rate_limit: { max: 1, window: 1h }\n");
        Assert.False((await EchoAsync(sessions)).IsError);

        // act
        _clock.Now = T0.AddMinutes(10);
        var refused = await EchoAsync(sessions);

        // assert: one event, for the refused call only
        Assert.Equal("RateLimited", refused.Error?.ErrorType);
        var hit = (SupervisionEvent)await events.FishForMessageAsync(m => m is SupervisionEvent { Type: SupervisionEventTypes.RateLimitHit }, TestTimeouts.Reply);
        Assert.Equal(Pipeline.Agent.Value, hit.Agent);
        Assert.Equal("test.echo", hit.Data.GetProperty("capability").GetString());
        Assert.Equal("test.echo", hit.Data.GetProperty("capability_pattern").GetString());
        Assert.Equal("agents/builder.yaml:2", hit.Data.GetProperty("rule").GetString());
        Assert.Equal(1, hit.Data.GetProperty("limit").GetInt32());
        Assert.Equal("1h", hit.Data.GetProperty("window").GetString());
        Assert.Equal("limited", hit.Data.GetProperty("action").GetString());
        Assert.Equal(3000, hit.Data.GetProperty("retry_after_seconds").GetInt64());
        await events.FishForMessageAsync(m => m is SupervisionEvent { Type: SupervisionEventTypes.CapabilityError }, TestTimeouts.Reply);
        await ExpectNoRateLimitHitAsync(events);
    }

    [Fact]
    public async Task Should_publish_rate_limit_hit_when_a_limit_escalates_a_call()
    {
        // arrange
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(SupervisionEvent));
        var sessions = Sessions("rules:\n  - capability: test.echo\n    tier: autonomous\n    rate_limit: { max: 1, window: 15m, on_exceed: blocked }\n");
        Assert.False((await EchoAsync(sessions)).IsError);
        await ExpectNoRateLimitHitAsync(events);

        // act
        var escalated = await EchoAsync(sessions);

        // assert
        Assert.Equal("PolicyDenied", escalated.Error?.ErrorType);
        var hit = (SupervisionEvent)await events.FishForMessageAsync(m => m is SupervisionEvent { Type: SupervisionEventTypes.RateLimitHit }, TestTimeouts.Reply);
        Assert.Equal("escalated", hit.Data.GetProperty("action").GetString());
        Assert.Equal("blocked", hit.Data.GetProperty("escalated_to").GetString());
        Assert.Equal("15m", hit.Data.GetProperty("window").GetString());
        Assert.Equal(900, hit.Data.GetProperty("window_seconds").GetInt64());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, hit.Data.GetProperty("retry_after_seconds").ValueKind);
    }

    private static async Task ExpectNoRateLimitHitAsync(Akka.TestKit.TestProbe events)
    {
        // Drain what the calls so far published; none may be a rate_limit_hit.
        while (await events.ReceiveOneAsync(TimeSpan.FromMilliseconds(300)) is SupervisionEvent e)
            Assert.NotEqual(SupervisionEventTypes.RateLimitHit, e.Type);
    }
}
