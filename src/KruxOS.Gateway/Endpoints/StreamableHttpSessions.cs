using System.Collections.Concurrent;
using System.Security.Claims;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Connections;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Mcp;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Server;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// MCP Streamable HTTP on <c>/mcp</c> (POST, GET for the server stream, DELETE). Every request is
/// authenticated; each SDK session gets a connection actor like a WebSocket does, and is ended when the
/// agent is revoked or killed: its open server stream (GET) is cut at once and any later request naming the
/// session gets 404, which tells an MCP client to start a new session.
/// </summary>
public sealed class StreamableHttpSessions(
    McpSessionFactory sessions,
    IRequiredActor<ConnectionRegistry> connections,
    Authenticator authenticator,
    TimeProvider clock,
    ILoggerFactory loggers)
{
    private readonly ILogger _log = loggers.CreateLogger<StreamableHttpSessions>();

    /// <summary>Where the authentication middleware leaves the caller for the session callbacks.</summary>
    public const string CallerItem = "kruxos.caller";

    /// <summary>The Streamable HTTP session header.</summary>
    public const string SessionHeader = "Mcp-Session-Id";

    /// <summary>How long an ended session's id is remembered (answered 404); the SDK forgets idle sessions sooner.</summary>
    public static readonly TimeSpan EndedSessionMemory = TimeSpan.FromHours(24);

    private readonly ConcurrentDictionary<McpServerOptions, Binding> _bindings = new(ReferenceEqualityComparer.Instance);

    // SDK session ids this gateway ended (revocation, kill), and the one open server stream (GET) of each live session.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _ended = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HttpContext> _streams = new(StringComparer.Ordinal);

    /// <summary>Configures the SDK's HTTP transport.</summary>
    public void Configure(HttpServerTransportOptions options)
    {
        options.Stateless = false;
        options.ConfigureSessionOptions = ConfigureSessionAsync;
        // RunSessionHandler is marked experimental, but it is the only hook that tells us when an HTTP MCP
        // session ends; without it every HTTP session would leak its connection actor.
#pragma warning disable MCPEXP002
        options.RunSessionHandler = RunSessionAsync;
#pragma warning restore MCPEXP002
    }

    /// <summary>
    /// Every request to <c>/mcp</c>: authenticate it, refuse a session this gateway ended (404), keep track of the
    /// session's server stream while it is open, and hand the request to the SDK.
    /// </summary>
    public async Task HandleAsync(HttpContext http, RequestDelegate next)
    {
        if (!await AuthenticateAsync(http, authenticator).ConfigureAwait(false)) return;
        var sessionId = http.Request.Headers[SessionHeader].ToString();
        if (sessionId.Length > 0 && _ended.ContainsKey(sessionId))
        {
            await HttpErrors.WriteAsync(http, StatusCodes.Status404NotFound,
                StructuredError.Create("SessionExpired", $"Session '{sessionId}' was ended by the gateway (the agent was revoked or its sessions killed).")
                    .WithRecovery("reconnect", "Start a new session with initialize.")
                    .WithContext("session_id", sessionId)).ConfigureAwait(false);
            return;
        }
        if (HttpMethods.IsPost(http.Request.Method) && !await InspectTextAsync(http).ConfigureAwait(false)) return;
        if (sessionId.Length == 0 || !HttpMethods.IsGet(http.Request.Method))
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        _streams[sessionId] = http;
        try { await next(http).ConfigureAwait(false); }
        finally { _streams.TryRemove(new KeyValuePair<string, HttpContext>(sessionId, http)); }
    }

    /// <summary>
    /// Reads a POSTed message and passes it through <see cref="McpRequestText.Inspect"/> before the SDK sees it: the
    /// body goes on unchanged (or with malformed call arguments repaired and marked), or the request is answered here
    /// with a JSON-RPC error (false). The body is already capped by the listener's request size limit.
    /// </summary>
    private static async Task<bool> InspectTextAsync(HttpContext http)
    {
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body, http.RequestAborted).ConfigureAwait(false);
        var bytes = new ReadOnlyMemory<byte>(body.GetBuffer(), 0, (int)body.Length);
        var verdict = McpRequestText.Inspect(bytes);
        if (verdict.Refusal is { } refusal)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(refusal, http.RequestAborted).ConfigureAwait(false);
            return false;
        }
        var message = verdict.Message!.Value.ToArray();
        http.Request.Body = new MemoryStream(message, writable: false);
        http.Request.ContentLength = message.Length;
        return true;
    }

    /// <summary>Authenticates a request to <c>/mcp</c>; on success the caller is stored for the session callbacks.</summary>
    public static async Task<bool> AuthenticateAsync(HttpContext http, Authenticator authenticator)
    {
        var auth = authenticator.Authenticate(http, AuthSurface.Calls);
        if (!auth.Succeeded)
        {
            await HttpErrors.WriteAsync(http, auth.StatusCode, auth.Error!).ConfigureAwait(false);
            return false;
        }
        var caller = auth.Caller!;
        if (!ClientHeader.TryRead(http, out _, out var badHeader))
        {
            await HttpErrors.WriteAsync(http, StatusCodes.Status400BadRequest, badHeader!).ConfigureAwait(false);
            return false;
        }
        http.Items[CallerItem] = caller;
        // The SDK binds each session to the user that created it; later requests must be the same principal.
        http.User = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, caller.Principal.ToString()), new Claim(ClaimTypes.Name, caller.Principal.Name)], "kruxos"));
        return true;
    }

    private async Task ConfigureSessionAsync(HttpContext http, McpServerOptions options, CancellationToken ct)
    {
        var caller = (AuthenticatedCaller)http.Items[CallerItem]!;
        ClientHeader.TryRead(http, out var cli, out _); // validated by AuthenticateAsync
        var sessionId = SessionIds.New();
        var stop = new CancellationTokenSource();
        var control = new SessionControl(stop, new ServerNotifier(_log), End);
        var registry = await connections.GetAsync(ct).ConfigureAwait(false);
        var opened = await registry.Ask<ConnectionMessages.Opened>(
            new ConnectionMessages.Open(new ConnectionSpec(caller.Principal, caller.Agent!.Value, sessionId, ClientAttribution.FromInitialize(null, null, cli), control)),
            TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        sessions.Configure(options, new McpSessionBinding(caller, sessionId, cli));
        _bindings[options] = new Binding(opened.Connection, stop, control, caller.Principal);
    }

    private async Task RunSessionAsync(HttpContext http, McpServer server, CancellationToken ct)
    {
        if (!_bindings.TryRemove(server.ServerOptions, out var binding))
        {
            await server.RunAsync(ct).ConfigureAwait(false);
            return;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, binding.Stop.Token);
        using var toolChanges = sessions.NotifyToolChanges(server, binding.Principal);
        binding.Control.Notifier.Attach(server);
        binding.Control.Started(server.SessionId);
        try
        {
            await server.RunAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested) { }
        finally
        {
            binding.Control.Notifier.Detach();
            binding.Connection.Tell(PoisonPill.Instance);
            // Ended by us (revoked, killed), not by the client or the SDK: the SDK would keep the session, and its
            // server stream open, until it idles out. Cut the stream and answer the session's later requests 404.
            if (binding.Stop.IsCancellationRequested && !ct.IsCancellationRequested && server.SessionId is { Length: > 0 } ended) End(ended);
            binding.Stop.Dispose();
        }
    }

    private void End(string sessionId)
    {
        var now = clock.GetUtcNow();
        _ended[sessionId] = now;
        if (_streams.TryRemove(sessionId, out var stream)) stream.Abort();
        if (_ended.Count > 1024)
            foreach (var (id, at) in _ended)
                if (now - at > EndedSessionMemory) _ended.TryRemove(id, out _);
    }

    private sealed record Binding(IActorRef Connection, CancellationTokenSource Stop, SessionControl Control, Principal Principal);

    // Closing (revoke, kill) ends the MCP session there and then: its id is refused from that moment, so a request
    // that arrives while the SDK's session is still unwinding gets 404 too, and the connection actor reports the
    // connection closed only once that is true.
    private sealed class SessionControl(CancellationTokenSource stop, ServerNotifier notifier, Action<string> end) : IConnectionControl
    {
        private readonly Lock _gate = new();
        private string? _mcpSessionId;
        private bool _closed;

        public ServerNotifier Notifier => notifier;

        public void Notify(string method, string paramsJson) => notifier.Notify(method, paramsJson);

        /// <summary>The SDK's session started with <paramref name="mcpSessionId"/> (the Mcp-Session-Id clients send).</summary>
        public void Started(string? mcpSessionId)
        {
            lock (_gate)
            {
                _mcpSessionId = mcpSessionId;
                if (_closed && mcpSessionId is { Length: > 0 }) end(mcpSessionId);
            }
        }

        public void Close(StructuredError reason)
        {
            lock (_gate)
            {
                _closed = true;
                if (_mcpSessionId is { Length: > 0 } id) end(id);
            }
            try { stop.Cancel(); }
            catch (ObjectDisposedException) { }
        }
    }
}
