using System.Text.Json;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Calls;

public sealed class CallSubmissionSpecs
{
    private static readonly AgentName Agent = AgentName.Parse("builder");
    private static readonly JsonElement Args = JsonDocument.Parse("""{"path":"a.txt"}""").RootElement.Clone();

    private static CallSubmission Make(CallMode mode, string? nativeTool = null, StructuredError? refusal = null, JsonElement? args = null) =>
        new(Principal.ForAgent(Agent), Agent, "sess-1", "filesystem.read", args ?? Args, new ClientInfo("spec", "1"), mode,
            IdempotencyKey: "key-1", NativeTool: nativeTool, EdgeRefusal: refusal);

    [Theory]
    [InlineData(CallMode.Held, true, false)]
    [InlineData(CallMode.Poll, false, false)]
    [InlineData(CallMode.DecideOnly, false, true)]
    public void Should_carry_the_mode_into_the_pipelines_call(CallMode mode, bool held, bool decideOnly)
    {
        // act
        var call = Make(mode, mode == CallMode.DecideOnly ? "Read" : null).ToToolCall();
        // assert
        Assert.Equal(held, call.HoldForApproval);
        Assert.Equal(decideOnly, call.DecideOnly);
        Assert.Equal(decideOnly ? "Read" : null, call.NativeTool);
        Assert.Equal(new ToolCall(Principal.ForAgent(Agent), Agent, "sess-1", "filesystem.read", Args, new ClientInfo("spec", "1"), "key-1", held,
            decideOnly ? "Read" : null), call);
    }

    [Fact]
    public void Should_refuse_a_decide_only_submission_without_a_native_tool()
    {
        // a decide-only call without its native tool would be executed by the gateway instead of the client
        Assert.Throws<ArgumentException>(() => Make(CallMode.DecideOnly));
        Assert.Throws<ArgumentException>(() => Make(CallMode.DecideOnly, ""));
    }

    [Theory]
    [InlineData(CallMode.Held)]
    [InlineData(CallMode.Poll)]
    public void Should_refuse_a_native_tool_on_a_call_that_executes(CallMode mode)
    {
        // a native tool would silently turn an executing call into a decision
        Assert.Throws<ArgumentException>(() => Make(mode, "Bash"));
    }

    [Fact]
    public void Should_refuse_an_undefined_mode()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Make((CallMode)7));
    }

    [Fact]
    public void Should_keep_the_submitters_refusal_and_refuse_malformed_text_otherwise()
    {
        // arrange
        var malformed = JsonDocument.Parse("""{"path":"a\ud800"}""").RootElement.Clone();
        var expired = StructuredError.Create("SessionExpired", "gone");
        // act
        var refused = Make(CallMode.Poll, args: malformed).ToToolCall();
        var kept = Make(CallMode.Poll, refusal: expired, args: malformed).ToToolCall();
        // assert
        Assert.Equal("InvalidInput", refused.EdgeRefusal?.ErrorType);
        Assert.Equal("path", refused.EdgeRefusal?.ContextString("field"));
        Assert.Same(expired, kept.EdgeRefusal);
        Assert.Null(ArgumentText.Find(kept.Arguments));
    }
}

public sealed class DispatchTimeoutsSpecs
{
    private static readonly DispatchTimeouts Gateway = new(TimeSpan.FromSeconds(60), TimeSpan.FromHours(24), DispatchTimeouts.DefaultDecision);

    [Fact]
    public void Should_wait_for_the_hold_plus_the_call_when_held() =>
        Assert.Equal(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(60), Gateway.For(CallMode.Held));

    [Fact]
    public void Should_wait_for_the_call_when_polling() => Assert.Equal(TimeSpan.FromSeconds(60), Gateway.For(CallMode.Poll));

    [Fact]
    public void Should_wait_for_the_shorter_of_the_call_and_the_decision_budget_when_deciding_only()
    {
        Assert.Equal(TimeSpan.FromSeconds(8), Gateway.For(CallMode.DecideOnly));
        Assert.Equal(TimeSpan.FromSeconds(3), new DispatchTimeouts(TimeSpan.FromSeconds(3), TimeSpan.FromHours(24), DispatchTimeouts.DefaultDecision).For(CallMode.DecideOnly));
    }

    [Fact]
    public void Should_derive_a_nodes_policy_from_the_run_deadline_and_the_hold()
    {
        // arrange
        var settings = new KruxOsSettings { ToolCallTimeout = TimeSpan.FromSeconds(30), ApprovalHoldTimeout = TimeSpan.FromMinutes(5) };
        // act
        var timeouts = DispatchTimeouts.From(settings);
        // assert
        Assert.Equal(new DispatchTimeouts(TimeSpan.FromSeconds(45), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(8)), timeouts);
    }

    [Theory]
    [InlineData(0, 1, 1)]
    [InlineData(1, 0, 1)]
    [InlineData(1, 1, -1)]
    public void Should_refuse_a_timeout_that_is_not_positive(int call, int hold, int decision) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DispatchTimeouts(TimeSpan.FromSeconds(call), TimeSpan.FromSeconds(hold), TimeSpan.FromSeconds(decision)));
}
