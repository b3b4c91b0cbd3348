using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Calls;

/// <summary>
/// The one entry point of the pipeline: what reaches the session region, how long a submitter waits per mode, and
/// that a submitter which stops waiting reports a timeout, never a success.
/// </summary>
public sealed class CallDispatcherSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly AgentName Agent = AgentName.Parse("builder");

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private static readonly DispatchTimeouts Short = new(Call: TimeSpan.FromMilliseconds(300), ApprovalHold: TimeSpan.FromMilliseconds(400),
        Decision: TimeSpan.FromMilliseconds(200));

    private (CallDispatcher Dispatcher, TestProbe Region) Dispatcher(DispatchTimeouts? timeouts = null)
    {
        var region = CreateTestProbe();
        return (new CallDispatcher(new RegionStandIn<AgentSessionRegion>(region.Ref), timeouts ?? new DispatchTimeouts(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60),
            DispatchTimeouts.DefaultDecision)), region);
    }

    private static CallSubmission Submission(CallMode mode, string arguments = """{"text":"hi"}""", string? key = null) =>
        new(Principal.ForAgent(Agent), Agent, "sess-1", "test__echo", JsonDocument.Parse(arguments).RootElement.Clone(), new ClientInfo("spec", "1"), mode,
            IdempotencyKey: key, NativeTool: mode == CallMode.DecideOnly ? "Bash" : null);

    [Theory]
    [InlineData(CallMode.Held)]
    [InlineData(CallMode.Poll)]
    [InlineData(CallMode.DecideOnly)]
    public async Task Should_send_the_call_straight_to_the_session_region_and_return_its_answer(CallMode mode)
    {
        // arrange
        var (dispatcher, region) = Dispatcher();
        var submission = Submission(mode, key: "k-1");
        // act
        var pending = dispatcher.DispatchAsync(submission, TestContext.Current.CancellationToken);
        var invoke = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        var answer = ToolCallResult.Success(CapabilityName.Parse("test.echo"), invoke.Call.Arguments, Tier.Autonomous, 7);
        invoke.ReplyTo.Tell(answer);
        var result = await pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        // assert
        Assert.Same(answer, result);
        Assert.Equal(Agent, invoke.Agent);
        Assert.Equal(submission.ToToolCall(), invoke.Call);
        Assert.Equal(mode == CallMode.Held, invoke.Call.HoldForApproval);
        Assert.Equal(mode == CallMode.DecideOnly, invoke.Call.DecideOnly);
        Assert.Equal("k-1", invoke.Call.IdempotencyKey);
    }

    [Theory]
    [InlineData(CallMode.Held)]
    [InlineData(CallMode.Poll)]
    [InlineData(CallMode.DecideOnly)]
    public async Task Should_fail_closed_with_a_timeout_of_the_modes_budget_when_the_session_never_answers(CallMode mode)
    {
        // arrange: a region that takes the call and never answers (a lost node, a stuck entity)
        var (dispatcher, region) = Dispatcher(Short);
        // act
        var result = await dispatcher.DispatchAsync(Submission(mode), TestContext.Current.CancellationToken).WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        // assert: the fate is unknown, so the submitter reports a timeout (retryable), never data or a tier
        await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(result.IsError);
        Assert.Null(result.Data);
        Assert.Null(result.Tier);
        Assert.Equal("test__echo", result.Capability);
        Assert.Equal("Timeout", result.Error!.ErrorType);
        Assert.True(result.Error.Retryable);
        Assert.Equal(Short.For(mode).TotalSeconds, result.Error.Context["timeout_seconds"].GetDouble());
        Assert.Equal("test__echo", result.Error.ContextString("operation"));
    }

    [Fact]
    public async Task Should_not_let_a_late_answer_turn_a_reported_timeout_into_a_success()
    {
        // arrange
        var (dispatcher, region) = Dispatcher(Short);
        // act: the session answers success only after the submitter stopped waiting
        var result = await dispatcher.DispatchAsync(Submission(CallMode.Poll), TestContext.Current.CancellationToken).WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken);
        var invoke = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        invoke.ReplyTo.Tell(ToolCallResult.Success(CapabilityName.Parse("test.echo"), invoke.Call.Arguments, Tier.Autonomous, 1));
        // assert
        Assert.Equal("Timeout", result.Error?.ErrorType);
    }

    [Fact]
    public async Task Should_propagate_cancellation_when_the_caller_goes_away()
    {
        // arrange
        var (dispatcher, region) = Dispatcher();
        using var gone = new CancellationTokenSource();
        // act
        var pending = dispatcher.DispatchAsync(Submission(CallMode.Held), gone.Token);
        await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        await gone.CancelAsync();
        // assert: not answered as a result of any kind; the edge drops the request as before
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(TestTimeouts.Reply, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Should_tell_the_session_to_answer_the_given_actor_when_an_actor_submits()
    {
        // arrange
        var (dispatcher, region) = Dispatcher(Short);
        var scheduler = CreateTestProbe();
        var submission = Submission(CallMode.Held);
        // act
        dispatcher.Dispatch(submission, scheduler.Ref);
        // assert
        var invoke = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(scheduler.Ref, invoke.ReplyTo);
        Assert.Equal(submission.ToToolCall(), invoke.Call);
        Assert.Equal(Short.For(CallMode.Held), dispatcher.TimeoutFor(CallMode.Held));
    }

    [Fact]
    public async Task Should_refuse_malformed_argument_text_for_every_submitter()
    {
        // arrange: a lone surrogate in an argument (valid JSON, not text) from a submitter that did not check it
        var (dispatcher, region) = Dispatcher();
        // act
        dispatcher.Dispatch(Submission(CallMode.Held, """{"text":"a\ud800"}"""), TestActor);
        // assert: the session receives the call repaired and refused before any decision
        var invoke = await region.ExpectMsgAsync<AgentSessionCommands.Invoke>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("InvalidInput", invoke.Call.EdgeRefusal?.ErrorType);
        Assert.Null(ArgumentText.Find(invoke.Call.Arguments));
    }
}
