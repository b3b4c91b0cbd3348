using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class PolicyEngineSpecs
{
    private static string Rule(string capability, string tier) => $"rules:\n  - capability: {capability}\n    tier: {tier}\n";

    // system, org, agent tiers for filesystem.write (null = no file / no rule) → expected tier and deciding file.
    [Theory]
    [InlineData(null, null, null, Tier.Notify, "default:filesystem.write")]
    [InlineData("autonomous", null, null, Tier.Autonomous, "system.yaml:2")]
    [InlineData(null, "blocked", null, Tier.Blocked, "org.yaml:2")]
    [InlineData(null, null, "approval_required", Tier.ApprovalRequired, "agents/bot.yaml:2")]
    [InlineData("notify", "autonomous", "autonomous", Tier.Notify, "system.yaml:2")]
    [InlineData("autonomous", "approval_required", "notify", Tier.ApprovalRequired, "org.yaml:2")]
    [InlineData("autonomous", "notify", "blocked", Tier.Blocked, "agents/bot.yaml:2")]
    [InlineData("notify", "notify", "notify", Tier.Notify, "system.yaml:2")]
    [InlineData(null, "autonomous", "notify", Tier.Notify, "agents/bot.yaml:2")]
    [InlineData(null, "autonomous", null, Tier.Autonomous, "org.yaml:2")]
    [InlineData(null, null, "autonomous", Tier.Autonomous, "agents/bot.yaml:2")]
    public void Should_let_the_most_restrictive_layer_win_and_use_the_definition_default_only_when_nothing_matches(
        string? system, string? org, string? agent, Tier expected, string reference)
    {
        // arrange
        var files = new List<(string, string)>();
        if (system is not null) files.Add(("system.yaml", Rule("filesystem.write", system)));
        if (org is not null) files.Add(("org.yaml", Rule("filesystem.write", org)));
        if (agent is not null) files.Add(("agents/bot.yaml", Rule("filesystem.write", agent)));
        var set = Compile([.. files]);

        // act
        var decision = Decide(set, "filesystem.write", """{"path":"/workspace/a.txt","content":"x"}""");

        // assert
        Assert.Equal(expected, decision.Tier);
        Assert.Equal(reference, decision.RuleReference);
        Assert.Equal(set.Revision, decision.PolicyRevision);
    }

    [Fact]
    public void Should_allow_org_and_agent_files_to_relax_a_definition_default_when_no_system_rule_applies()
    {
        var set = Compile(("org.yaml", Rule("filesystem.delete", "autonomous")));
        Assert.Equal(Tier.Autonomous, Decide(set, "filesystem.delete", """{"path":"/workspace/a"}""").Tier);
    }

    [Fact]
    public void Should_not_let_a_relaxed_default_loosen_a_system_rule()
    {
        var set = Compile(("system.yaml", Rule("filesystem.delete", "approval_required")), ("agents/bot.yaml", Rule("filesystem.delete", "autonomous")));
        var d = Decide(set, "filesystem.delete", """{"path":"/workspace/a"}""");
        Assert.Equal(Tier.ApprovalRequired, d.Tier);
        Assert.Equal("system.yaml:2", d.RuleReference);
    }

    [Fact]
    public void Should_apply_an_agent_file_only_to_that_agent()
    {
        var set = Compile(("agents/bot.yaml", Rule("system.time", "blocked")));
        Assert.Equal(Tier.Blocked, Decide(set, "system.time", principal: Bot).Tier);
        Assert.Equal(Tier.Autonomous, Decide(set, "system.time", principal: Other).Tier);
        Assert.Equal(Tier.Autonomous, Decide(set, "system.time", principal: Operator).Tier);
    }

    [Fact]
    public void Should_apply_the_user_policy_and_org_to_user_token_calls_but_not_agent_files()
    {
        var set = Compile(("user.yaml", Rule("git.push", "notify")), ("org.yaml", Rule("system.time", "notify")),
            ("agents/laptop.yaml", Rule("git.push", "blocked")));
        Assert.Equal(Tier.Notify, Decide(set, "git.push", principal: Operator).Tier);
        Assert.Equal("user.yaml:2", Decide(set, "git.push", principal: Operator).RuleReference);
        Assert.Equal(Tier.Notify, Decide(set, "system.time", principal: Operator).Tier);
        Assert.Equal(Tier.ApprovalRequired, Decide(set, "git.push", principal: Bot).Tier); // user.yaml does not govern agents
    }

    [Fact]
    public void Should_take_the_first_matching_rule_within_a_file()
    {
        var set = Compile(("org.yaml", """
            rules:
              - capability: filesystem.*
                conditions: { path_prefix: /workspace }
                tier: autonomous
              - capability: filesystem.*
                tier: blocked
              - capability: filesystem.read
                tier: notify
            """));
        Assert.Equal(Tier.Autonomous, Decide(set, "filesystem.read", """{"path":"/workspace/x"}""").Tier);
        var outside = Decide(set, "filesystem.read", """{"path":"/home/x"}""");
        Assert.Equal(Tier.Blocked, outside.Tier);
        Assert.Equal("org.yaml:5", outside.RuleReference);
    }

    [Theory]
    [InlineData("filesystem.read", "filesystem.read", true)]
    [InlineData("filesystem.*", "filesystem.read", true)]
    [InlineData("filesystem.*", "filesystems.read", false)]
    [InlineData("state.*", "state.shared.set", true)]
    [InlineData("state.shared.*", "state.shared.set", true)]
    [InlineData("state.shared.*", "state.session.get", false)]
    [InlineData("*", "agent.whoami", true)]
    [InlineData("filesystem.read", "filesystem.write", false)]
    public void Should_match_every_glob_form(string glob, string capability, bool matches)
    {
        var set = Compile(("org.yaml", Rule($"\"{glob}\"", "blocked")));
        Assert.Equal(matches, Decide(set, capability, """{"path":"/workspace/a","key":"k"}""").Tier == Tier.Blocked);
    }

    [Fact]
    public void Should_fall_back_to_scanning_rules_for_capabilities_missing_from_the_registry()
    {
        var set = Compile(("org.yaml", Rule("hash.*", "notify")));
        var d = PolicyEngine.Decide(Bot, Def("hash.sha256", Tier.Autonomous), Args(), set, RateState.Empty, T0).Decision;
        Assert.Equal(Tier.Notify, d.Tier);
    }

    [Fact]
    public void Should_report_the_default_with_a_default_reference_and_trace()
    {
        var set = Compile(("org.yaml", Rule("git.push", "notify")));
        var d = Decide(set, "system.time");
        Assert.True(d.IsDefault);
        Assert.Equal("default:system.time", d.RuleReference);
        Assert.Equal("protections(pass) → system(no file) → org(no override) → agent(no file) → default(autonomous)", d.FormatTrace());
    }

    [Fact]
    public void Should_render_the_hierarchy_trace_with_each_layers_outcome()
    {
        var set = Compile(("system.yaml", Rule("git.push", "notify")), ("org.yaml", Rule("git.push", "approval_required")),
            ("agents/bot.yaml", Rule("system.time", "notify")));
        var d = Decide(set, "git.push", """{"path":"/workspace/repo"}""");
        Assert.Equal("protections(pass) → system(notify system.yaml:2) → org(approval_required org.yaml:2) → agent(no override)", d.FormatTrace());
        Assert.Equal(PolicyLayer.Org, d.DecidingLayer);
    }

    [Fact]
    public void Should_name_the_rule_and_reason_in_the_PolicyDenied_error()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: git.push\n    tier: blocked\n    reason: no pushes on Fridays\n"));
        var d = Decide(set, "git.push", """{"path":"/workspace/r"}""");
        var error = d.ToError(CapabilityName.Parse("git.push"));
        Assert.NotNull(error);
        Assert.Equal("PolicyDenied", error.ErrorType);
        Assert.Equal("org.yaml:2", error.ContextString("rule"));
        Assert.Contains("no pushes on Fridays", error.Message);
    }

    [Fact]
    public void Should_return_no_error_for_tiers_that_run()
    {
        var d = Decide(PolicySet.Empty(Registry), "system.time");
        Assert.Null(d.ToError(CapabilityName.Parse("system.time")));
    }

    [Fact]
    public void Should_block_a_path_that_climbs_above_root_even_when_the_rule_would_allow_it()
    {
        // process.run's working_directory is a plain String input, so only the condition sees the escape.
        var set = Compile(("org.yaml", """
            rules:
              - capability: process.run
                conditions: { argument: working_directory, path_prefix: /workspace }
                tier: autonomous
            """));
        var d = Decide(set, "process.run", """{"command":"ls","working_directory":"/workspace/../../../x"}""");
        Assert.Equal(Tier.Blocked, d.Tier);
        Assert.Equal("system:path_escape", d.RuleReference);
        Assert.Equal(Tier.Autonomous, Decide(set, "process.run", """{"command":"ls","working_directory":"src"}""").Tier);
    }

    [Fact]
    public void Should_be_deterministic_for_the_same_inputs()
    {
        var set = Compile(("org.yaml", PolicyTemplates.Get("team-moderate")));
        var a = Decide(set, "filesystem.write", """{"path":"tmp/x","content":"y"}""");
        var b = Decide(set, "filesystem.write", """{"path":"tmp/x","content":"y"}""");
        Assert.Equal(a, b);
    }

    [Fact]
    public void Should_compute_visible_tiers_for_tool_listing()
    {
        var set = Compile(
            ("org.yaml", """
                rules:
                  - capability: email.bulk_delete
                    tier: blocked
                  - capability: filesystem.write
                    conditions: { path_prefix: /workspace/tmp }
                    tier: autonomous
                  - capability: filesystem.write
                    tier: blocked
                  - capability: git.push
                    conditions: { path_prefix: /workspace/secret }
                    tier: blocked
                """),
            ("agents/bot.yaml", Rule("network.*", "blocked")));
        Assert.Equal(Tier.Blocked, PolicyEngine.VisibleTier(Bot, Cap("email.bulk_delete"), set));
        Assert.Equal(Tier.Autonomous, PolicyEngine.VisibleTier(Bot, Cap("filesystem.write"), set)); // some arguments allow it
        Assert.Equal(Tier.ApprovalRequired, PolicyEngine.VisibleTier(Bot, Cap("git.push"), set)); // blocked only for some paths
        Assert.Equal(Tier.Blocked, PolicyEngine.VisibleTier(Bot, Cap("network.http_request"), set));
        Assert.Equal(Tier.Notify, PolicyEngine.VisibleTier(Other, Cap("network.http_request"), set));
        Assert.Equal(Tier.Blocked, PolicyEngine.VisibleTier(Bot, Def("secrets.read_raw", Tier.Autonomous), set));
        Assert.Equal(Tier.Autonomous, PolicyEngine.VisibleTier(Bot, Cap("system.time"), set));
    }

    [Fact]
    public void Should_report_effective_rules_for_agent_policy()
    {
        var set = Compile(
            ("org.yaml", "name: team\ndefaults: { tier: notify }\nrules:\n  - capability: git.push\n    tier: approval_required\n    reason: r\n"),
            ("agents/bot.yaml", "name: builders\nrules:\n  - capability: process.run\n    tier: notify\n    rate_limit: { max: 5, window: 60 }\n"));
        var p = PolicyEngine.EffectiveRules(Bot, set);
        Assert.Equal("builders", p.PolicyGroup);
        Assert.Equal(Tier.Notify, p.DefaultTier);
        var own = p.Rules.Where(r => r.Layer != PolicyLayer.Protection).ToList();
        Assert.Equal(["git.push", "*", "process.run"], own.Select(r => r.Capability));
        Assert.Equal(5, own[2].RateLimit!.Max);
        Assert.Contains(p.Rules, r => r.RuleReference == "system:deny_dangerous_commands");
        Assert.Equal("team", PolicyEngine.EffectiveRules(Other, set).PolicyGroup);
        Assert.Equal("default", PolicyEngine.EffectiveRules(Other, PolicySet.Empty(Registry)).PolicyGroup);
        Assert.Null(PolicyEngine.EffectiveRules(Other, PolicySet.Empty(Registry)).DefaultTier);
    }
}
