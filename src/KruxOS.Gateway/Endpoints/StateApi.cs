using System.Text.Json.Nodes;
using KruxOS.Core.Admin;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// Agent state on the User API, for operator tokens only (state values are the agents' data; 403 for client tokens):
/// <c>GET /api/state/agents/{agent}[?prefix=]</c>, <c>GET …/quota</c>, <c>GET …/value?key=&amp;version=</c>,
/// <c>POST …/value</c> <c>{key, value}</c>, <c>POST …/delete</c> <c>{key}</c>; <c>GET /api/state/shared[?prefix=]</c>,
/// <c>GET /api/state/shared/value?key=</c>, <c>POST /api/state/shared/value</c> <c>{key, value, expected_version}</c>,
/// <c>POST /api/state/shared/delete</c> <c>{key}</c>. Writes run as the token's <c>user:&lt;label&gt;</c> and are audited by
/// <see cref="KruxOS.Actors.State.StateAdmin"/>.
/// </summary>
public static class StateApi
{
    /// <summary>Maps the routes on the (already authenticated) User API group.</summary>
    public static void MapStateApi(this RouteGroupBuilder api)
    {
        api.MapGet("/state/agents/{agent}", (StateControl state, HttpContext http, string agent, string? prefix) =>
            RunAsync(http, new JsonObject { ["agent"] = agent, ["prefix"] = prefix }, p => state.ListAsync(p, http.RequestAborted)));
        api.MapGet("/state/agents/{agent}/quota", (StateControl state, HttpContext http, string agent) =>
            RunAsync(http, new JsonObject { ["agent"] = agent }, p => state.QuotaAsync(p, http.RequestAborted)));
        api.MapGet("/state/agents/{agent}/value", (StateControl state, HttpContext http, string agent, string? key, long? version) =>
            RunAsync(http, new JsonObject { ["agent"] = agent, ["key"] = key, ["version"] = version }, p => state.GetAsync(p, http.RequestAborted)));
        api.MapPost("/state/agents/{agent}/value", (StateControl state, HttpContext http, string agent) =>
            RunAsync(http, new JsonObject { ["agent"] = agent }, p => state.SetAsync(p, VaultApi.By(http), http.RequestAborted)));
        api.MapPost("/state/agents/{agent}/delete", (StateControl state, HttpContext http, string agent) =>
            RunAsync(http, new JsonObject { ["agent"] = agent }, p => state.DeleteAsync(p, VaultApi.By(http), http.RequestAborted)));
        api.MapGet("/state/shared", (StateControl state, HttpContext http, string? prefix) =>
            RunAsync(http, new JsonObject { ["prefix"] = prefix }, p => state.SharedListAsync(p, http.RequestAborted)));
        api.MapGet("/state/shared/value", (StateControl state, HttpContext http, string? key) =>
            RunAsync(http, new JsonObject { ["key"] = key }, p => state.SharedGetAsync(p, http.RequestAborted)));
        api.MapPost("/state/shared/value", (StateControl state, HttpContext http) =>
            RunAsync(http, null, p => state.SharedSetAsync(p, VaultApi.By(http), http.RequestAborted)));
        api.MapPost("/state/shared/delete", (StateControl state, HttpContext http) =>
            RunAsync(http, null, p => state.SharedDeleteAsync(p, VaultApi.By(http), http.RequestAborted)));
    }

    private static async Task<IResult> RunAsync(HttpContext http, JsonObject? fixedParams, Func<JsonObject, Task<(JsonNode?, AdminError?)>> run)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        if (caller.Role != CredentialRole.Operator)
            return AdminHttp.Error(new AdminError(AdminErrorKind.Forbidden, "Forbidden", "agent state is for operator tokens only"));
        // Absent query parameters are absent, not null values.
        var given = new JsonObject();
        foreach (var (k, v) in fixedParams ?? []) if (v is not null) given[k] = v.DeepClone();
        return await VaultApi.ExecuteAsync(http, given, run).ConfigureAwait(false);
    }
}
