using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Calls;

/// <summary>
/// ADR 0058 at the edge: a held call submitted through the dispatcher is never stranded when the session entity holding it
/// goes away. The session region and the session entity are stood in for by probes, so the spec decides exactly what the
/// edge hears: a <c>CallHeld</c>, then the entity's termination with no answer (its node was killed), or an
/// <c>ApprovalReattach</c> answer (the entity was cut off).
/// </summary>
public sealed class HeldCallWaiterSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly AgentName Agent = AgentName.Parse("builder");
    private static readonly ApprovalId Approval = ApprovalId.Parse("appr-00112233aabbccdd");

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private (CallDispatcher Dispatcher, TestProbe Region) Dispatcher()
    {
        var region = CreateTestProbe();
        return (new CallDispatcher(new RegionStandIn<AgentSessionRegion>(region.Ref), new DispatchTimeouts(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), DispatchTimeouts.DefaultDecision), Sys),
            region);
    }

    private static CallSubmission Held(string? key = "kbr-edge-0001") =>
        new(Principal.ForAgent(Agent), Agent, "sess-1", "test__echo", JsonDocument.Parse("""{"text":"hi"}""").RootElement.Clone(), new ClientInfo("spec", "1"),
            CallMode.Held, key);

    private static ToolCallResult Ok(AgentSessionCommands.Invoke invoke) =>
        ToolCallResult.Success(CapabilityName.Parse("test.echo"), invoke.Call.Arguments, Tier.ApprovalRequired, 3);

    private Task<AgentSessionCommands.Invoke> InvokeAsync(TestProbe region) =>
        region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken).AsTask();

    // A held call whose session binds it to Approval and then vanishes without answering: the waiter has re-sent it.
    private async Task<(TestProbe Region, Task<ToolCallResult> Pending, AgentSessionCommands.Invoke Again)> HeldThenCutOffAsync()
    {
        var (dispatcher, region) = Dispatcher();
        var pending = dispatcher.DispatchAsync(Held(), TestContext.Current.CancellationToken);
        var first = await InvokeAsync(region);
        var session = CreateTestProbe();
        first.ReplyTo.Tell(new AgentSessionReplies.CallHeld(Approval, session.Ref));
        Sys.Stop(session.Ref);
        return (region, pending, await InvokeAsync(region));
    }

    [Fact]
    public async Task Should_send_a_reattached_call_again_when_a_session_still_starting_refuses_it_but_never_after_an_audit_refusal()
    {
        // arrange: held, then its session vanishes; the call is re-sent naming its approval
        var (region, pending, again) = await HeldThenCutOffAsync();

        // act: the new session entity's node is still loading (refused before anything ran)
        again.ReplyTo.Tell(ToolCallResult.Failure("test__echo", Errors.ServiceUnavailable("approvals", "the approval queue is still loading after a restart").RetryAfter(0), null, 0));

        // assert: sent once more, naming the approval; the caller has not been answered
        var third = await InvokeAsync(region);
        Assert.Equal(Approval, third.Call.Reattach);
        Assert.False(pending.IsCompleted);

        // act: this time the audit log refuses the outcome (the call may have run)
        third.ReplyTo.Tell(ToolCallResult.Failure("test__echo", Errors.ServiceUnavailable("audit", "the audit log did not confirm the record in time").RetryAfter(0), null, 0));

        // assert: that answer goes to the caller, and nothing is sent again
        var result = await pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
        Assert.Equal("audit", result.Error.Context["service"].GetString());
        await region.ExpectNoMsgAsync(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Should_send_the_call_again_naming_its_approval_when_the_session_holding_it_terminates_without_answering()
    {
        // arrange: the call reaches a session entity, which binds it to an approval
        var (dispatcher, region) = Dispatcher();
        var pending = dispatcher.DispatchAsync(Held(), TestContext.Current.CancellationToken);
        var first = await InvokeAsync(region);
        Assert.True(first.Call.ReportHold);
        Assert.Null(first.Call.Reattach);
        var session = CreateTestProbe();
        first.ReplyTo.Tell(new AgentSessionReplies.CallHeld(Approval, session.Ref));

        // act: the entity vanishes with no answer (its node was killed and downed)
        Sys.Stop(session.Ref);

        // assert: the identical call, same key, naming the approval, goes to wherever the agent's session lives now
        var again = await InvokeAsync(region);
        Assert.Equal(Approval, again.Call.Reattach);
        Assert.Equal(first.Call with { Reattach = Approval }, again.Call);
        Assert.Equal(first.ReplyTo, again.ReplyTo);
        Assert.False(pending.IsCompleted);

        // act: the re-attached call is approved and runs
        again.ReplyTo.Tell(Ok(again));

        // assert: the caller gets the real result
        var result = await pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        Assert.False(result.IsError, result.Error?.Message);
    }

    [Fact]
    public async Task Should_reattach_after_an_ApprovalReattach_answer_and_pass_it_to_the_client_only_after_the_limit()
    {
        // arrange
        var (dispatcher, region) = Dispatcher();
        var pending = dispatcher.DispatchAsync(Held(key: null), TestContext.Current.CancellationToken);
        var invoke = await InvokeAsync(region);

        // act: every incarnation is cut off while the call is held (retry_after 0 keeps the spec quick)
        for (var i = 0; i < HeldCallWaiter.MaxReattaches; i++)
        {
            invoke.ReplyTo.Tell(ToolCallResult.Failure("test.echo", Errors.ApprovalReattach("test.echo", Approval.Value, 0), null, 0));
            invoke = await InvokeAsync(region);
            // assert: each time the same call again, naming the approval
            Assert.Equal(Approval, invoke.Call.Reattach);
        }
        invoke.ReplyTo.Tell(ToolCallResult.Failure("test.echo", Errors.ApprovalReattach("test.echo", Approval.Value, 0), null, 0));

        // assert: then the client hears it (mcp-bridge re-attaches by itself), never a success
        var result = await pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        Assert.Equal(ApprovalReattach.ErrorType, result.Error?.ErrorType);
        Assert.Equal(Approval, ApprovalReattach.Of(result.Error));
        await region.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Should_take_the_first_answer_and_ignore_a_late_one_after_a_reattach()
    {
        // arrange: held, then the session is gone and the call re-attached
        var (region, pending, again) = await HeldThenCutOffAsync();

        // act: the re-attached call is answered; a stale answer follows
        again.ReplyTo.Tell(ToolCallResult.Failure("test.echo", Errors.ApprovalRejected("test.echo", Approval.Value, "no", "ops"), null, 0));
        again.ReplyTo.Tell(Ok(again)); // a late answer to the first send reaches the same waiter

        // assert
        var result = await pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        Assert.Equal("ApprovalRejected", result.Error?.ErrorType);
    }

    [Fact]
    public async Task Should_stop_waiting_and_reattach_nothing_when_the_caller_goes_away()
    {
        // arrange
        var (dispatcher, region) = Dispatcher();
        using var gone = new CancellationTokenSource();
        var pending = dispatcher.DispatchAsync(Held(), gone.Token);
        var first = await InvokeAsync(region);
        var session = CreateTestProbe();
        first.ReplyTo.Tell(new AgentSessionReplies.CallHeld(Approval, session.Ref));
        var watcher = CreateTestProbe();
        watcher.Watch(first.ReplyTo);

        // act
        await gone.CancelAsync();

        // assert: the waiter stops (the run holding the call sees its caller go), and a later loss of the session re-sends nothing
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken));
        await watcher.ExpectTerminatedAsync(first.ReplyTo, TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        Sys.Stop(session.Ref);
        await region.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
    }
}
