using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using Xunit;
using E = KruxOS.Core.Errors.Errors;

namespace KruxOS.Core.Tests.Errors;

public sealed class StructuredErrorSpecs
{
    [Fact]
    public void Should_name_rule_and_capability_when_policy_denies()
    {
        var e = E.PolicyDenied(CapabilityName.Parse("process.run"), "system.deny_dangerous_commands", "rm -rf /");
        Assert.Equal("PolicyDenied", e.ErrorType);
        Assert.Equal("system.deny_dangerous_commands", e.ContextString("rule"));
        Assert.Equal("process.run", e.ContextString("capability"));
        Assert.Contains(e.Recovery, r => r.Action == "check_policy" && r.Capability == "agent.policy");
    }

    [Fact]
    public void Should_carry_retry_hints_when_rate_limited_at_authentication()
    {
        var e = E.AuthRateLimited(42);
        Assert.True(e.Retryable);
        Assert.Equal(42, e.RetryAfterSeconds);
        Assert.Equal("auth.rate_limited", e.ErrorType);
    }

    [Fact]
    public void Should_compare_by_content()
    {
        Assert.Equal(E.InvalidInput("a", "b"), E.InvalidInput("a", "b"));
        Assert.NotEqual(E.InvalidInput("a", "b"), E.InvalidInput("a", "c"));
    }
}

public sealed class AgentNameSpecs
{
    [Theory]
    [InlineData("builder", true)]
    [InlineData("a", true)]
    [InlineData("agent_2-b", true)]
    [InlineData("default", false)]
    [InlineData("Builder", false)]
    [InlineData("-lead", false)]
    [InlineData("has space", false)]
    [InlineData("dot.ted", false)]
    [InlineData("", false)]
    public void Should_validate_agent_names(string name, bool valid) => Assert.Equal(valid, AgentName.TryParse(name, out _, out _));

    [Fact]
    public void Should_keep_user_context_keys_apart_from_agent_names()
    {
        var key = AgentName.UserContext("7e4c1d3a-0000-4000-8000-000000000001");
        Assert.True(key.IsUserContext);
        Assert.False(AgentName.TryParse(key.Value, out _, out _));
        Assert.Equal(key, AgentName.Parse(key.Value));
    }
}
