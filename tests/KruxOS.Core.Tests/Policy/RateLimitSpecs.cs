using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class RateLimitSpecs
{
    private static PolicySet Limited(string rateLimit, string tier = "notify") =>
        Compile(("org.yaml", $"rules:\n  - capability: process.run\n    tier: {tier}\n    rate_limit: {rateLimit}\n"));

    private static readonly string Ls = """{"command":"ls"}""";

    private static (Decision Decision, RateState Rates) Call(PolicySet set, RateState rates, DateTimeOffset at, Principal? who = null) =>
        PolicyEngine.Decide(who ?? Bot, Cap("process.run"), Args(Ls), set, rates, at);

    // offsets (seconds after T0) of successive calls → expected outcome of the last one.
    [Theory]
    [InlineData("{ max: 3, window: 60 }", new[] { 0, 1, 2 }, "notify")]
    [InlineData("{ max: 3, window: 60 }", new[] { 0, 1, 2, 3 }, "rate_limited")]
    [InlineData("{ max: 3, window: 60 }", new[] { 0, 1, 2, 60 }, "notify")] // the first call left the window
    [InlineData("{ max: 3, window: 60 }", new[] { 0, 1, 2, 59 }, "rate_limited")]
    [InlineData("{ max: 3, window: 60, on_exceed: approval_required }", new[] { 0, 1, 2, 3 }, "approval_required")]
    [InlineData("{ max_per_hour: 2, escalate_to: blocked }", new[] { 0, 1000, 2000 }, "blocked")]
    [InlineData("{ max_per_hour: 2, escalate_to: blocked }", new[] { 0, 1000, 3600 }, "notify")]
    [InlineData("{ max_per_minute: 1 }", new[] { 0, 30 }, "rate_limited")]
    [InlineData("{ max_per_minute: 1 }", new[] { 0, 61 }, "notify")]
    [InlineData("{ max: 2 }", new[] { 0, 1, 3599 }, "rate_limited")] // window defaults to one hour
    public void Should_count_calls_in_a_sliding_window(string limit, int[] offsets, string expected)
    {
        var set = Limited(limit);
        var rates = RateState.Empty;
        Decision last = null!;
        foreach (var offset in offsets) (last, rates) = Call(set, rates, T0.AddSeconds(offset));
        Assert.Equal(expected, last.IsRateLimited ? "rate_limited" : last.Tier.ToWire());
    }

    [Fact]
    public void Should_fail_with_RateLimited_and_retry_after_when_no_escalation_is_set()
    {
        var set = Limited("{ max: 2, window: 60 }");
        var rates = RateState.Empty;
        (_, rates) = Call(set, rates, T0);
        (_, rates) = Call(set, rates, T0.AddSeconds(10));
        var (refused, after) = Call(set, rates, T0.AddSeconds(25));

        Assert.True(refused.IsRateLimited);
        Assert.Equal(TimeSpan.FromSeconds(35), refused.RetryAfter);
        Assert.Same(rates, after); // a refused call is not counted
        var error = refused.ToError(CapabilityName.Parse("process.run"))!;
        Assert.Equal("RateLimited", error.ErrorType);
        Assert.True(error.Retryable);
        Assert.Equal(35, error.RetryAfterSeconds);
        Assert.Equal("2", error.Context["limit"].GetRawText());
        Assert.Equal("60", error.Context["window_seconds"].GetRawText());
        Assert.Equal("35", error.Context["retry_after_seconds"].GetRawText());
        Assert.Equal("Rate limited: 2 requests per 60s exceeded", error.Message);
    }

    [Fact]
    public void Should_explain_an_escalation_in_the_reason()
    {
        var set = Limited("{ max: 1, window: 60, on_exceed: approval_required }");
        var (_, rates) = Call(set, RateState.Empty, T0);
        var (d, _) = Call(set, rates, T0.AddSeconds(1));
        Assert.Equal(Tier.ApprovalRequired, d.Tier);
        Assert.Contains("escalated to approval_required", d.Reason);
        Assert.Equal(1, d.ExceededLimit!.Max);
        Assert.False(d.IsRateLimited);
        Assert.Equal("org.yaml:2", d.RuleReference);
    }

    [Theory]
    [InlineData("{ max: 1, window: 60, on_exceed: approval_required }", "approval_required", RateLimitEffect.Escalated, null)]
    [InlineData("{ max_per_hour: 1, escalate_to: blocked }", "blocked", RateLimitEffect.Escalated, null)]
    [InlineData("{ max: 1, window: 60 }", "notify", RateLimitEffect.Refused, 59)]
    public void Should_report_the_rate_limit_that_escalated_or_refused_a_call(string limit, string tier, RateLimitEffect effect, int? retryAfter)
    {
        // arrange: the window's only call
        var set = Limited(limit);
        var (first, rates) = Call(set, RateState.Empty, T0);

        // act
        var (d, _) = Call(set, rates, T0.AddSeconds(1));

        // assert: the fact the gateway publishes as rate_limit_hit; the first call hit nothing
        Assert.Null(first.RateLimitHit);
        Assert.Equal(tier, d.Tier.ToWire());
        var hit = Assert.IsType<RateLimitHit>(d.RateLimitHit);
        Assert.Equal("org.yaml:2", hit.Rule);
        Assert.Equal("process.run", hit.CapabilityPattern);
        Assert.Equal(1, hit.Limit.Max);
        Assert.Equal(effect, hit.Effect);
        Assert.Equal(retryAfter is { } s ? TimeSpan.FromSeconds(s) : null, hit.RetryAfter);
        Assert.Equal(effect == RateLimitEffect.Refused, d.IsRateLimited);
    }

    [Fact]
    public void Should_not_report_a_full_limit_whose_rule_does_not_decide()
    {
        // org's limit is full, but the agent's own rule blocks the call anyway
        var set = Compile(("org.yaml", "rules:\n  - capability: process.run\n    tier: notify\n    rate_limit: { max: 1, on_exceed: approval_required }\n"),
            ("agents/bot.yaml", "rules:\n  - capability: process.run\n    conditions: { argument: command, equals: rm }\n    tier: blocked\n"));
        var (_, rates) = Call(set, RateState.Empty, T0);
        var d = PolicyEngine.Decide(Bot, Cap("process.run"), Args("""{"command":"rm"}"""), set, rates, T0.AddSeconds(1)).Decision;
        Assert.Equal(Tier.Blocked, d.Tier);
        Assert.Equal("agents/bot.yaml:2", d.RuleReference);
        Assert.Null(d.RateLimitHit);
    }

    [Theory]
    [InlineData("{ max: 1, window: 3600 }", "1h")]
    [InlineData("{ max: 1, window: 15m }", "15m")]
    [InlineData("{ max: 1, window: 90 }", "90s")]
    [InlineData("{ max: 1, window: 2d }", "2d")]
    [InlineData("{ max_per_minute: 1 }", "1m")]
    public void Should_render_the_window_as_written_in_policy_files(string limit, string text) =>
        Assert.Equal(text, Limited(limit).Org!.Rules[0].RateLimit!.WindowText);

    [Fact]
    public void Should_count_each_principal_separately()
    {
        var set = Limited("{ max: 1, window: 60 }");
        var (_, rates) = Call(set, RateState.Empty, T0, Bot);
        Assert.False(Call(set, rates, T0.AddSeconds(1), Other).Decision.IsRateLimited);
        Assert.True(Call(set, rates, T0.AddSeconds(1), Bot).Decision.IsRateLimited);
    }

    [Fact]
    public void Should_keep_at_most_max_timestamps_per_counter()
    {
        var set = Limited("{ max: 3, window: 60, on_exceed: approval_required }");
        var rates = RateState.Empty;
        for (var i = 0; i < 50; i++) (_, rates) = Call(set, rates, T0.AddSeconds(i));
        var stamps = rates.Timestamps(new RateKey(Bot.ToString(), "org.yaml:2"));
        Assert.Equal(3, stamps.Length);
        Assert.Equal(T0.AddSeconds(49).UtcTicks, stamps[^1]);
        Assert.Equal(1, rates.Count);
    }

    [Fact]
    public void Should_not_count_calls_that_another_layer_blocks()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: process.run\n    tier: notify\n    rate_limit: { max: 1 }\n"),
            ("agents/bot.yaml", "rules:\n  - capability: process.run\n    tier: blocked\n"));
        var (d, rates) = Call(set, RateState.Empty, T0);
        Assert.Equal(Tier.Blocked, d.Tier);
        Assert.Equal(0, rates.Count);
    }

    [Fact]
    public void Should_prune_counters_whose_window_has_passed()
    {
        var set = Limited("{ max: 2, window: 60 }");
        var (_, rates) = Call(set, RateState.Empty, T0);
        Assert.Equal(1, rates.Prune(T0.AddSeconds(59)).Count);
        Assert.Equal(0, rates.Prune(T0.AddSeconds(60)).Count);
    }

    [Fact]
    public void Should_tell_when_the_last_counted_call_leaves_its_window()
    {
        // arrange: a 60 s window and a 1 h window, each with one call
        var set = Compile(("org.yaml",
            "rules:\n  - capability: process.run\n    tier: notify\n    rate_limit: { max: 5, window: 60 }\n"
            + "  - capability: system.time\n    tier: notify\n    rate_limit: { max: 5, window: 1h }\n"));
        var (_, rates) = Call(set, RateState.Empty, T0);
        (_, rates) = PolicyEngine.Decide(Bot, Cap("system.time"), Args(), set, rates, T0.AddSeconds(10));
        (_, rates) = Call(set, rates, T0.AddSeconds(20));

        // assert: the newest live call decides; an empty state has nothing live
        Assert.Equal(T0.AddSeconds(10).AddHours(1), rates.ExpiresAt);
        Assert.Equal(T0.AddSeconds(80), Call(set, RateState.Empty, T0.AddSeconds(20)).Rates.ExpiresAt);
        Assert.Null(RateState.Empty.ExpiresAt);
        Assert.Null(rates.Prune(T0.AddSeconds(10).AddHours(1)).ExpiresAt);
    }

    [Fact]
    public void Should_leave_the_rate_state_unchanged_for_rules_without_limits()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: process.run\n    tier: notify\n"));
        var (_, rates) = Call(set, RateState.Empty, T0);
        Assert.Same(RateState.Empty, rates);
    }

    [Fact]
    public void Should_count_a_template_rule_separately_in_each_file_that_extends_it()
    {
        // team-moderate limits process.run to 120 per hour; org and the agent file both inherit that rule.
        var set = Compile(("org.yaml", "extends: team-moderate\n"), ("agents/bot.yaml", "extends: team-moderate\n"));
        var (_, rates) = Call(set, RateState.Empty, T0);
        Assert.Equal(2, rates.Count);
        var orgRule = set.Org!.Rules.Single(r => r.RateLimit is not null);
        Assert.StartsWith("org.yaml>template:team-moderate:", orgRule.CounterKey);
        Assert.Single(rates.Timestamps(new RateKey(Bot.ToString(), orgRule.CounterKey)));
    }
}
