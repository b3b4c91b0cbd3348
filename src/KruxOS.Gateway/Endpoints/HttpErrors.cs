using System.Text.Json.Nodes;
using KruxOS.Core;
using KruxOS.Core.Errors;
using KruxOS.Gateway.Mcp;

namespace KruxOS.Gateway.Endpoints;

/// <summary>Renders a <see cref="StructuredError"/> as an HTTP JSON error body (spec §3.7 field names).</summary>
public static class HttpErrors
{
    /// <summary>
    /// The body: <c>{error_type, description, agent_description, message, recovery_actions, retryable, retry_after, context}</c>.
    /// The gateway words each error once, for operators and agents alike, so <c>description</c> and
    /// <c>agent_description</c> carry the same text; <c>message</c> repeats it for clients written against the
    /// MCP/JSON-RPC shapes (and older cli-hook builds), which name it that way.
    /// </summary>
    public static JsonObject Body(StructuredError error)
    {
        var o = new JsonObject
        {
            ["error_type"] = error.ErrorType,
            ["description"] = error.Message,
            ["agent_description"] = error.Message,
            ["message"] = error.Message,
            ["recovery_actions"] = new JsonArray([.. error.Recovery.Select(r => (JsonNode)ToolCatalogView.RecoveryNode(r))]),
            ["retryable"] = error.Retryable,
            ["retry_after"] = error.RetryAfterSeconds,
        };
        if (!error.Context.IsEmpty) o["context"] = ToolCatalogView.ContextNode(error);
        return o;
    }

    /// <summary>Writes the error with a status code (and <c>Retry-After</c> / <c>WWW-Authenticate</c> where they apply).</summary>
    public static Task WriteAsync(HttpContext http, int status, StructuredError error)
    {
        http.Response.StatusCode = status;
        if (error.RetryAfterSeconds is { } ra) http.Response.Headers.RetryAfter = ((int)Math.Ceiling(ra)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (status == StatusCodes.Status401Unauthorized) http.Response.Headers.WWWAuthenticate = "Bearer";
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(Body(error).ToJsonString(CoreJson.Options), http.RequestAborted);
    }
}
