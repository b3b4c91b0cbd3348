using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Scheduling;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Scheduling;
using KruxOS.Core.Sessions;
using KruxOS.Core.State;
using Xunit;

namespace KruxOS.Actors.Tests.Scheduling;

/// <summary>
/// The scheduler's per-run waiter against a stand-in session region: a node still starting refuses a run before it runs
/// (after a restart the scheduler re-sends the runs it had in flight at once, while approvals, identities or pauses still
/// load) — that refusal is not the run's outcome; the audit log's refusal is.
/// </summary>
public sealed class RunWaiterSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly AgentName Agent = AgentName.Parse("scheduled");
    private static readonly CapabilityName Capability = CapabilityName.Parse("system.time");

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private (TestProbe Parent, TestProbe Region) Start(string runId)
    {
        var region = CreateTestProbe();
        var parent = CreateTestProbe();
        var dispatcher = new CallDispatcher(new RegionStandIn<AgentSessionRegion>(region.Ref),
            new DispatchTimeouts(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), DispatchTimeouts.DefaultDecision));
        var run = new ScheduledRun("job-1", runId, Agent, Capability, StoredJson.EmptyObject, DateTimeOffset.UnixEpoch, "delay");
        var submission = new CallSubmission(Principal.ForAgent(Agent), Agent, "sess-1", "system__time", JsonDocument.Parse("{}").RootElement.Clone(),
            new ClientInfo("kruxos-scheduler", "1"), CallMode.Held, IdempotencyKey: runId);
        parent.ChildActorOf(RunWaiter.Props(run, submission, dispatcher, clustered: false));
        return (parent, region);
    }

    private static ToolCallResult Refused(StructuredError error) => ToolCallResult.Failure("system.time", error, null, 0);

    [Fact]
    public async Task Should_send_a_run_again_that_a_node_still_starting_refused_and_report_only_the_real_outcome()
    {
        // arrange
        var ct = TestContext.Current.CancellationToken;
        var (parent, region) = Start("run-starting");
        var first = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: ct);

        // act: the approval queue is still loading after a restart; then the same run (same key) is answered
        first.ReplyTo.Tell(Refused(Errors.ServiceUnavailable("approvals", "the approval queue is still loading after a restart; retry shortly").RetryAfter(1)));
        var second = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TimeSpan.FromSeconds(10), cancellationToken: ct);
        var answer = ToolCallResult.Success(Capability, JsonDocument.Parse("""{"utc":"now"}""").RootElement.Clone(), Tier.Autonomous, 3);
        second.ReplyTo.Tell(answer);

        // assert: one outcome, the real one, and the copy carried the run's key
        var outcome = await parent.ExpectMsgAsync<RunOutcome>(TestTimeouts.Reply, cancellationToken: ct);
        Assert.Equal(answer, outcome.Result);
        Assert.Equal("run-starting", second.Call.IdempotencyKey);
        await parent.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300), ct);
    }

    [Fact]
    public async Task Should_take_the_audit_logs_refusal_as_the_outcome_and_never_send_that_run_again()
    {
        // arrange
        var ct = TestContext.Current.CancellationToken;
        var (parent, region) = Start("run-unaudited");
        var first = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: ct);

        // act: a call whose outcome could not be audited may have run
        var refusal = Refused(Errors.ServiceUnavailable("audit", "the audit log did not confirm the record in time").RetryAfter(1));
        first.ReplyTo.Tell(refusal);

        // assert
        Assert.Equal(refusal, (await parent.ExpectMsgAsync<RunOutcome>(TestTimeouts.Reply, cancellationToken: ct)).Result);
        await region.ExpectNoMsgAsync(TimeSpan.FromSeconds(2), ct);
    }
}
