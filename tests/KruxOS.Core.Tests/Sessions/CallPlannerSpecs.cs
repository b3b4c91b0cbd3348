using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Sessions;

/// <summary>The planning rules of a call, pure: resolve, validate, decide over the session's rate state, approval hash.</summary>
public sealed class CallPlannerSpecs
{
    private static ToolCall Call(string name, string args = "{}") =>
        new(Bot, AgentName.Parse("bot"), "s-1", name, Args(args), ClientInfo.Unknown);

    /// <summary>The real engine over a compiled policy, as the node's policy store decides.</summary>
    private sealed class EngineSeam(PolicySet set) : IPolicySeam
    {
        public int Decisions { get; private set; }

        public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now, RateState rateState,
            out RateState newRateState)
        {
            Decisions++;
            var (decision, rates) = PolicyEngine.Decide(principal, capability, arguments, set, rateState, now);
            newRateState = rates;
            return PolicyVerdict.From(decision, capability.Name);
        }

        public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => PolicyEngine.VisibleTier(principal, capability, set);

        public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) => PolicyEngine.EffectiveRules(principal, set);

        public event Action? Changed { add { } remove { } }
    }

    private static readonly PolicySet Open = Compile(("org.yaml", "rules:\n  - capability: filesystem.read\n    tier: autonomous\n"));

    private static (CallDecision Decision, RateState Rates) Decide(string name, string args = "{}", PolicySet? set = null, RateState? rates = null,
        long invocation = 1, bool loading = false, bool available = true, bool reattached = false, DateTimeOffset? now = null)
    {
        var resolved = CallPlanner.Resolve(Call(name, args), Registry);
        Assert.Null(resolved.Refusal);
        return CallPlanner.Decide(resolved, Bot, new EngineSeam(set ?? Open), rates ?? RateState.Empty, now ?? T0, invocation, loading, available, reattached);
    }

    [Fact]
    public void Should_refuse_an_unknown_name_as_CapabilityNotFound_with_the_arguments_as_sent()
    {
        var r = CallPlanner.Resolve(Call("filesystem.teleport", """{"path":"/a"}"""), Registry);
        Assert.Null(r.Capability);
        Assert.Equal("CapabilityNotFound", r.Refusal!.ErrorType);
        Assert.Equal("/a", r.Arguments.GetProperty("path").GetString());
    }

    [Fact]
    public void Should_refuse_invalid_input_as_InvalidInput_and_keep_the_capability_for_the_record()
    {
        var r = CallPlanner.Resolve(Call("filesystem.read", """{"path":5}"""), Registry);
        Assert.Equal("filesystem.read", r.Capability!.Name.Value);
        Assert.Equal("InvalidInput", r.Refusal!.ErrorType);
    }

    [Fact]
    public void Should_resolve_the_tool_name_form_and_normalize_the_arguments()
    {
        var r = CallPlanner.Resolve(Call("filesystem__read", """{"path":"/w/a"}"""), Registry);
        Assert.Null(r.Refusal);
        Assert.Equal("filesystem.read", r.Capability!.Name.Value);
    }

    [Fact]
    public void Should_record_a_refused_call_under_its_dotted_name_when_the_name_resolves()
    {
        var refusal = KruxOS.Core.Errors.Errors.Internal("no");
        Assert.Equal("filesystem.read", CallPlanner.Refused(Call("filesystem__read"), Registry, refusal).Capability!.Name.Value);
        Assert.Null(CallPlanner.Refused(Call("nothing.here"), Registry, refusal).Capability);
        Assert.Same(refusal, CallPlanner.Refused(Call("nothing.here"), Registry, refusal).Refusal);
    }

    [Fact]
    public void Should_never_decide_a_call_refused_at_the_boundary()
    {
        var refused = CallPlanner.Resolve(Call("filesystem.teleport"), Registry);
        Assert.Throws<ArgumentException>(() =>
            CallPlanner.Decide(refused, Bot, new EngineSeam(Open), RateState.Empty, T0, 1, false, true, false));
    }

    [Fact]
    public void Should_give_the_policy_verdict_of_a_blocked_call_with_no_refusal_and_no_hash()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: filesystem.delete\n    tier: blocked\n"));
        var (d, _) = Decide("filesystem.delete", """{"path":"/w/a"}""", set);
        Assert.Equal(Tier.Blocked, d.Verdict.Tier);
        Assert.Null(d.Refusal);
        Assert.Null(d.ApprovalArgumentsHash);
    }

    [Fact]
    public void Should_carry_a_rate_limit_refusal_in_the_verdict_and_return_the_counted_rate_state()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: process.run\n    tier: notify\n    rate_limit: { max: 1, window: 60 }\n"));
        var (first, rates) = Decide("process.run", """{"command":"ls"}""", set);
        Assert.Null(first.Verdict.Refusal);
        Assert.True(rates.Count > 0);
        var (second, _) = Decide("process.run", """{"command":"ls"}""", set, rates, invocation: 2, now: T0.AddSeconds(1));
        Assert.Equal("RateLimited", second.Verdict.Refusal!.ErrorType);
    }

    [Fact]
    public void Should_prune_passed_windows_exactly_every_256_invocations()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: process.run\n    tier: notify\n    rate_limit: { max: 5, window: 60 }\n"));
        var (_, rates) = Decide("process.run", """{"command":"ls"}""", set);
        // An in-process call that no rule limits leaves the state as it was, unless it is a pruning invocation.
        var later = T0.AddHours(2);
        Assert.Equal(rates.Count, Decide("agent.whoami", set: set, rates: rates, invocation: 255, now: later).Rates.Count);
        Assert.Equal(0, Decide("agent.whoami", set: set, rates: rates, invocation: 256, now: later).Rates.Count);
    }

    [Fact]
    public void Should_refuse_an_approval_while_the_index_is_loading_but_not_a_reattached_call()
    {
        var (loading, _) = Decide("filesystem.delete", """{"path":"/w/a"}""", loading: true);
        Assert.Equal(Tier.ApprovalRequired, loading.Verdict.Tier);
        Assert.Equal("ServiceUnavailable", loading.Refusal!.ErrorType);
        Assert.Null(loading.ApprovalArgumentsHash);

        var (reattached, _) = Decide("filesystem.delete", """{"path":"/w/a"}""", loading: true, reattached: true);
        Assert.Null(reattached.Refusal);
        Assert.NotNull(reattached.ApprovalArgumentsHash);

        // Loading matters only for calls that would be held.
        Assert.Null(Decide("filesystem.read", """{"path":"/w/a"}""", loading: true).Decision.Refusal);
    }

    [Fact]
    public void Should_give_no_hash_without_an_approval_queue_and_a_stable_canonical_hash_with_one()
    {
        Assert.Null(Decide("filesystem.delete", """{"path":"/w/a"}""", available: false).Decision.ApprovalArgumentsHash);
        Assert.Null(Decide("filesystem.read", """{"path":"/w/a"}""").Decision.ApprovalArgumentsHash);

        var a = Decide("filesystem.delete", """{"path":"/w/a"}""").Decision.ApprovalArgumentsHash;
        var b = Decide("filesystem.delete", """{ "path" : "/w/a" }""").Decision.ApprovalArgumentsHash;
        Assert.NotNull(a);
        Assert.Equal(a, b);
        Assert.Equal(ApprovalArguments.Hash(Args("""{"path":"/w/a"}""")), a);
        Assert.NotEqual(a, Decide("filesystem.delete", """{"path":"/w/b"}""").Decision.ApprovalArgumentsHash);
    }
}
