using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>
/// Adversarial: the agent's session entity fails while handling a call (here: a policy seam that throws, standing in
/// for any bug no input check caught). Every caller waiting on the entity is answered at once with InternalError — the
/// failed call through an audited refusal, never a 60 s timeout — while calls already in flight complete normally, the
/// rate-limit windows are intact (a restart must not hand the agent a fresh limit), and the open connections are still
/// known (a revocation after the failure still closes them).
/// </summary>
public sealed class AgentSessionFailureSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithInMemoryJournal().WithInMemorySnapshotStore();

    /// <summary>The policy in force, except that deciding <c>test.declared</c> throws.</summary>
    private sealed class ThrowingPolicy(IPolicySeam inner) : IPolicySeam
    {
        public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now, RateState rateState, out RateState newRateState) =>
            capability.Name.Value == "test.declared"
                ? throw new InvalidOperationException("forced failure inside the session")
                : inner.Decide(principal, capability, arguments, now, rateState, out newRateState);

        public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => inner.VisibleTier(principal, capability);

        public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) => inner.Effective(principal, registry);

        public event Action? Changed { add { } remove { } }
    }

    private IActorRef Sessions()
    {
        var catalog = _caps.Catalog();
        var compiled = PolicyCompiler.Compile(new Dictionary<string, string>
        {
            ["agents/builder.yaml"] = "rules:\n  - capability: test.echo\n    tier: autonomous\n    rate_limit: { max: 2, window: 1h }\n",
        }, catalog.Registry);
        Assert.True(compiled.Succeeded, string.Join("\n", compiled.Errors));
        var deps = Pipeline.Dependencies(catalog, Sys.ActorOf(RecordingAudit.Props(_records)), new ThrowingPolicy(new PolicyStore(catalog.Registry, compiled.Set!)));
        // The single-node entity parent, as in the gateway (restart on failure, at most 10 a minute).
        return Sys.ActorOf(GenericChildPerEntityParent.Props(new AgentSessionMessageExtractor(), id => AgentSessionActor.Props(id, deps)));
    }

    private async Task<ToolCallResult> CallAsync(IActorRef sessions, string name, string args = "{}", string? key = null)
    {
        var caller = CreateTestProbe();
        var call = Pipeline.Call(name, args) with { IdempotencyKey = key };
        sessions.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, call, caller));
        return await caller.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_answer_every_waiting_caller_at_once_and_keep_rate_windows_calls_in_flight_and_connections_when_the_session_fails()
    {
        // arrange: the hour's two echoes used up, a call in flight, a connection open
        var sessions = Sessions();
        Assert.False((await CallAsync(sessions, "test.echo", """{"text":"1"}""")).IsError);
        Assert.False((await CallAsync(sessions, "test.echo", """{"text":"2"}""")).IsError);
        var inFlight = CreateTestProbe();
        sessions.Tell(Pipeline.Invoke("test.gated", inFlight));
        await AwaitConditionAsync(() => Task.FromResult(_caps.Executed.Contains("test.gated")), TestTimeouts.Reply);
        var connection = CreateTestProbe();
        sessions.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-conn", connection, new ClientInfo("spec", "1"), DateTimeOffset.UtcNow));

        // act: two calls whose handling fails inside the entity, one of them with an idempotency key
        var failed = await CallAsync(sessions, "test.declared");
        var failedKeyed = await CallAsync(sessions, "test.declared", key: "key-failure-0001");

        // assert: each failed caller is answered with InternalError (not left to its timeout), and audited
        Assert.Equal("InternalError", failed.Error?.ErrorType);
        Assert.Equal("InternalError", failedKeyed.Error?.ErrorType);
        Assert.Equal(2, _records.Count(e => e.Capability == "test.declared" && e.Metadata.ErrorType == "InternalError"));
        // the keyed failure is recorded: the re-sent key is answered from the record, not run
        Assert.Equal("InternalError", (await CallAsync(sessions, "test.declared", key: "key-failure-0001")).Error?.ErrorType);
        // the rate window survived: the third echo of the hour is still refused
        var third = await CallAsync(sessions, "test.echo", """{"text":"3"}""");
        Assert.Equal("RateLimited", third.Error?.ErrorType);
        // the call in flight was not cut off: it completes normally
        _caps.GateOpen.SetResult();
        var finished = await inFlight.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(finished.IsError, finished.Error?.Message);
        // the connection is still known: a revocation closes it
        sessions.Tell(new AgentSessionCommands.Terminate(Pipeline.Agent, "revoked"), TestActor);
        await connection.ExpectMsgAsync<AgentSessionReplies.Terminated>(TestTimeouts.Reply);
        Sys.Stop(connection);
        Assert.Equal(1, (await ExpectMsgAsync<AgentSessionReplies.TerminateResult>(TestTimeouts.Reply)).ConnectionsClosed);
    }

    [Fact]
    public async Task Should_answer_the_calls_in_flight_at_once_and_keep_rate_windows_and_connections_when_the_session_restarts()
    {
        // arrange: the hour's two echoes used up, two calls in flight (one keyed), a connection open
        var sessions = Sessions();
        Assert.False((await CallAsync(sessions, "test.echo", """{"text":"1"}""")).IsError);
        Assert.False((await CallAsync(sessions, "test.echo", """{"text":"2"}""")).IsError);
        var inFlight = CreateTestProbe();
        sessions.Tell(Pipeline.Invoke("test.gated", inFlight));
        var keyedInFlight = CreateTestProbe();
        sessions.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("test.gated") with { IdempotencyKey = "key-in-flight-01" }, keyedInFlight));
        await AwaitConditionAsync(() => Task.FromResult(_caps.Executed.Count(c => c == "test.gated") == 2), TestTimeouts.Reply);
        var connection = CreateTestProbe();
        sessions.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-conn", connection, new ClientInfo("spec", "1"), DateTimeOffset.UtcNow));
        var entity = await Sys.ActorSelection(sessions.Path / Pipeline.Agent.Value).ResolveOne(TestTimeouts.Reply);

        // act: the entity fails outside its message handling, and its parent restarts it
        entity.Tell(Kill.Instance);

        // assert: both callers in flight are answered at once with InternalError, not left to their timeouts
        Assert.Equal("InternalError", (await inFlight.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).Error?.ErrorType);
        Assert.Equal("InternalError", (await keyedInFlight.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).Error?.ErrorType);
        // the same entity serves on, with its rate window: the third echo of the hour is refused
        Assert.Equal("RateLimited", (await CallAsync(sessions, "test.echo", """{"text":"3"}""")).Error?.ErrorType);
        Assert.Equal(entity, await Sys.ActorSelection(sessions.Path / Pipeline.Agent.Value).ResolveOne(TestTimeouts.Reply));
        // and its connection: a revocation still closes it
        sessions.Tell(new AgentSessionCommands.Terminate(Pipeline.Agent, "revoked"), TestActor);
        await connection.ExpectMsgAsync<AgentSessionReplies.Terminated>(TestTimeouts.Reply);
        Sys.Stop(connection);
        Assert.Equal(1, (await ExpectMsgAsync<AgentSessionReplies.TerminateResult>(TestTimeouts.Reply)).ConnectionsClosed);
    }

    [Fact]
    public async Task Should_answer_callers_still_waiting_when_the_session_stops_for_good()
    {
        // arrange: a call in flight on a session entity created directly (no parent to restart it)
        var catalog = _caps.Catalog();
        var session = Sys.ActorOf(AgentSessionActor.Props("builder", Pipeline.Dependencies(catalog, Sys.ActorOf(RecordingAudit.Props(_records)))));
        var inFlight = CreateTestProbe();
        session.Tell(Pipeline.Invoke("test.gated", inFlight));
        await AwaitConditionAsync(() => Task.FromResult(_caps.Executed.Contains("test.gated")), TestTimeouts.Reply);

        // act: the entity stops (shutdown, or failures beyond the restart limit)
        Sys.Stop(session);

        // assert: the caller hears at once that its call was cut off, instead of waiting for its timeout
        var answer = await inFlight.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("InternalError", answer.Error?.ErrorType);
    }
}
