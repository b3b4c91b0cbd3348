using KruxOS.Gateway.Dashboard;
using KruxOS.Gateway.Hosting;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>A page's background refresh (<c>X-KruxOS-Background: 1</c>) does not keep a session from idling out; the operator's own requests do.</summary>
public sealed class SessionTouchTests
{
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DashboardSettings Settings = new() { SessionIdleTimeout = TimeSpan.FromMinutes(30), SessionLifetime = TimeSpan.FromHours(12) };

    [Fact]
    public void Should_end_a_session_whose_only_requests_were_background_refreshes_after_the_idle_timeout()
    {
        // arrange
        var clock = new ManualClock(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var sessions = new DashboardSessions(Settings, clock);
        var (cookie, _) = sessions.Open("tok-1", "ops");
        // act: a refresh every 15 s for 31 minutes, nothing else
        for (var t = 0; t < 31 * 60; t += 15)
        {
            clock.Now += TimeSpan.FromSeconds(15);
            if (clock.Now - new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero) < Settings.SessionIdleTimeout)
                Assert.NotNull(sessions.Resolve(cookie, touch: false));
        }
        // assert: idle, whatever the refreshes did
        Assert.Null(sessions.Resolve(cookie, touch: false));
        Assert.Null(sessions.Resolve(cookie));
    }

    [Fact]
    public void Should_keep_a_session_alive_while_the_operator_makes_requests()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var sessions = new DashboardSessions(Settings, clock);
        var (cookie, _) = sessions.Open("tok-1", "ops");
        for (var i = 0; i < 4; i++)
        {
            clock.Now += TimeSpan.FromMinutes(20);
            Assert.NotNull(sessions.Resolve(cookie));
        }
    }
}
