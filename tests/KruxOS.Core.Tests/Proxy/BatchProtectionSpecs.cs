using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;
using KruxOS.Core.Proxy;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Core.Tests.Proxy;

/// <summary>Batch protection escalates the write beyond its threshold to approval, in the decide stage.</summary>
public sealed class BatchProtectionSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly Principal Alice = Principal.ForAgent(AgentName.Parse("alice"));
    private static readonly CapabilityName Send = CapabilityName.Parse("email.send");
    private static readonly CapabilityName Delete = CapabilityName.Parse("email.delete");
    private static readonly CapabilityName Slack = CapabilityName.Parse("slack.send");
    private static readonly CapabilityName Reply = CapabilityName.Parse("slack.reply");
    private static readonly CapabilityName Bulk = CapabilityName.Parse("email.bulk_delete");
    private static readonly JsonElement NoArgs = JsonDocument.Parse("{}").RootElement;

    private static readonly BatchRules Rules = new([
        new AdapterDescriptor(ServiceName.Parse("gmail"), "Gmail", ["email"], TimeSpan.FromMinutes(5), [
            WriteOperationSpec.Buffered("email.send", TimeSpan.FromMinutes(5), null, BatchLimit.PerHour(20, "email.send")),
            WriteOperationSpec.Buffered("email.delete", TimeSpan.FromHours(24), new RollbackSpec("untrash", TimeSpan.FromHours(72)), BatchLimit.PerSession(5, "email.delete")),
            WriteOperationSpec.Buffered("email.bulk_delete", TimeSpan.FromHours(24), null, BatchLimit.PerSession(0, "email.bulk_delete")),
            WriteOperationSpec.Immediate("email.draft"),
        ]),
        new AdapterDescriptor(ServiceName.Parse("slack"), "Slack", ["slack"], TimeSpan.FromSeconds(60), [
            WriteOperationSpec.Buffered("slack.send", TimeSpan.FromSeconds(30), null, BatchLimit.PerHour(10, "slack.messages", "channel")),
            WriteOperationSpec.Buffered("slack.reply", TimeSpan.FromSeconds(30), null, BatchLimit.PerHour(10, "slack.messages", "channel")),
        ]),
    ]);

    private static PolicyVerdict Notify => new(Tier.Notify, "default:email.send", "definition tier", "r1");

    private static JsonElement Channel(string c) => JsonDocument.Parse($$"""{"channel":"{{c}}","text":"hi"}""").RootElement;

    [Fact]
    public void Should_hold_the_21st_send_of_an_hour_for_approval()
    {
        var rates = RateState.Empty;
        for (var i = 0; i < 20; i++)
        {
            (var verdict, rates, var check) = Rules.Apply(Notify, Alice, Send, NoArgs, "s1", rates, T0.AddMinutes(i));
            Assert.Equal(Tier.Notify, verdict.Tier);
            Assert.False(check!.Escalated);
        }
        var (held, _, hit) = Rules.Apply(Notify, Alice, Send, NoArgs, "s1", rates, T0.AddMinutes(30));
        Assert.Equal(Tier.ApprovalRequired, held.Tier);
        Assert.Equal("proxy:batch_protection:email.send", held.Rule);
        Assert.Equal(21, hit!.Count);
        Assert.Equal(20, hit.Threshold);
        Assert.Contains("21 email.send writes exceeds threshold (20)", held.Reason, StringComparison.Ordinal);
        var error = hit.ToError();
        Assert.Equal("proxy.batch_protection", error.ErrorType);
        Assert.Equal("request_approval", error.Recovery[0].Action);
        // An hour after the first send, the window has room again.
        var (later, _, _) = Rules.Apply(Notify, Alice, Send, NoArgs, "s1", rates, T0.AddMinutes(60).AddSeconds(1));
        Assert.Equal(Tier.Notify, later.Tier);
    }

    [Fact]
    public void Should_count_deletes_per_session()
    {
        var rates = RateState.Empty;
        for (var i = 0; i < 5; i++) (_, rates, _) = Rules.Apply(Notify, Alice, Delete, NoArgs, "s1", rates, T0);
        Assert.Equal(Tier.ApprovalRequired, Rules.Apply(Notify, Alice, Delete, NoArgs, "s1", rates, T0.AddHours(5)).Verdict.Tier);
        Assert.Equal(Tier.Notify, Rules.Apply(Notify, Alice, Delete, NoArgs, "s2", rates, T0.AddHours(5)).Verdict.Tier);
    }

    [Fact]
    public void Should_count_slack_messages_per_channel_across_send_and_reply()
    {
        var rates = RateState.Empty;
        for (var i = 0; i < 5; i++) (_, rates, _) = Rules.Apply(Notify, Alice, Slack, Channel("C1"), "s1", rates, T0);
        for (var i = 0; i < 5; i++) (_, rates, _) = Rules.Apply(Notify, Alice, Reply, Channel("C1"), "s1", rates, T0);
        Assert.Equal(Tier.ApprovalRequired, Rules.Apply(Notify, Alice, Slack, Channel("C1"), "s1", rates, T0).Verdict.Tier);
        Assert.Equal(Tier.Notify, Rules.Apply(Notify, Alice, Slack, Channel("C2"), "s1", rates, T0).Verdict.Tier);
    }

    [Fact]
    public void Should_count_per_agent()
    {
        var rates = RateState.Empty;
        for (var i = 0; i < 20; i++) (_, rates, _) = Rules.Apply(Notify, Alice, Send, NoArgs, "s1", rates, T0);
        var bob = Principal.ForAgent(AgentName.Parse("bob"));
        Assert.Equal(Tier.Notify, Rules.Apply(Notify, bob, Send, NoArgs, "s9", rates, T0).Verdict.Tier);
    }

    [Fact]
    public void Should_escalate_every_bulk_delete_and_leave_operations_without_a_limit_alone()
    {
        Assert.Equal(Tier.ApprovalRequired, Rules.Apply(Notify, Alice, Bulk, NoArgs, "s1", RateState.Empty, T0).Verdict.Tier);
        var draft = Rules.Apply(Notify, Alice, CapabilityName.Parse("email.draft"), NoArgs, "s1", RateState.Empty, T0);
        Assert.Null(draft.Check);
        Assert.Same(RateState.Empty, draft.Rates);
    }

    [Fact]
    public void Should_neither_count_nor_change_blocked_or_refused_calls()
    {
        var blocked = new PolicyVerdict(Tier.Blocked, "system.yaml:3", "no", "r1");
        var (v, rates, check) = Rules.Apply(blocked, Alice, Send, NoArgs, "s1", RateState.Empty, T0);
        Assert.Same(blocked, v);
        Assert.Null(check);
        Assert.Same(RateState.Empty, rates);
        var refused = Notify with { Refusal = KruxOS.Core.Errors.Errors.RateLimited(1, 60, 30) };
        Assert.Same(refused, Rules.Apply(refused, Alice, Send, NoArgs, "s1", RateState.Empty, T0).Verdict);
    }

    [Fact]
    public void Should_refuse_with_batch_protection_in_the_planner_when_no_approval_can_hold_the_call()
    {
        var definition = new CapabilityDefinition(Send, "1.0", "Send mail", "Use it", [], [], [], Tier.Notify, [], ExecutionMode.InProcess);
        var call = new ResolvedCall(definition, NoArgs, null);
        var seam = new FixedSeam(Notify);
        var rates = RateState.Empty;
        for (var i = 0; i < 20; i++)
            (_, rates) = CallPlanner.Decide(call, Alice, seam, rates, T0, i + 1, false, approvalsAvailable: false, false, Rules, "s1");
        var (decision, _) = CallPlanner.Decide(call, Alice, seam, rates, T0, 21, false, approvalsAvailable: false, false, Rules, "s1");
        Assert.Equal("proxy.batch_protection", decision.Verdict.Refusal!.ErrorType);
        var (held, _) = CallPlanner.Decide(call, Alice, seam, rates, T0, 22, false, approvalsAvailable: true, false, Rules, "s1");
        Assert.Null(held.Verdict.Refusal);
        Assert.Equal(Tier.ApprovalRequired, held.Verdict.Tier);
        Assert.NotNull(held.ApprovalArgumentsHash);
    }

    private sealed class FixedSeam(PolicyVerdict verdict) : IPolicySeam
    {
        public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now, RateState rateState,
            out RateState newRateState)
        {
            newRateState = rateState;
            return verdict;
        }

        public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => capability.DefaultTier;

        public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) => throw new InvalidOperationException("not used");

        public event Action? Changed { add { } remove { } }
    }
}
