using System.Text.Json.Nodes;
using KruxOS.Actors.Identity;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;
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
        api.MapGet("/status", (HttpContext http, ControlCommands commands) => Forward(http, commands, ControlProtocol.Methods.Status));
        api.MapGet("/agents", (HttpContext http, ControlCommands commands) => Forward(http, commands, ControlProtocol.Methods.AgentList));
        api.MapGet("/user/tokens", (HttpContext http, ControlCommands commands) => Forward(http, commands, ControlProtocol.Methods.UserTokenList));

        // Approvals (spec §4.1): 404 for an unknown id, 409 with {status} when already decided or timed out, 403 when the
        // caller may not decide it (a client credential, or the principal that requested the call).
        api.MapGet("/approvals", (HttpContext http, ControlCommands commands, string? status) =>
            Forward(http, commands, ControlProtocol.Methods.ApprovalList, status is null ? new JsonObject() : new JsonObject { ["status"] = status }));
        api.MapGet("/approvals/{id}", (HttpContext http, ControlCommands commands, string id) =>
            Forward(http, commands, ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id }));
        api.MapPost("/approvals/{id}/approve", (HttpContext http, ControlCommands commands, string id) => DecideAsync(http, commands, id, true));
        api.MapPost("/approvals/{id}/reject", (HttpContext http, ControlCommands commands, string id) => DecideAsync(http, commands, id, false));
        api.MapAuditApi();
        api.MapHookDecisions().WithMetadata(new UserApiCredentials(Minted: true, ClientsOnly: true));
    }

    /// <summary>The reason recorded when a reject through the User API (the dashboard's) gives none (spec §4.1).</summary>
    public const string DefaultRejectReason = "Rejected by dashboard admin";

    private static async Task<IResult> DecideAsync(HttpContext http, ControlCommands commands, string id, bool approve)
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
        var method = approve ? ControlProtocol.Methods.ApprovalApprove : ControlProtocol.Methods.ApprovalReject;
        return await Forward(http, commands, method, new JsonObject { ["id"] = id, ["reason"] = reason }).ConfigureAwait(false);
    }

    private static async Task<IResult> Forward(HttpContext http, ControlCommands commands, string method, JsonObject parameters)
    {
        // Every request runs as the authenticated credential (never as the control socket's operator): its label, role and
        // surface travel with an approval decision to the approval entity, which refuses a client credential and the
        // requester's own (ApprovalSeparation) and records who decided.
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        var decider = ApprovalDecider.UserApi(caller.UserToken!, caller.Minted);
        var response = ControlResponse.Parse(await commands.ExecuteAsync(null, method, parameters, decider, http.RequestAborted).ConfigureAwait(false));
        if (response.Ok) return Json(response.Result!);
        var status = response.ErrorType switch
        {
            "NotFound" => StatusCodes.Status404NotFound,
            "Conflict" => StatusCodes.Status409Conflict,
            "Forbidden" => StatusCodes.Status403Forbidden,
            "invalid_input" => StatusCodes.Status400BadRequest,
            "ServiceUnavailable" => StatusCodes.Status503ServiceUnavailable,
            _ => StatusCodes.Status500InternalServerError,
        };
        return Results.Json(new { error_type = response.ErrorType, message = response.ErrorMessage, status = response.ErrorData?["status"]?.GetValue<string>() },
            statusCode: status);
    }

    private static async Task<IResult> Forward(HttpContext http, ControlCommands commands, string method)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        var response = ControlResponse.Parse(await commands.ExecuteAsync(null, method, new JsonObject(), ApprovalDecider.UserApi(caller.UserToken!, caller.Minted),
            http.RequestAborted).ConfigureAwait(false));
        return response.Ok
            ? Json(response.Result!)
            : Results.Json(new { error_type = response.ErrorType, message = response.ErrorMessage }, statusCode: StatusCodes.Status500InternalServerError);
    }

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(CoreJson.Options), "application/json");
}
