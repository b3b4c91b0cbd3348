using System.Collections.Immutable;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class PolicyEdgeSpecs
{
    [Fact]
    public void Should_trace_the_user_layer_for_user_token_calls()
    {
        var set = Compile(("user.yaml", "rules:\n  - capability: git.push\n    tier: notify\n"));
        var d = Decide(set, "git.push", """{"path":"/workspace/r"}""", Operator);
        Assert.Equal("protections(pass) → system(no file) → org(no file) → user(notify user.yaml:2)", d.FormatTrace());
        Assert.Equal(PolicyLayer.User, d.DecidingLayer);
    }

    [Fact]
    public void Should_reject_duplicate_keys_with_their_line()
    {
        var result = TryCompile(("org.yaml", "name: a\nname: b\n"));
        Assert.False(result.Succeeded);
        Assert.Equal(2, Assert.Single(result.Errors).Location.Line);
    }

    [Fact]
    public void Should_reject_more_than_one_yaml_document()
    {
        var result = TryCompile(("org.yaml", "name: a\n---\nname: b\n"));
        Assert.Contains("one YAML document", Assert.Single(result.Errors).Message);
    }

    [Fact]
    public void Should_reject_a_top_level_list()
    {
        var result = TryCompile(("org.yaml", "- capability: a.b\n"));
        Assert.Contains("a policy file is a mapping", Assert.Single(result.Errors).Message);
    }

    [Theory]
    [InlineData("""{"path":"/workspace/tmp/x"}""", ConditionResult.Match)]
    [InlineData("""{"path":"/workspace/x"}""", ConditionResult.NoMatch)]
    [InlineData("""{"path":null}""", ConditionResult.NoMatch)]
    [InlineData("""{"path":"/../x"}""", ConditionResult.Indeterminate)]
    public void Should_expose_condition_evaluation_with_three_outcomes(string args, ConditionResult expected)
    {
        var condition = new PathPrefixCondition("path", "/workspace/tmp");
        Assert.Equal(expected, condition.Evaluate(Args(args), out var why));
        Assert.Equal(expected == ConditionResult.Indeterminate ? "path_escape" : null, why);
    }

    [Fact]
    public void Should_render_conditions_for_agent_policy()
    {
        Assert.Equal("content content_size_lt 10", new ContentSizeCondition("content", 10, LessThan: true).ToString());
        Assert.Equal("method equals [GET, HEAD]", new EqualsCondition("method", ImmutableArray.Create("GET", "HEAD")).ToString());
    }

    [Theory]
    [InlineData("filesystem.*", "filesystem.read", false)]
    [InlineData("filesystem.read", "filesystem.*", true)]
    [InlineData("filesystem.*", "state.*", false)]
    [InlineData("state.*", "state.shared.*", false)]
    [InlineData("state.shared.*", "state.*", true)]
    [InlineData("state.shared.set", "state.*", true)]
    [InlineData("*", "filesystem.*", false)]
    [InlineData("git.push", "*", true)]
    [InlineData("git.push", "git.push", true)]
    [InlineData("git.push", "git.pull", false)]
    public void Should_know_when_one_pattern_covers_another(string pattern, string by, bool covered)
    {
        Assert.True(CapabilityPattern.TryParse(pattern, out var p, out _));
        Assert.True(CapabilityPattern.TryParse(by, out var b, out _));
        Assert.Equal(covered, p.IsCoveredBy(b));
    }

    [Fact]
    public void Should_compile_an_empty_set_that_applies_only_protections_and_defaults()
    {
        var set = PolicyCompiler.Compile(new Dictionary<string, string>(), Registry).Set!;
        Assert.Equal(PolicySet.Empty(Registry).Revision, set.Revision);
        Assert.Equal(Tier.ApprovalRequired, Decide(set, "git.push", """{"path":"/workspace/r"}""").Tier);
        Assert.Equal(Tier.Blocked, Decide(set, "filesystem.write", """{"path":"/etc/x","content":""}""").Tier);
    }
}
