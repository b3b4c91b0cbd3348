using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// The loopback User API (spec §4.2), authenticated by user credentials. It serves the same views as the control
/// socket to tools that hold a user token instead of root. Who may use what (ADR 0021):
/// <list type="bullet">
/// <item>views (status, agents, tokens, approvals, audit): user tokens of either role;</item>
/// <item>approval decisions: user tokens, decided by the approval entity's separation-of-duties rule — only an operator
/// token decides, and never a call its own principal requested;</item>
/// <item><c>/api/hook/decide</c> (a capability call): client user tokens and credentials minted over the auth socket,
/// which is what <c>cli-hook</c> presents; operator tokens never make calls;</item>
/// <item><c>/api/user/whoami</c>: any user credential.</item>
/// </list>
/// </summary>
public static class UserApiEndpoints
{
    /// <summary>Endpoint metadata: which user credentials an endpoint serves besides user tokens of either role.</summary>
    /// <param name="Minted">Credentials minted over the auth socket are served too.</param>
    /// <param name="ClientsOnly">Only client credentials (a capability call): operator tokens are refused.</param>
    public sealed record UserApiCredentials(bool Minted, bool ClientsOnly);

    /// <summary>Maps the User API on its listener.</summary>
    public static void MapUserApi(this WebApplication app)
    {
        var api = app.MapGroup("/api").On(Listener.UserApi).AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var auth = http.RequestServices.GetRequiredService<Authenticator>().Authenticate(http, AuthSurface.UserApi);
            if (!auth.Succeeded)
            {
                await HttpErrors.WriteAsync(http, auth.StatusCode, auth.Error!).ConfigureAwait(false);
                return Results.Empty;
            }
            var caller = auth.Caller!;
            if (caller.Principal.Kind != PrincipalKind.User)
            {
                await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden,
                    Core.Errors.StructuredError.Create("auth.user_token_required", "The User API accepts user tokens (krx_user_…) only.")
                        .WithRecovery("use_user_token", "Create one with 'kruxos user-token create <label>'.")).ConfigureAwait(false);
                return Results.Empty;
            }
            var serves = http.GetEndpoint()?.Metadata.GetMetadata<UserApiCredentials>();
            if (caller.Minted && serves?.Minted != true)
            {
                await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden,
                    Core.Errors.StructuredError.Create("auth.credential_scope",
                            "A credential minted over the auth socket is for capability calls (MCP, /rpc) and cli-hook decisions only.")
                        .WithRecovery("use_user_token", "Use a user token (krx_user_…) for the User API's views; decide approvals with an operator token.")).ConfigureAwait(false);
                return Results.Empty;
            }
            if (serves?.ClientsOnly == true && caller.Role != CredentialRole.Client)
            {
                await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden, Authenticator.OperatorCannotCall(caller.Principal.Name)).ConfigureAwait(false);
                return Results.Empty;
            }
            http.Items["kruxos.caller"] = caller;
            return await next(ctx).ConfigureAwait(false);
        });

        api.MapGet("/user/whoami", (HttpContext http) =>
        {
            var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
            return Json(new JsonObject
            {
                ["kind"] = "user",
                ["label"] = caller.Principal.Name,
                ["token_id"] = caller.UserTokenId,
                ["role"] = caller.Role.ToWire(),
                ["credential_type"] = caller.Minted ? "session_credential" : "user_token",
            });
        }).WithMetadata(new UserApiCredentials(Minted: true, ClientsOnly: false));
        api.MapGet("/status", async (HttpContext http, StatusService status) =>
        {
            var report = await status.StatusAsync(http.RequestAborted).ConfigureAwait(false);
            return report.IsOk ? AdminHttp.Json(AdminJson.Status(report.Value!)) : AdminHttp.ViewError(report.Error!);
        });
        api.MapGet("/agents", (AgentAdmin agents) => AdminHttp.Json(AdminJson.Agents(agents.List())));
        api.MapGet("/user/tokens", (UserTokenAdmin tokens) => AdminHttp.Json(AdminJson.Tokens(tokens.List())));

        // Approvals (spec §4.1): 404 for an unknown id, 409 with {status} when already decided or timed out, 403 when the
        // caller may not decide it (a client credential, or the principal that requested the call).
        api.MapGet("/approvals", async (HttpContext http, ApprovalAdmin approvals, string? status) =>
            AdminHttp.Answer(await approvals.ListAsync(status, http.RequestAborted).ConfigureAwait(false), AdminJson.Approvals));
        api.MapGet("/approvals/{id}", async (HttpContext http, ApprovalAdmin approvals, string id) =>
            AdminHttp.Answer(await approvals.ShowAsync(id, http.RequestAborted).ConfigureAwait(false), a => AdminJson.Approval(a, true)));
        api.MapPost("/approvals/{id}/approve", (HttpContext http, ApprovalAdmin approvals, string id) => DecideAsync(http, approvals, id, true));
        api.MapPost("/approvals/{id}/reject", (HttpContext http, ApprovalAdmin approvals, string id) => DecideAsync(http, approvals, id, false));
        api.MapAuditApi();
        api.MapVaultApi();
        api.MapProxyApi();
        api.MapHookDecisions().WithMetadata(new UserApiCredentials(Minted: true, ClientsOnly: true));
    }

    /// <summary>The reason recorded when a reject through the User API (the dashboard's) gives none (spec §4.1).</summary>
    public const string DefaultRejectReason = "Rejected by dashboard admin";

    private static async Task<IResult> DecideAsync(HttpContext http, ApprovalAdmin approvals, string id, bool approve)
    {
        var reason = "";
        if (http.Request.ContentLength is > 0)
        {
            try
            {
                var body = await System.Text.Json.JsonSerializer.DeserializeAsync<JsonObject>(http.Request.Body, cancellationToken: http.RequestAborted).ConfigureAwait(false);
                reason = body?["reason"]?.GetValue<string>() ?? "";
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
            {
                return Results.Json(new { error_type = "invalid_input", message = "the body must be {\"reason\": \"…\"}" }, statusCode: StatusCodes.Status400BadRequest);
            }
        }
        // Spec §4.1: a reject without a reason is recorded as rejected by the dashboard admin (the User API's user).
        if (!approve && string.IsNullOrWhiteSpace(reason)) reason = DefaultRejectReason;
        // The decision runs as the authenticated credential (never as the control socket's operator): its label, role and
        // surface travel with it to ApprovalAdmin and the approval entity, which refuse a client credential and the
        // requester's own (ApprovalSeparation) and record who decided.
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        var decider = ApprovalDecider.UserApi(caller.UserToken!, caller.Minted);
        return AdminHttp.Answer(await approvals.DecideAsync(id, approve, decider, reason, http.RequestAborted).ConfigureAwait(false), a => AdminJson.Approval(a, true));
    }

    private static IResult Json(JsonNode node) => AdminHttp.Json(node);
}
