using System.Text.Json.Nodes;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Admin;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// The Service Proxy on the User API (spec §4.1, for the dashboard and scripts): <c>GET /api/proxy/status</c> and
/// <c>GET /api/proxy/writes</c> (<c>?status=pending|buffered|executing|dead_lettered|done|cancelled|discarded|all</c>,
/// <c>&amp;service=</c>) for user tokens of either role; <c>POST /api/proxy/writes/{id}/cancel|retry|discard|rollback</c> and
/// <c>POST /api/proxy/{service}/connect|disconnect</c> for operator tokens only (403 otherwise). A write is listed with
/// the adapter's one-line description, never its arguments; a connect secret is never echoed.
/// </summary>
public static class ProxyApi
{
    /// <summary>Maps the routes on the (already authenticated) User API group.</summary>
    public static void MapProxyApi(this RouteGroupBuilder api)
    {
        api.MapGet("/proxy/status", (ProxyAdmin admin, HttpContext http) =>
            Run(http, null, (c, p, _) => c.StatusAsync(p, http.RequestAborted), admin, operatorOnly: false));
        api.MapGet("/proxy/writes", (ProxyAdmin admin, HttpContext http, string? status, string? service) =>
            Run(http, new JsonObject { ["status"] = status, ["service"] = service }, (c, p, _) => c.WritesAsync(p, http.RequestAborted), admin, operatorOnly: false));
        api.MapPost("/proxy/writes/{id}/cancel", (ProxyAdmin admin, HttpContext http, string id) =>
            Run(http, new JsonObject { ["id"] = id }, (c, p, by) => c.CancelAsync(p, by, http.RequestAborted), admin));
        api.MapPost("/proxy/writes/{id}/retry", (ProxyAdmin admin, HttpContext http, string id) =>
            Run(http, new JsonObject { ["id"] = id }, (c, p, by) => c.RetryAsync(p, by, http.RequestAborted), admin));
        api.MapPost("/proxy/writes/{id}/discard", (ProxyAdmin admin, HttpContext http, string id) =>
            Run(http, new JsonObject { ["id"] = id }, (c, p, by) => c.DiscardAsync(p, by, http.RequestAborted), admin));
        api.MapPost("/proxy/writes/{id}/rollback", (ProxyAdmin admin, HttpContext http, string id) =>
            Run(http, new JsonObject { ["id"] = id }, (c, p, by) => c.RollbackAsync(p, by, http.RequestAborted), admin));
        api.MapPost("/proxy/{service}/connect", (ProxyAdmin admin, HttpContext http, string service) =>
            Run(http, new JsonObject { ["service"] = service }, (c, p, by) => c.ConnectAsync(p, by, http.RequestAborted), admin));
        api.MapPost("/proxy/{service}/disconnect", (ProxyAdmin admin, HttpContext http, string service) =>
            Run(http, new JsonObject { ["service"] = service }, (c, p, by) => c.DisconnectAsync(p, by, http.RequestAborted), admin));
    }

    private static async Task<IResult> Run(HttpContext http, JsonObject? fixedParams, Func<ProxyControl, JsonObject, string, Task<(JsonNode?, AdminError?)>> run,
        ProxyAdmin admin, bool operatorOnly = true)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        if (operatorOnly && caller.Role != CredentialRole.Operator)
            return AdminHttp.Error(new AdminError(AdminErrorKind.Forbidden, "Forbidden", "changing buffered writes or connections needs an operator token"));
        var control = new ProxyControl(admin);
        return await VaultApi.ExecuteAsync(http, fixedParams, p => run(control, p, caller.Principal.Name)).ConfigureAwait(false);
    }
}
