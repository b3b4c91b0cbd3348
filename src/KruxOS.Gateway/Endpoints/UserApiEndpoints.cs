using System.Text.Json.Nodes;
using KruxOS.Actors.Identity;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Control;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// The loopback User API (spec §4.2), authenticated by <c>krx_user_…</c> tokens. It serves the same
/// views as the control socket to tools that hold a user token instead of root.
/// </summary>
public static class UserApiEndpoints
{
    /// <summary>Maps the User API on its listener.</summary>
    public static void MapUserApi(this WebApplication app)
    {
        var api = app.MapGroup("/api").On(Listener.UserApi).AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var auth = http.RequestServices.GetRequiredService<Authenticator>().Authenticate(http, allowUserTokens: true);
            if (!auth.Succeeded)
            {
                await HttpErrors.WriteAsync(http, auth.StatusCode, auth.Error!).ConfigureAwait(false);
                return Results.Empty;
            }
            if (auth.Caller!.Principal.Kind != PrincipalKind.User)
            {
                await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden,
                    Core.Errors.StructuredError.Create("auth.user_token_required", "The User API accepts user tokens (krx_user_…) only.")
                        .WithRecovery("use_user_token", "Create one with 'kruxos user-token create <label>'.")).ConfigureAwait(false);
                return Results.Empty;
            }
            http.Items["kruxos.caller"] = auth.Caller;
            return await next(ctx).ConfigureAwait(false);
        });

        api.MapGet("/user/whoami", (HttpContext http) =>
        {
            var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
            return Json(new JsonObject { ["kind"] = "user", ["label"] = caller.Principal.Name, ["token_id"] = caller.UserTokenId });
        });
        api.MapGet("/status", (HttpContext http, ControlCommands commands) => Forward(http, commands, ControlProtocol.Methods.Status));
        api.MapGet("/agents", (HttpContext http, ControlCommands commands) => Forward(http, commands, ControlProtocol.Methods.AgentList));
        api.MapGet("/user/tokens", (HttpContext http, ControlCommands commands) => Forward(http, commands, ControlProtocol.Methods.UserTokenList));

        // Approvals (spec §4.1): 404 for an unknown id, 409 with {status} when already decided or timed out.
        api.MapGet("/approvals", (HttpContext http, ControlCommands commands, string? status) =>
            Forward(http, commands, ControlProtocol.Methods.ApprovalList, status is null ? new JsonObject() : new JsonObject { ["status"] = status }));
        api.MapGet("/approvals/{id}", (HttpContext http, ControlCommands commands, string id) =>
            Forward(http, commands, ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id }));
        api.MapPost("/approvals/{id}/approve", (HttpContext http, ControlCommands commands, string id) => DecideAsync(http, commands, id, true));
        api.MapPost("/approvals/{id}/reject", (HttpContext http, ControlCommands commands, string id) => DecideAsync(http, commands, id, false));
        api.MapAuditApi();
        api.MapHookDecisions();
    }

    /// <summary>The reason recorded when a reject through the User API (the dashboard's) gives none (spec §4.1).</summary>
    public const string DefaultRejectReason = "Rejected by dashboard admin";

    private static async Task<IResult> DecideAsync(HttpContext http, ControlCommands commands, string id, bool approve)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
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
        return await Forward(http, commands, method, new JsonObject { ["id"] = id, ["reason"] = reason }, $"user:{caller.Principal.Name}").ConfigureAwait(false);
    }

    private static async Task<IResult> Forward(HttpContext http, ControlCommands commands, string method, JsonObject parameters, string decidedBy = "user")
    {
        var response = ControlResponse.Parse(await commands.ExecuteAsync(null, method, parameters, decidedBy, http.RequestAborted).ConfigureAwait(false));
        if (response.Ok) return Json(response.Result!);
        var status = response.ErrorType switch
        {
            "NotFound" => StatusCodes.Status404NotFound,
            "Conflict" => StatusCodes.Status409Conflict,
            "invalid_input" => StatusCodes.Status400BadRequest,
            "ServiceUnavailable" => StatusCodes.Status503ServiceUnavailable,
            _ => StatusCodes.Status500InternalServerError,
        };
        return Results.Json(new { error_type = response.ErrorType, message = response.ErrorMessage, status = response.ErrorData?["status"]?.GetValue<string>() },
            statusCode: status);
    }

    private static async Task<IResult> Forward(HttpContext http, ControlCommands commands, string method)
    {
        var response = ControlResponse.Parse(await commands.ExecuteAsync(null, method, new JsonObject(), http.RequestAborted).ConfigureAwait(false));
        return response.Ok
            ? Json(response.Result!)
            : Results.Json(new { error_type = response.ErrorType, message = response.ErrorMessage }, statusCode: StatusCodes.Status500InternalServerError);
    }

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(CoreJson.Options), "application/json");
}
