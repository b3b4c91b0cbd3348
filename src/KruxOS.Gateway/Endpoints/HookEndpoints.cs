using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Calls;
using KruxOS.Core;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Auth;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// <c>POST /api/hook/decide</c> on the User API: the decision for one native tool call of a host CLI
/// (Claude Code, Codex), asked by <c>cli-hook</c> before the CLI runs its own tool (docs/cli-hook.md).
/// The call goes through the same pipeline as the user's MCP calls — same principal (the user token's
/// user), same user-context session, policy, approval queue and audit log — as a decide-only
/// <see cref="ToolCall"/> (<see cref="ToolCall.NativeTool"/> set): nothing is executed by the gateway.
/// <c>approval_required</c> never holds the request: it files (or re-attaches to) the approval and answers
/// <c>pending</c> at once; a single-use grant of the identical call is spent and answered <c>allow</c>.
/// </summary>
public static class HookEndpoints
{
    /// <summary>The clients a hook decision may be attributed to.</summary>
    public static readonly string[] Clients = ["claude-code", "codex"];

    /// <summary>Maps the endpoint on the (already authenticated) User API group.</summary>
    public static RouteHandlerBuilder MapHookDecisions(this RouteGroupBuilder api) =>
        api.MapPost("/hook/decide", (HttpContext http, CallDispatcher dispatcher) => DecideAsync(http, dispatcher));

    private static async Task<IResult> DecideAsync(HttpContext http, CallDispatcher dispatcher)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        var ct = http.RequestAborted;
        JsonElement body;
        try
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body, default, ct).ConfigureAwait(false);
            body = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return BadRequest("the body must be a JSON object {client, native_tool, capability, arguments, cwd?, session_id?}");
        }
        if (!TryRead(body, out var request, out var why)) return BadRequest(why);

        // Decide only: the gateway answers within DispatchTimeouts.Decision (deny on timeout; the hook's own budget is 10 s).
        var result = await dispatcher.DispatchAsync(new CallSubmission(caller.Principal, caller.Agent!.Value, SessionFor(request.Client, request.SessionId),
            request.Capability, request.Arguments, new ClientInfo(request.Client, ""), CallMode.DecideOnly, NativeTool: request.NativeTool), ct).ConfigureAwait(false);
        return Json(Render(request.Capability, result));
    }

    /// <summary>The wire answer for a pipeline result: <c>allow</c>, <c>pending</c> (with the approval id) or <c>deny</c> (with a code and a reason).</summary>
    public static JsonObject Render(string capability, ToolCallResult result)
    {
        var answer = new JsonObject { ["capability"] = result.Capability.Length > 0 ? result.Capability : capability };
        if (result.Tier is { } tier) answer["tier"] = tier.ToWire();
        if (result.Error is not { } e)
        {
            answer["decision"] = "allow";
            return answer;
        }
        if (e.ErrorType == "ApprovalPending" && e.ContextString("request_id") is { } id)
        {
            answer["decision"] = "pending";
            answer["approval_id"] = id;
            answer["reason"] = $"pending approval {id}, retry after it is approved";
            return answer;
        }
        answer["decision"] = "deny";
        answer["code"] = e.ErrorType;
        answer["reason"] = e.Message;
        return answer;
    }

    /// <summary>A validated decision request.</summary>
    public sealed record HookRequest(string Client, string NativeTool, string Capability, JsonElement Arguments, string? Cwd, string? SessionId);

    /// <summary>Validates the body at the boundary; every field is checked, unknown fields are refused.</summary>
    public static bool TryRead(JsonElement body, out HookRequest request, out string why)
    {
        request = null!;
        if (body.ValueKind != JsonValueKind.Object) { why = "the body must be a JSON object"; return false; }
        foreach (var p in body.EnumerateObject())
        {
            if (!ArgumentText.IsWellFormed(p)) { why = "a field name is not valid text"; return false; }
            if (p.Name is not ("client" or "native_tool" or "capability" or "arguments" or "cwd" or "session_id"))
            {
                why = $"unknown field '{Truncate(p.Name)}'";
                return false;
            }
        }
        if (!Text(body, "client", 32, required: true, out var client, out why)) return false;
        if (!Clients.Contains(client)) { why = $"'client' must be one of: {string.Join(", ", Clients)}"; return false; }
        if (!Text(body, "native_tool", 128, required: true, out var tool, out why)) return false;
        if (!Text(body, "capability", 128, required: true, out var capability, out why)) return false;
        if (!Text(body, "cwd", 4096, required: false, out var cwd, out why)) return false;
        if (!Text(body, "session_id", 256, required: false, out var session, out why)) return false;
        if (!body.TryGetProperty("arguments", out var args) || args.ValueKind != JsonValueKind.Object)
        {
            why = "'arguments' must be a JSON object";
            return false;
        }
        request = new HookRequest(client!, tool!, capability!, args.Clone(), cwd, session);
        why = "";
        return true;
    }

    // One user-context session per client session, named without revealing the client's id.
    private static string SessionFor(string client, string? sessionId)
    {
        if (string.IsNullOrEmpty(sessionId)) return "hook-" + SessionIds.New()[5..];
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(client + "\n" + sessionId));
        return "hook-" + Convert.ToHexStringLower(hash, 0, 8);
    }

    private static bool Text(JsonElement body, string name, int max, bool required, out string? value, out string why)
    {
        value = null;
        why = "";
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            if (!required) return true;
            why = $"'{name}' is required";
            return false;
        }
        if (v.ValueKind != JsonValueKind.String) { why = $"'{name}' must be a string"; return false; }
        if (ArgumentText.Find(v, name) is { } malformed) { why = $"'{name}' {malformed.Reason}"; return false; }
        var s = v.GetString()!;
        if (s.Length == 0 || s.Length > max) { why = $"'{name}' must be 1-{max} characters"; return false; }
        if (s.Any(char.IsControl)) { why = $"'{name}' must not contain control characters"; return false; }
        value = s;
        return true;
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";

    private static IResult BadRequest(string message) =>
        Results.Json(new { error_type = "invalid_input", message }, statusCode: StatusCodes.Status400BadRequest);

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(CoreJson.Options), "application/json");
}
