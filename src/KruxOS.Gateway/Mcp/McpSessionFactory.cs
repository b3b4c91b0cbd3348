using System.Collections.Immutable;
using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Approvals;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Capabilities;
using KruxOS.Gateway.Endpoints;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Hosting;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace KruxOS.Gateway.Mcp;

/// <summary>One MCP session's binding to the actor system: who it is, its session id, and the <c>X-KruxOS-Client</c> attribution.</summary>
public sealed record McpSessionBinding(AuthenticatedCaller Caller, string SessionId, string? Cli = null);

/// <summary>
/// Builds the MCP server options of one session, for both transports. The SDK owns the protocol; the
/// handlers here only translate <c>tools/list</c> and <c>tools/call</c> into the actor pipeline
/// (a held <see cref="CallSubmission"/> to the <see cref="CallDispatcher"/>, with the request's cancellation token).
/// </summary>
public sealed class McpSessionFactory(ToolCatalogView catalog, CapabilityView view, KruxOsSettings kruxos,
    ApprovalIndex approvals, CallDispatcher dispatcher, TimeProvider clock, ILoggerFactory loggers)
{
    /// <summary>The custom method clients that poll use: <c>{request_id}</c> → <c>{status, …}</c>.</summary>
    public const string CheckApprovalMethod = "kruxos/checkApproval";

    /// <summary>The server name reported in <c>initialize</c>.</summary>
    public const string ServerName = "kruxos-gateway";

    /// <summary>The server version reported in <c>initialize</c>.</summary>
    public const string ServerVersion = "1.0.0";

    private readonly ILogger _log = loggers.CreateLogger<McpSessionFactory>();

    /// <summary>Fills <paramref name="options"/> for a session.</summary>
    public void Configure(McpServerOptions options, McpSessionBinding binding)
    {
        options.ServerInfo = new Implementation { Name = ServerName, Version = ServerVersion };
        options.Capabilities = new ServerCapabilities { Tools = new ToolsCapability { ListChanged = true } };
        options.ServerInstructions =
            "KruxOS gateway: every tool is a governed capability. Calls are checked by policy, may wait for human approval, run sandboxed and are audited.";
        options.Handlers.ListToolsHandler = (request, ct) =>
            ValueTask.FromResult(new ListToolsResult { Tools = catalog.ToolsFor(binding.Caller.Principal) });
        options.Handlers.CallToolHandler = (request, ct) => CallAsync(binding, request, ct);
#pragma warning disable MCPEXP002 // custom request handlers are the SDK's only way to serve kruxos/checkApproval
        options.RequestHandlers ??= [];
        options.RequestHandlers.Add(new McpServerRequestHandler
        {
            Method = CheckApprovalMethod,
            Handler = (context, _) => ValueTask.FromResult<JsonNode?>(CheckApproval(binding.Caller, context.Params as JsonObject)),
        });
#pragma warning restore MCPEXP002
        options.Filters.Message.IncomingFilters.Add(RequireInitialize);
    }

    /// <summary>
    /// Keeps the client's tool list fresh: when the policy changes, sends <c>tools/list_changed</c> if, and only if,
    /// the tools <paramref name="principal"/> sees (names and tiers: <see cref="CapabilityView.Tiers"/>) are no longer
    /// the ones it saw. An edit of another agent's file, or one that changes only a
    /// reason or a rate limit, tells nobody.
    /// </summary>
    public IDisposable NotifyToolChanges(McpServer server, Principal principal)
    {
        var seen = new VisibleTools(() => view.Tiers(principal));
        void OnChanged()
        {
            if (seen.Refresh()) _ = SendListChangedAsync(server);
        }
        view.Changed += OnChanged;
        return new Unsubscribe(() => view.Changed -= OnChanged);
    }

    // The tool list one session last saw; Refresh tells whether it differs now.
    private sealed class VisibleTools(Func<ImmutableArray<Tier>> read)
    {
        private readonly Lock _gate = new();
        private ImmutableArray<Tier> _last = read();

        public bool Refresh()
        {
            lock (_gate)
            {
                var now = read();
                if (now.AsSpan().SequenceEqual(_last.AsSpan())) return false;
                _last = now;
                return true;
            }
        }
    }

    private async Task SendListChangedAsync(McpServer server)
    {
        try { await server.SendNotificationAsync(NotificationMethods.ToolListChangedNotification).ConfigureAwait(false); }
        catch (Exception e) { _log.LogDebug(e, "tools/list_changed could not be sent"); }
    }

    private async ValueTask<CallToolResult> CallAsync(McpSessionBinding binding, RequestContext<CallToolRequestParams> request, CancellationToken ct)
    {
        var p = request.Params ?? throw new McpProtocolException("tools/call needs params", McpErrorCode.InvalidParams);
        var ci = request.Server.ClientInfo;
        var client = ClientAttribution.FromInitialize(ci?.Name, ci?.Version, binding.Cli);
        var agent = binding.Caller.Agent ?? throw new McpProtocolException("session has no agent", McpErrorCode.InternalError);
        // An invalid key is refused by the session (EdgeRefusal), so the refusal is audited like any other.
        _ = TryReadIdempotencyKey(p.Meta, out var key, out var invalidKey);
        // Malformed text the transport found in the arguments (and repaired so the SDK could read them): refused here.
        var invalidText = McpRequestText.RefusalOf(p.Meta);
        // A re-sent held call may name the approval it waited on (ADR 0058): a hint the session checks, refused here if malformed.
        var (reattach, invalidReattach) = ApprovalReattach.Read(MetaValue(p.Meta, ApprovalReattach.MetaField));
        // A call may be held for approval up to the hold timeout: the dispatcher waits for the hold plus the call time
        // (the pipeline always answers first, failing closed on its own timers).
        var submission = new CallSubmission(binding.Caller.Principal, agent, binding.SessionId, p.Name, ToolCatalogView.Arguments(p.Arguments), client,
            CallMode.Held, key, EdgeRefusal: invalidText ?? invalidKey ?? invalidReattach, Reattach: reattach);
        using var progress = new CancellationTokenSource();
        var ticker = p.ProgressToken is { } token ? SendProgressAsync(request.Server, token, progress.Token) : Task.CompletedTask;
        try
        {
            return ToolCatalogView.Render(await dispatcher.DispatchAsync(submission, ct).ConfigureAwait(false));
        }
        finally
        {
            await progress.CancelAsync().ConfigureAwait(false);
            await ticker.ConfigureAwait(false);
        }
    }

    // params._meta["kruxos/idempotency_key"]: absent → no key (the call behaves as without one); present → a valid key string.
    private static bool TryReadIdempotencyKey(JsonObject? meta, out string? key, out StructuredError? error)
    {
        key = null;
        error = null;
        if (meta is null || !meta.TryGetPropertyValue(IdempotencyKeys.MetaField, out var node) || node is null) return true;
        if (node is not JsonValue v || node.GetValueKind() != System.Text.Json.JsonValueKind.String)
        {
            error = Errors.InvalidInput("_meta." + IdempotencyKeys.MetaField, "must be a string");
            return false;
        }
        // A value parsed from the request keeps its raw text, which may be malformed: check it before decoding.
        if (v.TryGetValue<System.Text.Json.JsonElement>(out var element) && ArgumentText.Find(element) is { } malformed)
        {
            error = Errors.InvalidInput("_meta." + IdempotencyKeys.MetaField, malformed.Reason);
            return false;
        }
        var text = v.GetValue<string>();
        error = IdempotencyKeys.Validate(text);
        key = error is null ? text : null;
        return error is null;
    }

    // A _meta field as the request carried it (its raw text, which may be malformed and is checked before decoding); a
    // value that is not a string stands in as a number, which the reader refuses as such.
    private static System.Text.Json.JsonElement? MetaValue(JsonObject? meta, string field)
    {
        if (meta is null || !meta.TryGetPropertyValue(field, out var node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue<System.Text.Json.JsonElement>(out var element)) return element;
        return node.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? System.Text.Json.JsonSerializer.SerializeToElement(node.GetValue<string>())
            : System.Text.Json.JsonSerializer.SerializeToElement(0);
    }

    // While a call is held (e.g. for approval), progress notifications reset the client's request timeout.
    private async Task SendProgressAsync(McpServer server, ProgressToken token, CancellationToken ct)
    {
        var n = 0;
        try
        {
            while (true)
            {
                await Task.Delay(kruxos.ApprovalProgressInterval, ct).ConfigureAwait(false);
                await server.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = ++n, Message = "waiting (e.g. for human approval)" },
                    cancellationToken: ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { _log.LogDebug(e, "progress notification could not be sent"); }
    }

    private JsonObject CheckApproval(AuthenticatedCaller caller, JsonObject? p)
    {
        var text = p?["request_id"] is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>() : null;
        return ApprovalCheck.Find(approvals, caller.Agent, text) switch
        {
            ApprovalPoll.Found found => ApprovalPollJson.Found(found, clock.GetUtcNow(), decidedAt: true),
            ApprovalPoll.NotFound notFound => ApprovalPollJson.NotFound(notFound),
            _ => throw new McpProtocolException("params.request_id must be an approval id (appr-…)", McpErrorCode.InvalidParams),
        };
    }

    // Out-of-order traffic is refused: nothing but initialize and ping before the handshake. The SDK
    // records the client's info when it handles initialize, so its absence means no handshake yet.
    private static McpMessageHandler RequireInitialize(McpMessageHandler next) => async (context, ct) =>
    {
        if (context.JsonRpcMessage is JsonRpcRequest request && context.Server.ClientInfo is null
            && request.Method != RequestMethods.Initialize && request.Method != RequestMethods.Ping && !IsPerRequestMetadataRevision(context))
            throw new McpProtocolException(Errors.SessionNotInitialized().Message, McpErrorCode.InvalidRequest);
        await next(context, ct).ConfigureAwait(false);
    };

    // Protocol revisions from 2026-07-28 on carry client info in every request and have no initialize handshake.
    private static bool IsPerRequestMetadataRevision(MessageContext context) =>
        context.JsonRpcMessage.Context?.ProtocolVersion is { } v && string.CompareOrdinal(v, "2026-07-28") >= 0;

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
