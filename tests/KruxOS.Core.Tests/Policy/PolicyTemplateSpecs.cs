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

    [Theory]
    [InlineData("/workspace/tmp/huge.bin")]
    [InlineData("/workspace/src/huge.bin")]
    public void Should_ask_for_approval_of_a_huge_write_under_team_moderate_even_to_tmp(string path)
    {
        // arrange: 10 MiB, the threshold
        var set = Compile(("org.yaml", PolicyTemplates.Get("team-moderate")));
        var args = $$"""{"path":"{{path}}","content":"{{new string('x', 10 * 1024 * 1024)}}"}""";

        // act
        var d = Decide(set, "filesystem.write", args);

        // assert: the size rule decides, before the rule that frees /workspace/tmp
        Assert.Equal(Tier.ApprovalRequired, d.Tier);
        Assert.Contains("very large writes", d.Reason);
    }

    [Fact]
    public void Should_pin_the_size_rule_before_the_tmp_rule_with_an_example_in_team_moderate()
    {
        // arrange: team-moderate with the two filesystem.write rules swapped back
        var text = PolicyTemplates.Get("team-moderate");
        var lines = text.Split('\n').ToList();
        int RuleStart(string condition) => lines.FindIndex(l => l.Contains(condition, StringComparison.Ordinal)) - 1;
        var size = RuleStart("content_size_gte: 10MiB");
        var tmp = RuleStart("path_prefix: /workspace/tmp }");
        Assert.True(size < tmp, "the size rule comes first");
        var sizeRule = lines.GetRange(size, tmp - size);
        lines.RemoveRange(size, tmp - size);
        var tmpEnd = lines.FindIndex(size + 1, l => l.StartsWith("  - capability:", StringComparison.Ordinal));
        lines.InsertRange(tmpEnd, sizeRule);

        // act
        var result = TryCompile(("org.yaml", string.Join('\n', lines)));

        // assert: the size rule's example no longer holds, so the file is rejected
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Equal(DiagnosticCodes.ExampleFailed, error.Code);
        Assert.Contains("decides it first", error.Message);
    }

    [Fact]
    public void Should_hide_only_blocked_tools_for_an_agent_under_team_moderate()
    {
        var set = Compile(("org.yaml", "extends: team-moderate\n"));
        var visible = Registry.All.Where(c => PolicyEngine.VisibleTier(Bot, c, set) != Tier.Blocked).Select(c => c.Name.Value).ToList();
        Assert.DoesNotContain("email.bulk_delete", visible);
        Assert.Equal(Registry.All.Length - 1, visible.Count);
    }
}
