using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>
/// A tool run that throws inside the actor (not a handler failure it reports, but the run itself crashing) is
/// stopped by its session, never restarted — a restart would run the call's side effects again — and its caller
/// is still answered exactly once.
/// </summary>
public sealed class ToolRunSupervisionSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly CapabilityDefinition Crash = TestCapabilities.Def("test.crash", Tier.Autonomous);

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    [Fact]
    public async Task Should_stop_a_crashing_run_without_restarting_it_and_answer_its_caller()
    {
        // arrange: a handler whose MaxDuration throws, which the run calls on its own thread as it starts executing
        var crashing = new CrashingHandler();
        var catalog = new CapabilityCatalog([TestCapabilities.Echo, Crash],
            [crashing, new EchoHandler()]);
        var records = new ConcurrentQueue<AuditEntry>();
        var session = Sys.ActorOf(AgentSessionActor.Props("builder", Pipeline.Dependencies(catalog, Sys.ActorOf(RecordingAudit.Props(records)))));

        // act
        session.Tell(Pipeline.Invoke("test.crash", TestActor));

        // assert: the caller gets an internal error (no detail), once
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("InternalError", result.Error!.ErrorType);
        Assert.DoesNotContain("boom inside the run", result.Error.Message);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500));
        // never restarted: a restart would have started the run (and its side effects) again
        Assert.Equal(1, crashing.Starts);
        Assert.Empty(crashing.Executed);
        // the session no longer counts it in flight, and serves the next call
        session.Tell(new AgentSessionCommands.GetInfo(Pipeline.Agent));
        Assert.Equal(0, (await ExpectMsgAsync<AgentSessionReplies.SessionInfo>(TestTimeouts.Reply)).InFlight);
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"after"}"""));
        Assert.Equal("after", (await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).Data!.Value.GetProperty("text").GetString());
    }

    private sealed class CrashingHandler : ICapabilityHandler
    {
        private int _starts;

        public CapabilityName Name => Crash.Name;

        public int Starts => Volatile.Read(ref _starts);

        public ConcurrentQueue<string> Executed { get; } = new();

        public TimeSpan MaxDuration(JsonElement arguments)
        {
            Interlocked.Increment(ref _starts);
            throw new InvalidOperationException("boom inside the run");
        }

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
        {
            Executed.Enqueue("ran");
            return ValueTask.FromResult<CapabilityOutput>(CoreJson.EmptyObject);
        }
    }

    private sealed class EchoHandler : ICapabilityHandler
    {
        public CapabilityName Name => TestCapabilities.Echo.Name;

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
            ValueTask.FromResult<CapabilityOutput>(arguments);
    }
}
