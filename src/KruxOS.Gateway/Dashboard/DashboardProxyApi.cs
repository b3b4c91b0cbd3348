using System.Text.Json.Nodes;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Approvals;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Endpoints;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The Service Proxy on the dashboard's <c>/api</c> (the <c>/proxy</c> page): <c>GET /api/proxy/status</c>,
/// <c>GET /api/proxy/writes?status=&amp;service=</c>, and <c>POST /api/proxy/writes/{id}/cancel|retry|discard|rollback</c>, recorded
/// as <c>user:&lt;label&gt;</c> of the signed-in operator (the dashboard's origin and anti-forgery checks apply to every
/// POST). Write descriptions come from agents' arguments: the page inserts them as text only.
/// </summary>
public static class DashboardProxyApi
{
    /// <summary>Maps the routes on the dashboard's authenticated <c>/api</c> group.</summary>
    public static void MapDashboardProxy(this RouteGroupBuilder api)
    {
        api.MapGet("/proxy/status", (HttpContext http, ProxyAdmin admin) =>
            VaultApi.ExecuteAsync(http, null, p => new ProxyControl(admin).StatusAsync(p, http.RequestAborted)));
        api.MapGet("/proxy/writes", (HttpContext http, ProxyAdmin admin, string? status, string? service) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["status"] = status, ["service"] = service }, p => new ProxyControl(admin).WritesAsync(p, http.RequestAborted)));
        api.MapPost("/proxy/writes/{id}/cancel", (HttpContext http, ProxyAdmin admin, string id) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["id"] = id }, p => new ProxyControl(admin).CancelAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/proxy/writes/{id}/retry", (HttpContext http, ProxyAdmin admin, string id) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["id"] = id }, p => new ProxyControl(admin).RetryAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/proxy/writes/{id}/discard", (HttpContext http, ProxyAdmin admin, string id) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["id"] = id }, p => new ProxyControl(admin).DiscardAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/proxy/writes/{id}/rollback", (HttpContext http, ProxyAdmin admin, string id) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["id"] = id }, p => new ProxyControl(admin).RollbackAsync(p, By(http), http.RequestAborted)));
    }

    private static string By(HttpContext http) => ApprovalDecider.DashboardSession(DashboardAuth.Caller(http).Token).DecidedBy;
}
