using System.Text.Json.Nodes;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Endpoints;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The secrets page's API on the dashboard's <c>/api</c> (the same paths and bodies as the User API's vault routes):
/// <c>GET /api/vault</c>, <c>GET /api/vault/secrets[?include_revoked=true]</c> for either role;
/// <c>POST /api/vault/secrets</c> <c>{name, type, allowed_capabilities, allowed_hosts, value}</c>,
/// <c>POST /api/vault/secrets/{name}/rotate</c> <c>{value}</c>, <c>POST /api/vault/secrets/{name}/revoke</c> <c>{reason}</c>
/// for operators, behind the group's origin and anti-forgery checks. A value is sealed by <see cref="VaultControl"/> and
/// its bytes zeroed; no answer, error, log line or audit entry ever holds it (malformed bodies get fixed messages).
/// Initialising, unlocking and locking stay on the host (<c>kruxos vault …</c>): a passphrase is never typed into a browser.
/// </summary>
public static class DashboardSecretsApi
{
    /// <summary>Maps the routes on the dashboard's authenticated <c>/api</c> group.</summary>
    public static void MapDashboardSecrets(this RouteGroupBuilder api)
    {
        api.MapGet("/vault", (HttpContext http, VaultControl vault) => VaultApi.ExecuteAsync(http, null, p => vault.StatusAsync(p, http.RequestAborted)));
        api.MapGet("/vault/secrets", (HttpContext http, VaultControl vault) =>
        {
            var q = http.Request.Query["include_revoked"].ToString();
            if (q is not ("" or "true" or "false"))
                return Task.FromResult(Results.Json(new { error_type = "InvalidInput", message = "include_revoked must be true or false" }, statusCode: StatusCodes.Status400BadRequest));
            return VaultApi.ExecuteAsync(http, new JsonObject { ["include_revoked"] = q == "true" }, p => vault.ListAsync(p, http.RequestAborted));
        });
        api.MapPost("/vault/secrets", (HttpContext http, VaultControl vault) => VaultApi.ExecuteAsync(http, null, p => vault.AddAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/secrets/{name}/rotate", (HttpContext http, VaultControl vault, string name) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["name"] = name }, p => vault.RotateAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/secrets/{name}/revoke", (HttpContext http, VaultControl vault, string name) =>
            VaultApi.ExecuteAsync(http, new JsonObject { ["name"] = name }, p => vault.RevokeAsync(p, By(http), http.RequestAborted)));
    }

    // The signed-in operator as the audit names it (user:<label>).
    private static string By(HttpContext http) =>
        KruxOS.Core.Approvals.ApprovalDecider.DashboardSession(DashboardAuth.Caller(http).Token).DecidedBy;
}
