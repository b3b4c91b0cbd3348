using KruxOS.Core.State;
using KruxOS.Core.State.Shared;
using Xunit;
using static KruxOS.Core.State.Shared.SharedStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary><c>state.shared.watch</c>: who gets which change.</summary>
public sealed class SharedWatchSpecs
{
    private static readonly SharedWatchLimits Limits = SharedWatchLimits.Default;

    private static (string Id, SharedWatchRegistry Registry) Watch(SharedWatchRegistry r, string session, string? prefix, Core.Agents.AgentName? agent = null, string? id = null)
    {
        var (reply, after) = r.Subscribe(agent ?? Builder, session, prefix, id ?? SharedWatchRegistry.NewSubscriptionId(), T0, Limits);
        return (Assert.IsType<WatchResult>(reply).SubscriptionId, after);
    }

    [Fact]
    public void Should_deliver_a_change_only_to_the_watches_whose_prefix_matches_and_to_no_other_session_or_agent()
    {
        var r = SharedWatchRegistry.Empty;
        (var deploy, r) = Watch(r, "sess-a", "deploy/");
        (var all, r) = Watch(r, "sess-b", null, Reviewer);
        (_, r) = Watch(r, "sess-c", "other/", Reviewer);

        var hits = r.Match(new SharedStateChange("deploy/status", 4, SharedChangeKind.Set, "reviewer", T0));

        Assert.Equal(new[] { deploy, all }.Order(StringComparer.Ordinal), hits.Select(h => h.Watch.SubscriptionId));
        var toBuilder = Assert.Single(hits, h => h.Watch.Agent == Builder);
        Assert.Equal("sess-a", toBuilder.Watch.SessionId);
        Assert.Equal(new SharedWatchEvent(deploy, "deploy/status", 4, SharedChangeKind.Set, "reviewer", T0), toBuilder.Event);
        Assert.Empty(r.Match(new SharedStateChange("deplo", 1, SharedChangeKind.Set, "x", T0)).Where(h => h.Watch.Agent == Builder));
        Assert.Equal("""{"subscription_id":"X","key":"k","version":1,"change":"deleted","owner_agent":"a","updated_at":"2026-03-25T14:00:00+00:00"}""",
            Wire(new SharedWatchEvent("X", "k", 1, SharedChangeKind.Deleted, "a", T0)));
    }

    [Fact]
    public void Should_give_the_same_subscription_for_the_same_prefix_in_one_session()
    {
        var (first, r) = Watch(SharedWatchRegistry.Empty, "sess-a", "p/");
        var (second, after) = Watch(r, "sess-a", "p/");
        Assert.Equal(first, second);
        Assert.Single(after.Watches);
        Assert.Single(after.Match(new SharedStateChange("p/1", 1, SharedChangeKind.Set, "a", T0)));
    }

    [Fact]
    public void Should_end_watches_with_their_session_or_their_agent()
    {
        var r = SharedWatchRegistry.Empty;
        (_, r) = Watch(r, "sess-a", "");
        (_, r) = Watch(r, "sess-b", "");
        (_, r) = Watch(r, "sess-c", "", Reviewer);
        Assert.Equal(2, r.EndSession("sess-a").Watches.Count);
        Assert.Equal(["sess-c"], r.EndAgent(Builder).Watches.Values.Select(w => w.SessionId));
    }

    [Fact]
    public void Should_refuse_watches_over_the_limits_and_bad_prefixes()
    {
        var limits = new SharedWatchLimits(MaxPerSession: 2, MaxPerAgent: 3);
        var r = SharedWatchRegistry.Empty;
        for (var i = 0; i < 2; i++) r = r.Subscribe(Builder, "s1", "p" + i, SharedWatchRegistry.NewSubscriptionId(), T0, limits).Registry;
        var (perSession, same) = r.Subscribe(Builder, "s1", "p9", SharedWatchRegistry.NewSubscriptionId(), T0, limits);
        Assert.Equal("SubscriptionFailed", Assert.IsType<StateRefused>(perSession).Error.ErrorType);
        Assert.Same(r, same);
        r = r.Subscribe(Builder, "s2", "q", SharedWatchRegistry.NewSubscriptionId(), T0, limits).Registry;
        var (perAgent, _) = r.Subscribe(Builder, "s3", "z", SharedWatchRegistry.NewSubscriptionId(), T0, limits);
        Assert.Equal(3, Assert.IsType<StateRefused>(perAgent).Error.Context["limit"].GetInt32());
        var (bad, _) = SharedWatchRegistry.Empty.Subscribe(Builder, "s1", "a\u202e", SharedWatchRegistry.NewSubscriptionId(), T0, limits);
        Assert.Equal("InvalidInput", Assert.IsType<StateRefused>(bad).Error.ErrorType);
        var (badId, _) = SharedWatchRegistry.Empty.Subscribe(Builder, "s1", "a", "not-a-sub", T0, limits);
        Assert.Equal("SubscriptionFailed", Assert.IsType<StateRefused>(badId).Error.ErrorType);
    }
}
