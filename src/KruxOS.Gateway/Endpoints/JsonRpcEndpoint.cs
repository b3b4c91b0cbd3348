using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Approvals;
using KruxOS.Gateway.Control;
using KruxOS.Actors.Capabilities;
using KruxOS.Core;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Mcp;
using KruxOS.Core.Policy;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// The JSON-RPC 2.0 fallback on <c>POST /rpc</c> (spec §3.6) for clients without MCP: capability
/// discovery and invocation with dotted names, explicit sessions, batches, and the gateway's error codes
/// (-32000 rate limited, -32001 policy denied, -32002 approval pending, -32003 authentication failed).
/// </summary>
public sealed class JsonRpcEndpoint(
    Authenticator authenticator,
    CapabilityCatalog catalog,
    IPolicySeam policy,
    IRequiredActor<AgentSessionRegion> sessions,
    GatewaySettings settings,
    ApprovalIndex approvals,
    TimeProvider clock)
{
    /// <summary>Largest accepted request body.</summary>
    public const int MaxBodyBytes = 16 * 1024 * 1024;

    /// <summary>An <c>/rpc</c> session expires after this long without use.</summary>
    public static readonly TimeSpan SessionIdle = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, RpcSession> _sessions = new(StringComparer.Ordinal);

    /// <summary>Handles one POST.</summary>
    public async Task HandleAsync(HttpContext http)
    {
        var auth = authenticator.Authenticate(http, AuthSurface.Calls);
        if (!auth.Succeeded)
        {
            http.Response.StatusCode = auth.StatusCode;
            await WriteAsync(http, ErrorResponse(null, -32003, auth.Error!)).ConfigureAwait(false);
            return;
        }
        if (http.Request.ContentLength > MaxBodyBytes)
        {
            http.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            await WriteAsync(http, ErrorResponse(null, -32600, Errors.MessageTooLarge(MaxBodyBytes))).ConfigureAwait(false);
            return;
        }
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            await WriteAsync(http, Error(null, -32700, "Parse error: the body is not JSON")).ConfigureAwait(false);
            return;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                if (root.GetArrayLength() == 0)
                {
                    await WriteAsync(http, Error(null, -32600, "Invalid Request: empty batch")).ConfigureAwait(false);
                    return;
                }
                var responses = new JsonArray();
                foreach (var item in root.EnumerateArray())
                    if (await DispatchAsync(item, auth.Caller!, http.RequestAborted).ConfigureAwait(false) is { } r) responses.Add(r);
                if (responses.Count == 0) { http.Response.StatusCode = StatusCodes.Status204NoContent; return; }
                await WriteAsync(http, responses).ConfigureAwait(false);
                return;
            }
            var single = await DispatchAsync(root, auth.Caller!, http.RequestAborted).ConfigureAwait(false);
            if (single is null) { http.Response.StatusCode = StatusCodes.Status204NoContent; return; }
            await WriteAsync(http, single).ConfigureAwait(false);
        }
    }

    private async Task<JsonNode?> DispatchAsync(JsonElement request, AuthenticatedCaller caller, CancellationToken ct)
    {
        if (request.ValueKind != JsonValueKind.Object || !request.TryGetProperty("jsonrpc", out var v) || v.ValueKind != JsonValueKind.String || !v.ValueEquals("2.0")
            || !request.TryGetProperty("method", out var m) || m.ValueKind != JsonValueKind.String)
            return Error(IdOf(request), -32600, "Invalid Request: expected {jsonrpc:\"2.0\", method, params?, id?}");
        var id = IdOf(request);
        var isNotification = request.ValueKind == JsonValueKind.Object && !request.TryGetProperty("id", out _);
        // Nothing below decodes text that is not well-formed (a lone surrogate or invalid UTF-8 would throw there).
        if (ArgumentText.Find(m) is not null) return Error(id, -32600, "Invalid Request: 'method' is not valid text");
        var p = request.TryGetProperty("params", out var ps) ? ps : CoreJson.EmptyObject;
        if (p.ValueKind != JsonValueKind.Object) return Error(id, -32602, "Invalid params: params must be an object");
        var method = m.GetString()!;
        // The arguments of a call are the session's to check: it refuses malformed text as InvalidInput and audits it.
        var isCall = method is "capabilities.invoke" or "capabilities.call";
        foreach (var property in p.EnumerateObject())
        {
            if (!ArgumentText.IsWellFormed(property)) return Error(id, -32602, "Invalid params: a property name is not valid text");
            var name = property.Name;
            if (isCall && name is "arguments" or "inputs") continue;
            if (ArgumentText.Find(property.Value, name) is { } bad) return Error(id, -32602, $"Invalid params: '{bad.Field}' {bad.Reason}");
        }

        JsonNode response = method switch
        {
            "capabilities.list" => List(id, caller, p),
            "capabilities.describe" => Describe(id, caller, p),
            "capabilities.invoke" or "capabilities.call" => await InvokeAsync(id, caller, p, ct).ConfigureAwait(false),
            "session.create" => CreateSession(id, caller),
            "session.end" => EndSession(id, caller, p),
            "approvals.check" => CheckApproval(id, caller, p),
            var other => Error(id, -32601, $"Method not found: '{other}'"),
        };
        return isNotification ? null : response;
    }

    private JsonNode List(JsonNode? id, AuthenticatedCaller caller, JsonElement p)
    {
        string? category = p.TryGetProperty("category", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        var list = new JsonArray();
        foreach (var d in catalog.Registry.All)
        {
            if (category is not null && d.Name.Category != category) continue;
            var tier = policy.VisibleTier(caller.Principal, d);
            if (tier == Tier.Blocked) continue;
            list.Add(new JsonObject
            {
                ["name"] = d.Name.Value,
                ["version"] = d.Version,
                ["purpose"] = d.Purpose,
                ["permission_tier"] = tier.ToWire(),
                ["inputs"] = Inputs(d),
                ["outputs"] = new JsonArray([.. d.Outputs.Select(o => (JsonNode)new JsonObject { ["name"] = o.Name, ["type"] = o.Type, ["description"] = o.Description })]),
            });
        }
        return Result(id, new JsonObject { ["capabilities"] = list });
    }

    private JsonNode Describe(JsonNode? id, AuthenticatedCaller caller, JsonElement p)
    {
        var name = p.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        if (name is null) return Error(id, -32602, "Invalid params: 'name' is required");
        if (!catalog.Registry.TryResolve(name, out var d) || policy.VisibleTier(caller.Principal, d) == Tier.Blocked)
            return Result(id, Failure(Errors.UnknownCapability(name)));
        return Result(id, new JsonObject
        {
            ["name"] = d.Name.Value,
            ["version"] = d.Version,
            ["purpose"] = d.Purpose,
            ["when_to_use"] = d.WhenToUse,
            ["permission_tier"] = policy.VisibleTier(caller.Principal, d).ToWire(),
            ["inputs"] = Inputs(d),
            ["input_schema"] = JsonNode.Parse(InputSchema.For(d).GetRawText()),
            ["outputs"] = new JsonArray([.. d.Outputs.Select(o => (JsonNode)new JsonObject { ["name"] = o.Name, ["type"] = o.Type, ["description"] = o.Description })]),
            ["errors"] = new JsonArray([.. d.Errors.Select(e => (JsonNode)new JsonObject
            {
                ["type"] = e.Type,
                ["description"] = e.Description,
                ["recovery"] = new JsonArray([.. e.Recovery.Select(r => (JsonNode)ToolCatalogView.RecoveryNode(r))]),
            })]),
            ["side_effects"] = new JsonArray([.. d.SideEffects.Select(e => (JsonNode)new JsonObject { ["description"] = e.Description, ["reversible"] = e.Reversible })]),
            ["common_patterns"] = new JsonArray([.. d.CommonPatterns.Select(p => (JsonNode)new JsonObject
            {
                ["description"] = p.Description,
                ["steps"] = new JsonArray([.. p.Steps.Select(step => (JsonNode)JsonValue.Create(step))]),
            })]),
            ["tags"] = new JsonArray([.. d.Tags.Select(t => (JsonNode)JsonValue.Create(t)!)]),
        });
    }

    private async Task<JsonNode> InvokeAsync(JsonNode? id, AuthenticatedCaller caller, JsonElement p, CancellationToken ct)
    {
        var name = p.TryGetProperty("capability", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        if (name is null) return Error(id, -32602, "Invalid params: 'capability' is required");
        var args = p.TryGetProperty("arguments", out var a) ? a : p.TryGetProperty("inputs", out var i) ? i : CoreJson.EmptyObject;
        string sessionId;
        StructuredError? expired = null;
        if (p.TryGetProperty("session_id", out var s) && s.ValueKind == JsonValueKind.String)
        {
            sessionId = s.GetString()!;
            // Refused by the agent's session (EdgeRefusal), so the attempt is audited like any refused call.
            if (!TouchSession(sessionId, caller))
                expired = StructuredError.Create("SessionExpired", $"Session '{sessionId}' has expired")
                    .WithRecovery("reconnect", "Create a new session with session.create.").WithContext("session_id", sessionId);
        }
        else
        {
            sessionId = "rpc-" + SessionIds.New()[5..];
        }
        // No hold on /rpc: a call needing approval is answered at once with -32002 and the request id.
        var call = new ToolCall(caller.Principal, caller.Agent!.Value, sessionId, name, args.Clone(), new ClientInfo("jsonrpc", ""), HoldForApproval: false,
            EdgeRefusal: expired).WithCheckedText();
        var region = await sessions.GetAsync(ct).ConfigureAwait(false);
        ToolCallResult result;
        try
        {
            result = await region.Ask<ToolCallResult>(new Func<IActorRef, object>(replyTo => new AgentSessionCommands.Invoke(call.Agent, call, replyTo)), settings.CallTimeout, ct).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            result = ToolCallResult.Failure(name, Errors.Timeout(name, settings.CallTimeout.TotalSeconds), null, 0);
        }
        if (result.Error is { } e)
        {
            return e.ErrorType switch
            {
                "PolicyDenied" => ErrorResponse(id, -32001, e),
                "ApprovalPending" => ErrorResponse(id, -32002, e),
                "RateLimited" => ErrorResponse(id, -32000, e),
                _ => Result(id, Failure(e)),
            };
        }
        return Result(id, new JsonObject { ["success"] = true, ["data"] = JsonNode.Parse(result.Data!.Value.GetRawText()) });
    }

    private JsonNode CheckApproval(JsonNode? id, AuthenticatedCaller caller, JsonElement p)
    {
        var text = p.TryGetProperty("request_id", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        if (!ApprovalId.TryParse(text, out var approvalId)) return Error(id, -32602, "Invalid params: 'request_id' must be an approval id (appr-…)");
        if (approvals.Get(approvalId) is not { } state || state.Request!.Agent != caller.Agent)
            return Result(id, new JsonObject { ["request_id"] = text, ["status"] = "not_found" });
        var json = ControlCommands.ApprovalJson(state, clock.GetUtcNow(), false);
        json["request_id"] = text;
        json["reason"] = state.Decision?.Reason;
        json["decided_by"] = state.Decision?.DecidedBy;
        return Result(id, json);
    }

    private JsonNode CreateSession(JsonNode? id, AuthenticatedCaller caller)
    {
        Sweep();
        var sessionId = SessionIds.New();
        var now = clock.GetUtcNow();
        _sessions[sessionId] = new RpcSession(caller.Principal.ToString(), now) { LastUsed = now };
        return Result(id, new JsonObject { ["session_id"] = sessionId, ["agent"] = caller.Agent?.Value, ["created_at"] = now.ToString("O") });
    }

    private JsonNode EndSession(JsonNode? id, AuthenticatedCaller caller, JsonElement p)
    {
        var sessionId = p.TryGetProperty("session_id", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        if (sessionId is null) return Error(id, -32602, "Invalid params: 'session_id' is required");
        var ended = _sessions.TryGetValue(sessionId, out var existing) && existing.Principal == caller.Principal.ToString() && _sessions.TryRemove(sessionId, out _);
        return Result(id, new JsonObject { ["session_id"] = sessionId, ["ended"] = ended });
    }

    private bool TouchSession(string sessionId, AuthenticatedCaller caller)
    {
        if (!_sessions.TryGetValue(sessionId, out var session) || session.Principal != caller.Principal.ToString()) return false;
        var now = clock.GetUtcNow();
        if (now - session.LastUsed > SessionIdle) { _sessions.TryRemove(sessionId, out _); return false; }
        session.LastUsed = now;
        return true;
    }

    private void Sweep()
    {
        var now = clock.GetUtcNow();
        foreach (var (key, s) in _sessions)
            if (now - s.LastUsed > SessionIdle) _sessions.TryRemove(key, out _);
    }

    private static JsonArray Inputs(CapabilityDefinition d) =>
        new([.. d.Inputs.Select(i =>
        {
            var o = new JsonObject { ["name"] = i.Name, ["type"] = i.Type.ToWire(), ["required"] = i.Required, ["description"] = i.Description };
            if (i.Default is { } def) o["default"] = JsonNode.Parse(def.GetRawText());
            return (JsonNode)o;
        })]);

    private static JsonObject Failure(StructuredError e) => new()
    {
        ["success"] = false,
        ["error"] = new JsonObject
        {
            ["type"] = e.ErrorType,
            ["message"] = e.Message,
            ["recovery"] = new JsonArray([.. e.Recovery.Select(r => (JsonNode)ToolCatalogView.RecoveryNode(r))]),
            ["context"] = ToolCatalogView.ContextNode(e),
        },
    };

    // A JSON-RPC id is a string, a number or null; anything else (or text that is not well-formed) is answered with a null id.
    private static JsonNode? IdOf(JsonElement request) =>
        request.ValueKind == JsonValueKind.Object && request.TryGetProperty("id", out var id)
        && id.ValueKind is JsonValueKind.String or JsonValueKind.Number && ArgumentText.Find(id) is null
            ? JsonNode.Parse(id.GetRawText())
            : null;

    private static JsonObject Result(JsonNode? id, JsonNode result) => new() { ["jsonrpc"] = "2.0", ["id"] = id, ["result"] = result };

    private static JsonObject Error(JsonNode? id, int code, string message) =>
        new() { ["jsonrpc"] = "2.0", ["id"] = id, ["error"] = new JsonObject { ["code"] = code, ["message"] = message } };

    private static JsonObject ErrorResponse(JsonNode? id, int code, StructuredError e) =>
        new() { ["jsonrpc"] = "2.0", ["id"] = id, ["error"] = new JsonObject { ["code"] = code, ["message"] = e.Message, ["data"] = ErrorData(e) } };

    /// <summary>
    /// The <c>data</c> of a JSON-RPC error: <c>{type, message, recovery}</c> and the error's context. A rate limit
    /// carries spec §3.4's <c>{retry_after_seconds, limit, window}</c>, the window as text (<c>"1h"</c>), next to
    /// <c>window_seconds</c>.
    /// </summary>
    internal static JsonObject ErrorData(StructuredError e)
    {
        var data = new JsonObject
        {
            ["type"] = e.ErrorType,
            ["message"] = e.Message,
            ["recovery"] = new JsonArray([.. e.Recovery.Select(r => (JsonNode)ToolCatalogView.RecoveryNode(r))]),
        };
        foreach (var (k, v) in e.Context) data[k] = JsonNode.Parse(v.GetRawText());
        if (e.RetryAfterSeconds is { } ra) data["retry_after_seconds"] = ra;
        if (e.Context.TryGetValue("window_seconds", out var window) && window.ValueKind == JsonValueKind.Number && window.TryGetInt64(out var seconds))
            data["window"] = RateWindowText.Format(seconds);
        return data;
    }

    private static Task WriteAsync(HttpContext http, JsonNode body)
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(body.ToJsonString(CoreJson.Options), http.RequestAborted);
    }

    private sealed record RpcSession(string Principal, DateTimeOffset CreatedAt)
    {
        public DateTimeOffset LastUsed { get; set; }
    }
}
