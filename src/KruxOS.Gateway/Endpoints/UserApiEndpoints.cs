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
        api.MapAuditApi();
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
