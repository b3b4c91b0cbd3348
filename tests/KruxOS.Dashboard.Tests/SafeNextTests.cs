using KruxOS.Gateway.Dashboard;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>Where sign-in sends the browser: a dashboard page only, never another site (open redirect).</summary>
public sealed class SafeNextTests
{
    [Theory]
    [InlineData("/approvals", "/approvals")]
    [InlineData("/audit?agent=bot", "/audit")]
    [InlineData("/agents/bot", "/agents/bot")]
    [InlineData("//evil.example/approvals", "/approvals")]
    [InlineData("/\\evil.example", "/approvals")]
    [InlineData("https://evil.example/", "/approvals")]
    [InlineData("javascript:alert(1)", "/approvals")]
    [InlineData("/agents/a/b", "/approvals")]
    [InlineData("/unknown", "/approvals")]
    [InlineData("/agents/<script>", "/approvals")]
    [InlineData("", "/approvals")]
    [InlineData(null, "/approvals")]
    public void Should_only_return_to_a_dashboard_page(string? next, string expected) => Assert.Equal(expected, DashboardHosting.SafeNext(next));
}
