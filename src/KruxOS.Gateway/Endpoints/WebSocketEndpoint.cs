using System.Net.WebSockets;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Connections;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Mcp;
using KruxOS.Gateway.Transport;
using ModelContextProtocol.Server;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// MCP over WebSocket on <c>/mcp</c>, <c>/</c> and <c>/ws</c>: authenticate the upgrade, refuse foreign
/// origins, open a connection actor, and run one SDK server over the socket until either side closes.
/// </summary>
public sealed partial class WebSocketEndpoint(
    Authenticator authenticator,
    McpSessionFactory sessions,
    IRequiredActor<ConnectionRegistry> connections,
    GatewaySettings settings,
    ILoggerFactory loggers,
    IServiceProvider services)
{
    /// <summary>The paths that accept WebSocket upgrades.</summary>
    public static readonly string[] Paths = ["/mcp", "/", "/ws"];

    private readonly ILogger _log = loggers.CreateLogger<WebSocketEndpoint>();

    /// <summary>Handles one upgrade request.</summary>
    public async Task HandleAsync(HttpContext http)
    {
        if (!OriginAllowed(http))
        {
            await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden,
                StructuredError.Create("auth.origin_refused", "WebSocket connections from this Origin are not allowed.")
                    .WithRecovery("use_allowed_origin", "Connect from the gateway host, loopback, or an origin the operator allows.")).ConfigureAwait(false);
            return;
        }
        var auth = authenticator.Authenticate(http, AuthSurface.Calls);
        if (!auth.Succeeded)
        {
            await HttpErrors.WriteAsync(http, auth.StatusCode, auth.Error!).ConfigureAwait(false);
            return;
        }
        var caller = auth.Caller!;
        if (!ClientHeader.TryRead(http, out var cli, out var badHeader))
        {
            await HttpErrors.WriteAsync(http, StatusCodes.Status400BadRequest, badHeader!).ConfigureAwait(false);
            return;
        }
        var subprotocol = http.WebSockets.WebSocketRequestedProtocols.Contains("mcp") ? "mcp" : null;
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = subprotocol,
            KeepAliveInterval = settings.KeepAliveInterval,
            KeepAliveTimeout = settings.KeepAliveTimeout,
        }).ConfigureAwait(false);

        var sessionId = SessionIds.New();
        await using var transport = new WebSocketServerTransport(socket, sessionId, loggers);
        var control = new SocketControl(transport, new ServerNotifier(_log));
        var registry = await connections.GetAsync(http.RequestAborted).ConfigureAwait(false);
        var opened = await registry.Ask<ConnectionMessages.Opened>(
            new ConnectionMessages.Open(new ConnectionSpec(caller.Principal, caller.Agent!.Value, sessionId, ClientAttribution.FromInitialize(null, null, cli), control)),
            TimeSpan.FromSeconds(10), http.RequestAborted).ConfigureAwait(false);
        LogOpened(caller.Principal.ToString(), sessionId);
        try
        {
            var options = new McpServerOptions();
            sessions.Configure(options, new McpSessionBinding(caller, sessionId, cli));
            await using var server = McpServer.Create(transport, options, loggers, services);
            using var toolChanges = sessions.NotifyToolChanges(server, caller.Principal);
            control.Notifier.Attach(server);
            transport.Start();
            var run = server.RunAsync(http.RequestAborted);
            await Task.WhenAny(run, transport.Completion).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { }
        finally
        {
            control.Notifier.Detach();
            opened.Connection.Tell(PoisonPill.Instance);
            LogClosed(sessionId);
        }
    }

    private bool OriginAllowed(HttpContext http) =>
        WebSocketOrigins.Allows(http.Request.Headers.Origin.ToString(), settings.Bind, settings.AllowedOrigins);

    [LoggerMessage(Level = LogLevel.Information, Message = "WebSocket session {SessionId} opened for {Principal}")]
    private partial void LogOpened(string principal, string sessionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "WebSocket session {SessionId} closed")]
    private partial void LogClosed(string sessionId);

    private sealed class SocketControl(WebSocketServerTransport transport, ServerNotifier notifier) : IConnectionControl
    {
        public ServerNotifier Notifier => notifier;

        public void Close(StructuredError reason) =>
            _ = transport.CloseAsync(WebSocketCloseStatus.PolicyViolation, $"{reason.ErrorType}: {reason.Message}");

        public void Notify(string method, string paramsJson) => notifier.Notify(method, paramsJson);
    }
}

/// <summary>
/// Which browser origins may open a WebSocket (a page's script can open one to any host, sending the page's
/// <c>Origin</c>). The request's <c>Host</c> is not evidence: a DNS-rebinding page controls both its own origin and
/// the name it connects to, so <c>Host = Origin = evil.example:7700</c> proves nothing about who the page is.
/// </summary>
public static class WebSocketOrigins
{
    /// <summary>
    /// True for no <c>Origin</c> (non-browser clients send none), a loopback origin (<c>localhost</c>,
    /// <c>127.0.0.0/8</c>, <c>::1</c>; any port), an origin whose host is the configured bind address (when that is a
    /// specific address, not 0.0.0.0 or ::), or an origin listed in <c>Gateway:AllowedOrigins</c> (scheme, host and port).
    /// </summary>
    public static bool Allows(string? origin, string bind, IReadOnlyList<string> allowedOrigins)
    {
        ArgumentNullException.ThrowIfNull(allowedOrigins);
        if (string.IsNullOrEmpty(origin)) return true;
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")) return false;
        if (uri.IsLoopback) return true;
        if (bind is not ("0.0.0.0" or "::" or "localhost") && System.Net.IPAddress.TryParse(bind, out var bound)
            && System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var host) && host.Equals(bound))
            return true;
        return allowedOrigins.Any(o => Uri.TryCreate(o.TrimEnd('/'), UriKind.Absolute, out var allowed)
            && string.Equals(allowed.Scheme, uri.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(allowed.IdnHost, uri.IdnHost, StringComparison.OrdinalIgnoreCase)
            && allowed.Port == uri.Port);
    }
}
