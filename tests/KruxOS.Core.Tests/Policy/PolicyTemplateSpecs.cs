using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class PolicyTemplateSpecs
{
    [Fact]
    public void Should_ship_three_templates()
    {
        Assert.Equal(["personal-permissive", "team-moderate", "enterprise-restrictive"], PolicyTemplates.Names);
        Assert.False(PolicyTemplates.TryGet("nope", out _));
        Assert.Throws<KeyNotFoundException>(() => PolicyTemplates.Get("nope"));
    }

    [Theory]
    [InlineData("personal-permissive")]
    [InlineData("team-moderate")]
    [InlineData("enterprise-restrictive")]
    public void Should_compile_each_template_as_org_yaml_with_examples_that_pass(string name)
    {
        var set = Compile(("org.yaml", PolicyTemplates.Get(name)));
        Assert.Equal(name, set.Org!.Name);
        Assert.NotNull(set.Org.DefaultTier);
        Assert.Contains(set.Org.Rules, r => !r.Examples.IsEmpty);
        Assert.Equal(Tier.Blocked, Decide(set, "email.bulk_delete", """{"query":"x"}""").Tier);
    }

    // template, capability, arguments, expected tier
    [Theory]
    [InlineData("personal-permissive", "filesystem.write", """{"path":"/workspace/a","content":"x"}""", Tier.Autonomous)]
    [InlineData("personal-permissive", "filesystem.delete", """{"path":"/workspace/a"}""", Tier.Notify)]
    [InlineData("personal-permissive", "process.run", """{"command":"make"}""", Tier.Autonomous)]
    [InlineData("team-moderate", "filesystem.read", """{"path":"/workspace/a"}""", Tier.Autonomous)]
    [InlineData("team-moderate", "filesystem.write", """{"path":"/workspace/a","content":"x"}""", Tier.Notify)]
    [InlineData("team-moderate", "filesystem.write", """{"path":"/workspace/tmp/a","content":"x"}""", Tier.Autonomous)]
    [InlineData("team-moderate", "filesystem.delete", """{"path":"/workspace/a"}""", Tier.ApprovalRequired)]
    [InlineData("team-moderate", "git.push", """{"path":"/workspace/r"}""", Tier.ApprovalRequired)]
    [InlineData("team-moderate", "state.shared.set", """{"key":"scratch/x","value":{},"expected_version":0}""", Tier.Autonomous)]
    [InlineData("team-moderate", "state.shared.set", """{"key":"cfg","value":{},"expected_version":0}""", Tier.Notify)]
    [InlineData("enterprise-restrictive", "filesystem.read", """{"path":"/workspace/a"}""", Tier.Autonomous)]
    [InlineData("enterprise-restrictive", "filesystem.write", """{"path":"/workspace/a","content":"x"}""", Tier.ApprovalRequired)]
    [InlineData("enterprise-restrictive", "filesystem.write", """{"path":"/workspace/x/y.lock","content":"x"}""", Tier.Blocked)]
    [InlineData("enterprise-restrictive", "process.run", """{"command":"ls"}""", Tier.ApprovalRequired)]
    [InlineData("enterprise-restrictive", "system.time", "{}", Tier.Autonomous)]
    public void Should_give_each_template_its_documented_character(string template, string capability, string args, Tier expected) =>
        Assert.Equal(expected, Decide(Compile(("org.yaml", PolicyTemplates.Get(template))), capability, args).Tier);

    [Fact]
    public void Should_hide_only_blocked_tools_for_an_agent_under_team_moderate()
    {
        var set = Compile(("org.yaml", "extends: team-moderate\n"));
        var visible = Registry.All.Where(c => PolicyEngine.VisibleTier(Bot, c, set) != Tier.Blocked).Select(c => c.Name.Value).ToList();
        Assert.DoesNotContain("email.bulk_delete", visible);
        Assert.Equal(Registry.All.Length - 1, visible.Count);
    }
}
