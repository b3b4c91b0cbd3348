using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Pauses;
using KruxOS.Capabilities;
using KruxOS.Core;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Audit;
using KruxOS.Core.Errors;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Identity;
using KruxOS.Core.Policy;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Endpoints;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The dashboard's REST API under <c>/api</c> on the dashboard listener (spec §4.1 shapes), a thin adapter over the admin
/// services like the control socket and the User API. Authenticated by the session cookie or a bearer user token
/// (<see cref="DashboardAuth"/>); every state change is same-origin and, with a cookie, carries the anti-forgery token;
/// changes need an operator credential; decisions go through <see cref="ApprovalAdmin"/> as the caller's token.
/// </summary>
public static class DashboardApi
{
    /// <summary>Endpoint metadata: the endpoint changes state (POST): origin, anti-forgery token and operator role are checked first.</summary>
    public sealed record StateChange;

    /// <summary>Maps the API.</summary>
    public static void MapDashboardApi(this WebApplication app)
    {
        var api = app.MapGroup("/api").On(Listener.Dashboard).AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            http.Response.Headers.CacheControl = "no-store";
            var auth = http.RequestServices.GetRequiredService<DashboardAuth>();
            var caller = await auth.AuthenticateAsync(http).ConfigureAwait(false);
            if (caller is null) return Results.Empty;
            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
            {
                if (DashboardAuth.CheckStateChange(http, caller, http.Request.Headers[DashboardAuth.CsrfHeader].ToString()) is { } refused)
                {
                    await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden, refused).ConfigureAwait(false);
                    return Results.Empty;
                }
                // Approval decisions are judged by the approval entity (separation of duties); everything else needs an operator here.
                if (!caller.IsOperator && http.GetEndpoint()?.Metadata.GetMetadata<DecisionEndpoint>() is null)
                {
                    await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden, StructuredError.Create("auth.role_forbidden",
                            $"The user token '{caller.Token.Label}' is a client token: only operator tokens change anything on the dashboard.")
                        .WithRecovery("use_operator_token", "Use an operator token ('kruxos user-token create <label> --role operator').")).ConfigureAwait(false);
                    return Results.Empty;
                }
            }
            return await next(ctx).ConfigureAwait(false);
        });

        api.MapGet("/user/whoami", (HttpContext http) =>
        {
            var c = DashboardAuth.Caller(http);
            return AdminHttp.Json(new JsonObject
            {
                ["kind"] = "user",
                ["label"] = c.Token.Label,
                ["token_id"] = c.Token.Id,
                ["role"] = c.Token.Role.ToWire(),
                ["credential_type"] = c.Session is null ? "user_token" : "session",
            });
        });
        api.MapGet("/status", StatusAsync);
        api.MapGet("/agents", (AgentAdmin agents, PauseAdmin pauses) =>
            AdminHttp.Json(new JsonObject { ["agents"] = new JsonArray([.. agents.List().Select(a => (JsonNode)Agent(a, pauses))]) }));
        api.MapGet("/agents/{name}", (string name, AgentAdmin agents, IPolicyView policy, PauseAdmin pauses) =>
        {
            var shown = agents.Show(name);
            if (!shown.IsOk) return AdminHttp.Error(shown.Error!);
            var json = AdminJson.AgentDetails(shown.Value!);
            json["total_invocations"] = shown.Value!.View.Activity.Invocations;
            json["paused"] = pauses.IsPaused(shown.Value.View.Agent.Name);
            json["policy"] = Policy(policy.Effective(Principal.ForAgent(AgentName.Parse(shown.Value.View.Agent.Name))));
            return AdminHttp.Json(json);
        });
        api.MapPost("/agents", CreateAgentAsync).WithMetadata(new StateChange());
        api.MapPost("/agents/{name}/rotate", async (HttpContext http, string name, AgentAdmin agents, GatewayEndpoints endpoints) =>
            Issued(await agents.RotateAsync(name, http.RequestAborted).ConfigureAwait(false), endpoints));
        api.MapPost("/agents/{name}/restore", async (HttpContext http, string name, AgentAdmin agents, GatewayEndpoints endpoints) =>
            Issued(await agents.RestoreAsync(name, http.RequestAborted).ConfigureAwait(false), endpoints));
        api.MapPost("/agents/{name}/revoke", async (HttpContext http, string name, AgentAdmin agents) =>
            AdminHttp.Answer(await agents.RevokeAsync(name, http.RequestAborted).ConfigureAwait(false), AdminJson.AgentRevocation));
        api.MapPost("/agents/{name}/kill", async (HttpContext http, string name, AgentAdmin agents) =>
            AdminHttp.Answer(await agents.KillAsync(name, http.RequestAborted).ConfigureAwait(false), AdminJson.Kill));
        // Pause/resume (durable; the agent's calls fail fast with SessionPaused, its connections stay open), recorded as user:<label>.
        api.MapPost("/agents/{name}/pause", async (HttpContext http, string name, PauseAdmin pauses) =>
            AdminHttp.Answer(await pauses.PauseAsync(name, ActingAs(http), http.RequestAborted).ConfigureAwait(false), AdminJson.Pause));
        api.MapPost("/agents/{name}/resume", async (HttpContext http, string name, PauseAdmin pauses) =>
            AdminHttp.Answer(await pauses.ResumeAsync(name, ActingAs(http), http.RequestAborted).ConfigureAwait(false), AdminJson.Pause));

        api.MapGet("/approvals", async (HttpContext http, ApprovalAdmin approvals, string? status) =>
            AdminHttp.Answer(await approvals.ListAsync(status, http.RequestAborted).ConfigureAwait(false), AdminJson.Approvals));
        api.MapGet("/approvals/{id}", async (HttpContext http, ApprovalAdmin approvals, string id) =>
            AdminHttp.Answer(await approvals.ShowAsync(id, http.RequestAborted).ConfigureAwait(false), a => AdminJson.Approval(a, true)));
        api.MapGet("/approvals/{id}/preview", async (HttpContext http, ApprovalAdmin approvals, ApprovalPreview preview, string id) =>
        {
            if (!DashboardAuth.Caller(http).IsOperator)
                return Results.Json(new { error_type = "Forbidden", message = "only operator credentials see what approving would change (it reads the agent's files)" },
                    statusCode: StatusCodes.Status403Forbidden);
            var shown = await approvals.ShowAsync(id, http.RequestAborted).ConfigureAwait(false);
            if (!shown.IsOk) return AdminHttp.Error(shown.Error!);
            return AdminHttp.Json(await preview.PreviewAsync(shown.Value!, http.RequestAborted).ConfigureAwait(false));
        });
        api.MapPost("/approvals/{id}/approve", (HttpContext http, ApprovalAdmin approvals, string id) => DecideAsync(http, approvals, id, true))
            .WithMetadata(new DecisionEndpoint());
        api.MapPost("/approvals/{id}/reject", (HttpContext http, ApprovalAdmin approvals, string id) => DecideAsync(http, approvals, id, false))
            .WithMetadata(new DecisionEndpoint());

        api.MapGet("/activity", (HttpContext http, DashboardActivity activity) =>
        {
            var q = http.Request.Query;
            var limit = Int(q["limit"], 50, 1, DashboardActivity.Kept);
            var offset = Int(q["offset"], 0, 0, DashboardActivity.Kept);
            if (limit is null || offset is null)
                return Results.Json(new { error_type = "InvalidInput", message = "limit must be 1–200 and offset 0–200" }, statusCode: StatusCodes.Status400BadRequest);
            var filter = ActivityFilter.From(q);
            var all = activity.Recent(filter.Matches);
            return AdminHttp.Json(new JsonObject
            {
                ["events"] = new JsonArray([.. all.Skip(offset.Value).Take(limit.Value).Select(e => (JsonNode)DashboardActivity.ToJson(e))]),
                ["total"] = all.Count,
                ["limit"] = limit,
                ["offset"] = offset,
                ["scope"] = "node",
            });
        });
        api.MapGet("/activity/stream", StreamAsync);

        api.MapGet("/audit", async (HttpContext http, AuditQueries audit) =>
        {
            if (!AuditApi.TryParse(http.Request.Query, out var query, out var error))
                return Results.Json(HttpErrors.Body(error!), statusCode: StatusCodes.Status400BadRequest);
            var (page, report) = await audit.QueryAsync(query!, http.RequestAborted).ConfigureAwait(false);
            return AdminHttp.Json(new JsonObject
            {
                ["entries"] = new JsonArray([.. page.Entries.Select(e => (JsonNode)KruxOS.Audit.AuditJson.ToJson(e))]),
                ["total"] = page.Total,
                ["limit"] = page.Limit,
                ["offset"] = page.Offset,
                ["integrity"] = KruxOS.Audit.AuditJson.Integrity(report),
            });
        });
        api.MapGet("/audit/export", ExportAsync);

        api.MapDashboardSecrets();
        api.MapDashboardAlerts();
        api.MapDashboardProxy();
    }

    /// <summary>Who a change is recorded as: <c>user:&lt;label&gt;</c> of the caller's token, as its approval decisions are.</summary>
    private static string ActingAs(HttpContext http) => ApprovalDecider.DashboardSession(DashboardAuth.Caller(http).Token).DecidedBy;

    /// <summary>Endpoint metadata: an approval decision, which the approval entity judges (client tokens are refused there, audited).</summary>
    public sealed record DecisionEndpoint;

    /// <summary>The most entries one export holds.</summary>
    public const int MaxExport = 10_000;

    private static async Task<IResult> StatusAsync(HttpContext http, StatusService status, AuditQueries audit)
    {
        var report = await status.StatusAsync(http.RequestAborted).ConfigureAwait(false);
        if (!report.IsOk) return AdminHttp.ViewError(report.Error!);
        var s = report.Value!;
        // The spec's 24-hour counters, from the audit log itself (this node's directory).
        var invoked = await audit.QueryAsync(new AuditQuery { Last = TimeSpan.FromHours(24), Limit = 1 }, http.RequestAborted).ConfigureAwait(false);
        var denied = new AuditQuery { Last = TimeSpan.FromHours(24), Limit = 1 };
        denied.TryWithOutcome("denied", out denied);
        var violations = await audit.QueryAsync(denied, http.RequestAborted).ConfigureAwait(false);
        var json = AdminJson.Status(s);
        json["active_agents"] = s.Agents.Active;
        json["pending_approvals"] = s.PendingApprovals;
        json["capabilities_invoked_24h"] = invoked.Page.Total;
        json["policy_violations_24h"] = violations.Page.Total;
        json["audit_integrity"] = KruxOS.Audit.AuditJson.Integrity(violations.Integrity);
        json["scope"] = "node";
        return AdminHttp.Json(json);
    }

    private static async Task<IResult> CreateAgentAsync(HttpContext http, AgentAdmin agents, GatewayEndpoints endpoints)
    {
        var body = await ReadBodyAsync(http).ConfigureAwait(false);
        if (body is null) return Results.Json(new { error_type = "invalid_input", message = "the body must be {\"name\": \"…\", \"purpose\": \"…\"}" }, statusCode: 400);
        var name = Str(body, "name");
        var purpose = Str(body, "purpose") ?? "";
        return Issued(await agents.CreateAsync(name, purpose, http.RequestAborted).ConfigureAwait(false), endpoints);
    }

    // A new token is shown once, with a ready .mcp.json for Claude Code; never cached.
    private static IResult Issued(AdminResult<AgentIssued> result, GatewayEndpoints endpoints)
    {
        if (!result.IsOk) return AdminHttp.Error(result.Error!);
        var json = AdminJson.AgentIssued(result.Value!);
        var snippet = BootstrapService.Snippet(result.Value!.Token, endpoints.Current());
        snippet["mcpServers"]!["kruxos"]!["env"]!["KRUXOS_AGENT_NAME"] = result.Value.Agent.Agent.Name;
        json["mcp_json"] = snippet.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        return AdminHttp.Json(json);
    }

    private static async Task<IResult> DecideAsync(HttpContext http, ApprovalAdmin approvals, string id, bool approve)
    {
        var reason = "";
        if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            var body = await ReadBodyAsync(http).ConfigureAwait(false);
            if (body is null) return Results.Json(new { error_type = "invalid_input", message = "the body must be {\"reason\": \"…\"}" }, statusCode: 400);
            reason = Str(body, "reason") ?? "";
        }
        if (!approve && string.IsNullOrWhiteSpace(reason)) reason = UserApiEndpoints.DefaultRejectReason;
        var caller = DashboardAuth.Caller(http);
        return AdminHttp.Answer(await approvals.DecideAsync(id, approve, ApprovalDecider.DashboardSession(caller.Token), reason, http.RequestAborted).ConfigureAwait(false),
            a => AdminJson.Approval(a, true));
    }

    private static async Task StreamAsync(HttpContext http, SupervisionFeed feed)
    {
        var filter = ActivityFilter.From(http.Request.Query);
        http.Response.Headers.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        using var subscription = feed.Subscribe(filter.Agent, filter.Types);
        var ct = http.RequestAborted;
        try
        {
            await http.Response.WriteAsync(": kruxos activity (this node)\n\n", ct).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            using var heartbeat = new PeriodicTimer(TimeSpan.FromSeconds(15));
            var next = subscription.Events.ReadAsync(ct).AsTask();
            var tick = heartbeat.WaitForNextTickAsync(ct).AsTask();
            while (!ct.IsCancellationRequested)
            {
                var done = await Task.WhenAny(next, tick).ConfigureAwait(false);
                if (done == tick)
                {
                    await tick.ConfigureAwait(false);
                    await http.Response.WriteAsync(": keep-alive\n\n", ct).ConfigureAwait(false);
                    tick = heartbeat.WaitForNextTickAsync(ct).AsTask();
                }
                else
                {
                    var e = await next.ConfigureAwait(false);
                    if (filter.Matches(e))
                        await http.Response.WriteAsync($"event: {e.Type}\ndata: {DashboardActivity.ToJson(e).ToJsonString(CoreJson.Options)}\n\n", ct).ConfigureAwait(false);
                    next = subscription.Events.ReadAsync(ct).AsTask();
                }
                await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Threading.Channels.ChannelClosedException) { }
    }

    private static async Task ExportAsync(HttpContext http, AuditQueries audit)
    {
        if (!AuditApi.TryParse(http.Request.Query, out var query, out var error))
        {
            await HttpErrors.WriteAsync(http, StatusCodes.Status400BadRequest, error!).ConfigureAwait(false);
            return;
        }
        http.Response.ContentType = "application/json";
        http.Response.Headers.ContentDisposition = "attachment; filename=\"kruxos-audit-export.json\"";
        var entries = new JsonArray();
        var q = query! with { Offset = 0, Limit = AuditQuery.MaxLimit };
        AuditQueryResult? last = null;
        while (entries.Count < MaxExport)
        {
            last = await audit.QueryAsync(q, http.RequestAborted).ConfigureAwait(false);
            foreach (var e in last.Page.Entries)
                if (entries.Count < MaxExport) entries.Add(KruxOS.Audit.AuditJson.ToJson(e));
            if (last.Page.Entries.Count < q.Limit) break;
            q = q with { Offset = q.Offset + q.Limit };
        }
        var json = new JsonObject
        {
            ["exported_at"] = DateTimeOffset.UtcNow.ToString("O"),
            ["filters"] = new JsonObject([.. http.Request.Query.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value.ToString()))]),
            ["total"] = last?.Page.Total ?? 0,
            ["exported"] = entries.Count,
            ["integrity"] = last is null ? null : KruxOS.Audit.AuditJson.Integrity(last.Integrity),
            ["entries"] = entries,
        };
        await http.Response.WriteAsync(json.ToJsonString(CoreJson.Options), http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>An agent in the spec's shape (<c>total_invocations</c>) besides the admin fields.</summary>
    private static JsonObject Agent(AgentView view, PauseAdmin pauses)
    {
        var json = AdminJson.Agent(view);
        json["total_invocations"] = view.Activity.Invocations;
        json["paused"] = pauses.IsPaused(view.Agent.Name);
        return json;
    }

    private static JsonObject Policy(EffectivePolicy effective) => new()
    {
        ["policy_group"] = effective.PolicyGroup,
        ["policy_revision"] = effective.PolicyRevision,
        ["default_tier"] = effective.DefaultTier?.ToWire(),
        ["rules"] = new JsonArray([.. effective.Rules.Select(r => (JsonNode)new JsonObject
        {
            ["capability"] = r.Capability,
            ["tier"] = r.Tier.ToWire(),
            ["reason"] = r.Reason,
            ["rate_limit"] = r.RateLimit?.ToString(),
            ["rule"] = r.RuleReference,
            ["layer"] = r.Layer.ToString().ToLowerInvariant(),
            ["conditions"] = new JsonArray([.. r.Conditions.Select(c => (JsonNode)JsonValue.Create(c))]),
        })]),
    };

    /// <summary>The body as a JSON object (at most 64 KiB), or null when it is not one.</summary>
    private static async Task<JsonObject?> ReadBodyAsync(HttpContext http)
    {
        if (http.Request.ContentLength is > 64 * 1024) return null;
        try
        {
            using var buffer = new MemoryStream();
            await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
            if (buffer.Length > 64 * 1024) return null;
            if (buffer.Length == 0) return [];
            return JsonNode.Parse(Encoding.UTF8.GetString(buffer.ToArray())) as JsonObject;
        }
        catch (JsonException) { return null; }
    }

    private static string? Str(JsonObject body, string name) =>
        body[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(Microsoft.Extensions.Primitives.StringValues value, int fallback, int min, int max)
    {
        if (value.Count == 0 || string.IsNullOrEmpty(value[0])) return fallback;
        return int.TryParse(value[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= min && n <= max ? n : null;
    }

    /// <summary>The activity filters: <c>agent</c>, <c>type</c> (comma list), <c>capability</c> (exact, or a prefix with <c>.*</c>), <c>status</c> (ok|error).</summary>
    private sealed record ActivityFilter(string? Agent, IReadOnlySet<string> Types, string? Capability, string? Status)
    {
        public static ActivityFilter From(IQueryCollection q) => new(
            q["agent"] is [{ Length: > 0 } a] ? a : null,
            (q["type"] is [{ Length: > 0 } t] ? t : "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
            q["capability"] is [{ Length: > 0 } c] ? c : null,
            q["status"] is [{ Length: > 0 } s] ? s : null);

        public bool Matches(Core.Supervision.SupervisionEvent e)
        {
            if (Agent is not null && e.Agent != Agent) return false;
            if (Types.Count > 0 && !Types.Contains(e.Type)) return false;
            if (Capability is not null)
            {
                var cap = DashboardActivity.CapabilityOf(e);
                if (cap is null) return false;
                if (Capability.EndsWith(".*", StringComparison.Ordinal) ? !cap.StartsWith(Capability[..^1], StringComparison.Ordinal) : cap != Capability) return false;
            }
            if (Status is "error" && e.Type is not ("capability_error" or "policy_violation")) return false;
            if (Status is "ok" && e.Type is "capability_error" or "policy_violation") return false;
            return true;
        }
    }
}
