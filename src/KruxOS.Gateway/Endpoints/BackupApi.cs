using System.Text.Json.Nodes;
using KruxOS.Core.Admin;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// Backups on the User API (operator tokens only: a backup holds every agent's state): <c>GET /api/backups</c>,
/// <c>POST /api/backups</c> (<c>{agent?}</c>), <c>POST /api/backups/{id}/restore</c> (<c>{agent?, passphrase?}</c>) and
/// <c>POST /api/backups/{id}/verify</c> (<c>{passphrase?}</c>). The same service as <c>kruxos backup</c>, audited as the
/// token's label. There is no export route: the file stays on the host (the CLI copies it as root).
/// </summary>
public static class BackupApi
{
    /// <summary>Maps the routes on the (already authenticated) User API group.</summary>
    public static void MapBackupApi(this RouteGroupBuilder api)
    {
        api.MapGet("/backups", (BackupControl b, HttpContext http) => RunAsync(http, null, (p, _) => b.ListAsync(p, http.RequestAborted)));
        api.MapPost("/backups", (BackupControl b, HttpContext http) => RunAsync(http, null, (p, by) => b.CreateAsync(p, by, http.RequestAborted)));
        api.MapPost("/backups/{id}/restore", (BackupControl b, HttpContext http, string id) =>
            RunAsync(http, new JsonObject { ["backup_id"] = id }, (p, by) => b.RestoreAsync(p, by, http.RequestAborted)));
        api.MapPost("/backups/{id}/verify", (BackupControl b, HttpContext http, string id) =>
            RunAsync(http, new JsonObject { ["backup_id"] = id }, (p, _) => b.VerifyAsync(p, http.RequestAborted)));
    }

    private static Task<IResult> RunAsync(HttpContext http, JsonObject? fixedParams, Func<JsonObject, string, Task<(JsonNode?, AdminError?)>> run)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        if (caller.Role != CredentialRole.Operator)
            return Task.FromResult(AdminHttp.Error(new AdminError(AdminErrorKind.Forbidden, "Forbidden", "backups need an operator token")));
        return VaultApi.ExecuteAsync(http, fixedParams, p => run(p, caller.Principal.Name));
    }
}
