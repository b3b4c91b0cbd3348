using System.Text.Json.Nodes;
using KruxOS.Core;
using KruxOS.Core.Admin;

namespace KruxOS.Gateway.Admin;

/// <summary>How the User API (and later the dashboard's <c>/api</c>) answers admin records and typed errors over HTTP.</summary>
public static class AdminHttp
{
    /// <summary>The HTTP status of an error kind.</summary>
    public static int StatusOf(AdminErrorKind kind) => kind switch
    {
        AdminErrorKind.InvalidInput => StatusCodes.Status400BadRequest,
        AdminErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        AdminErrorKind.NotFound => StatusCodes.Status404NotFound,
        AdminErrorKind.Conflict => StatusCodes.Status409Conflict,
        AdminErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>An approval operation's error: <c>{error_type, message, status}</c> (status: the approval's, for a conflict).</summary>
    public static IResult Error(AdminError error) =>
        Results.Json(new { error_type = error.Code, message = error.Message, status = error.Status }, statusCode: StatusOf(error.Kind));

    /// <summary>A view's error (status): <c>{error_type, message}</c> with 500, as nothing the caller sent can be wrong.</summary>
    public static IResult ViewError(AdminError error) =>
        Results.Json(new { error_type = error.Code, message = error.Message }, statusCode: StatusCodes.Status500InternalServerError);

    /// <summary>A JSON body in the gateway's encoding.</summary>
    public static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(CoreJson.Options), "application/json");

    /// <summary>The record rendered by <paramref name="render"/>, or the approval-style error.</summary>
    public static IResult Answer<T>(AdminResult<T> result, Func<T, JsonNode> render) => result.IsOk ? Json(render(result.Value!)) : Error(result.Error!);
}
