using KruxOS.Core.Agents;
using KruxOS.Core.Identity;
using Xunit;
using CoreErrors = KruxOS.Core.Errors.Errors;
using static KruxOS.Core.Identity.IdentityCommands;

namespace KruxOS.Core.Tests.Identity;

/// <summary>The session's own re-check of the caller's standing, for calls from every submitter.</summary>
public sealed class CallerStandingSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    private static IdentityState With(params IIdentityCommand[] commands)
    {
        var s = IdentityState.Empty;
        foreach (var c in commands)
        {
            var (result, events) = s.ProcessCommand(c);
            Assert.True(result.IsOk, result.Message);
            s = events.Aggregate(s, (acc, e) => acc.Apply(e));
        }
        return s;
    }

    private static readonly IdentityState State = With(
        new CreateAgent("live", "tests", TokenHashing.Hash("krx_agent_live"), T0),
        new CreateAgent("gone", "tests", TokenHashing.Hash("krx_agent_gone"), T0),
        new RevokeAgent("gone", T0),
        new CreateUserToken("u-1", "laptop", TokenHashing.Hash("krx_user_one"), T0),
        new CreateUserToken("u-2", "old", TokenHashing.Hash("krx_user_two"), T0),
        new RevokeUserToken("u-2", T0));

    [Fact]
    public void Should_let_an_active_agent_and_an_active_user_context_proceed()
    {
        Assert.Null(CallerStanding.Refusal(State, true, AgentName.Parse("live")));
        Assert.Null(CallerStanding.Refusal(State, true, AgentName.UserContext("u-1")));
    }

    [Fact]
    public void Should_refuse_a_revoked_agent_with_the_error_the_edges_give()
    {
        var refusal = CallerStanding.Refusal(State, true, AgentName.Parse("gone"));
        Assert.Equal(CoreErrors.AgentRevoked("gone"), refusal);
        Assert.False(refusal!.Retryable);
    }

    [Fact]
    public void Should_refuse_the_user_context_of_a_revoked_user_token()
    {
        Assert.Equal(CoreErrors.UserTokenRevoked(), CallerStanding.Refusal(State, true, AgentName.UserContext("u-2")));
    }

    [Fact]
    public void Should_refuse_everything_retryably_until_the_identities_are_known()
    {
        foreach (var agent in new[] { AgentName.Parse("live"), AgentName.Parse("gone"), AgentName.UserContext("u-1") })
        {
            var refusal = CallerStanding.Refusal(State, false, agent);
            Assert.Equal("ServiceUnavailable", refusal?.ErrorType);
            Assert.True(refusal!.Retryable);
        }
    }
}
