using Xunit;
using KruxOS.Core.OAuth;

namespace KruxOS.Core.Tests.OAuth;

public sealed class OAuthFlowsSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly string SessionA = OAuthFlows.BindingOf("csrf-a");
    private static readonly string SessionB = OAuthFlows.BindingOf("csrf-b");

    private static PendingAuthorization Pending(string state, string session, DateTimeOffset? at = null) =>
        new(state, Pkce.NewVerifier(), session, "gmail", at ?? T0, (at ?? T0) + OAuthFlows.DefaultLifetime);

    [Fact]
    public void Should_accept_a_pending_state_once_for_its_session()
    {
        var flows = OAuthFlows.Empty.Begin(Pending("s1", SessionA), T0);
        var first = flows.Complete("s1", SessionA, "gmail", T0.AddMinutes(1));
        Assert.Equal(CallbackVerdict.Accepted, first.Verdict);
        Assert.NotNull(first.Pending);
        var replay = first.Flows.Complete("s1", SessionA, "gmail", T0.AddMinutes(1));
        Assert.Equal(CallbackVerdict.UnknownState, replay.Verdict);
        Assert.Null(replay.Pending);
    }

    [Fact]
    public void Should_refuse_another_session_and_consume_the_state()
    {
        var flows = OAuthFlows.Empty.Begin(Pending("s1", SessionA), T0);
        var forged = flows.Complete("s1", SessionB, "gmail", T0.AddSeconds(5));
        Assert.Equal(CallbackVerdict.WrongSession, forged.Verdict);
        Assert.Null(forged.Pending);
        Assert.Equal(CallbackVerdict.UnknownState, forged.Flows.Complete("s1", SessionA, "gmail", T0.AddSeconds(6)).Verdict);
    }

    [Fact]
    public void Should_refuse_expired_unknown_and_foreign_service_states()
    {
        var flows = OAuthFlows.Empty.Begin(Pending("s1", SessionA), T0).Begin(Pending("s2", SessionA), T0);
        Assert.Equal(CallbackVerdict.Expired, flows.Complete("s1", SessionA, "gmail", T0 + OAuthFlows.DefaultLifetime).Verdict);
        Assert.Equal(CallbackVerdict.UnknownState, flows.Complete("nope", SessionA, "gmail", T0).Verdict);
        Assert.Equal(CallbackVerdict.UnknownState, flows.Complete(null, SessionA, "gmail", T0).Verdict);
        Assert.Equal(CallbackVerdict.UnknownState, flows.Complete(new string('x', 5000), SessionA, "gmail", T0).Verdict);
        Assert.Equal(CallbackVerdict.WrongService, flows.Complete("s2", SessionA, "slack", T0).Verdict);
    }

    [Fact]
    public void Should_bound_the_pending_set_dropping_the_oldest()
    {
        var flows = OAuthFlows.Empty;
        for (var i = 0; i < OAuthFlows.MaxPending + 5; i++) flows = flows.Begin(Pending("s" + i, SessionA, T0.AddSeconds(i)), T0.AddSeconds(i));
        Assert.Equal(OAuthFlows.MaxPending, flows.Count);
        var now = T0.AddSeconds(OAuthFlows.MaxPending + 5);
        Assert.Equal(CallbackVerdict.UnknownState, flows.Complete("s0", SessionA, "gmail", now).Verdict);
        Assert.Equal(CallbackVerdict.Accepted, flows.Complete("s" + (OAuthFlows.MaxPending + 4), SessionA, "gmail", now).Verdict);
    }

    [Fact]
    public void Should_never_print_the_verifier()
    {
        var p = Pending("s1", SessionA);
        Assert.DoesNotContain(p.Verifier, p.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s1", p.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_create_unguessable_states_and_distinct_bindings()
    {
        Assert.NotEqual(OAuthFlows.NewState(), OAuthFlows.NewState());
        Assert.Equal(43, OAuthFlows.NewState().Length);
        Assert.NotEqual(SessionA, SessionB);
        Assert.DoesNotContain("csrf-a", SessionA, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(301, false)]
    [InlineData(300, true)]
    [InlineData(0, true)]
    public void Should_refresh_within_five_minutes_of_expiry(int secondsLeft, bool due) =>
        Assert.Equal(due, TokenLifetime.RefreshDue(T0.AddSeconds(secondsLeft), T0));

    [Fact]
    public void Should_clamp_provider_lifetimes_and_parse_scopes()
    {
        Assert.Equal(T0, TokenLifetime.ExpiryFrom(null, T0));
        Assert.Equal(T0, TokenLifetime.ExpiryFrom(-5, T0));
        Assert.Equal(T0.AddHours(1), TokenLifetime.ExpiryFrom(3600, T0));
        Assert.Equal(T0 + TokenLifetime.MaxLifetime, TokenLifetime.ExpiryFrom(long.MaxValue, T0));
        Assert.Equal(["a", "b"], OAuthScopes.Parse(" a  b a "));
        Assert.Equal(["c"], OAuthScopes.Missing(["a", "c"], OAuthScopes.Parse("a b")));
        Assert.Empty(OAuthScopes.Parse(null));
    }
}
