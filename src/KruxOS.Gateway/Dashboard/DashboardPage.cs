namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// One page of the dashboard: a path, a title, and the script (an embedded asset under <c>Dashboard/Assets</c>) that fills
/// its <c>main</c> from the dashboard's <c>/api</c>. The server renders the shell (navigation, anti-forgery token, the
/// per-node notice); the script renders data with DOM text nodes only. Adding a page is its script plus one line in
/// <see cref="DashboardPages.All"/> (ADR 0045).
/// </summary>
/// <param name="Path">The page's path, e.g. <c>/approvals</c>.</param>
/// <param name="Title">Its title and navigation label.</param>
/// <param name="Script">Its script's asset name, e.g. <c>approvals.js</c>.</param>
/// <param name="InNavigation">Whether the navigation links it (a detail page such as one agent's is reached from its list).</param>
/// <param name="PerNodeList">Whether it lists what only this node knows (approvals, activity, audit): in a cluster it says so.</param>
public sealed record DashboardPage(string Path, string Title, string Script, bool InNavigation = true, bool PerNodeList = false);

/// <summary>The dashboard's pages, in navigation order.</summary>
public static class DashboardPages
{
    /// <summary>Every page. Other areas (secrets, alerts, pause, state) add theirs here.</summary>
    public static readonly IReadOnlyList<DashboardPage> All =
    [
        new("/overview", "Overview", "overview.js"),
        new("/approvals", "Approvals", "approvals.js", PerNodeList: true),
        new("/activity", "Activity", "activity.js", PerNodeList: true),
        new("/audit", "Audit", "audit.js", PerNodeList: true),
        new("/agents", "Agents", "agents.js"),
        new("/agents/{name}", "Agent", "agent.js", InNavigation: false),
        new("/secrets", "Secrets", "secrets.js"),
        new("/alerts", "Alerts", "alerts.js"),
        new("/proxy", "Service Proxy", "proxy.js"),
    ];
}
