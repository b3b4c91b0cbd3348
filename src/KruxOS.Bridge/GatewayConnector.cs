using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;

namespace KruxOS.Bridge;

/// <summary>Why a connection attempt failed.</summary>
public enum ConnectFailure
{
    None,
    /// <summary>The gateway answered the upgrade with 401, 403 or 429: the credential is not accepted.</summary>
    Authentication,
    /// <summary>No gateway answered (refused, DNS, TLS, timeout) or the URL is not a WebSocket endpoint.</summary>
    Unreachable,
    /// <summary>The local credential source gave no credential (see <see cref="ConnectResult.ExitCode"/>: 3, 4 or 5).</summary>
    Credential,
}

/// <summary>The outcome of one connection attempt.</summary>
public sealed record ConnectResult(ClientWebSocket? Socket, ConnectFailure Failure, string Detail, int ExitCode = ExitCodes.Ok)
{
    /// <summary>
    /// Whether retrying cannot help: the gateway refused the credential, or the credential source says
    /// locked or missing. An unavailable source (e.g. the auth socket gone during a gateway restart) is retried.
    /// </summary>
    public bool IsFinal => Failure == ConnectFailure.Authentication
        || (Failure == ConnectFailure.Credential && ExitCode != ExitCodes.CredentialSourceUnavailable);
}

/// <summary>
/// Opens the WebSocket to the gateway: subprotocol <c>mcp</c>, <c>Authorization: Bearer</c> (never the
/// query string), <c>X-KruxOS-Agent</c> in agent mode, <c>X-KruxOS-Client</c> (the <c>--cli</c>
/// attribution) in user mode, and WebSocket keepalive pings every 30 s with a 10 s pong timeout.
/// </summary>
public sealed class GatewayConnector(BridgeOptions options, ICredentialSource credentials, ServerCertificateTrust? trust = null)
{
    public GatewayConnector(BridgeOptions options, ServerCertificateTrust? trust = null) : this(options, options.Credentials(), trust) { }

    // Resolved on first use of a wss:// endpoint (Program resolves it up front, so a bad KRUXOS_CA_CERT is exit 1).
    private ServerCertificateTrust? _trust = trust;

    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The headers sent on the upgrade (the token value is in <c>Authorization</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers(string token)
    {
        var list = new List<KeyValuePair<string, string>> { new("Authorization", "Bearer " + token) };
        if (options.Mode == BridgeMode.Agent && options.AgentName is { } name) list.Add(new("X-KruxOS-Agent", name));
        if (options.Mode == BridgeMode.User && options.Cli is { } cli) list.Add(new("X-KruxOS-Client", cli));
        list.Add(new("X-KruxOS-Bridge", typeof(GatewayConnector).Assembly.GetName().Version?.ToString(3) ?? "0"));
        return list;
    }

    /// <summary>One attempt; never throws for network or HTTP failures.</summary>
    public async Task<ConnectResult> ConnectAsync(CancellationToken ct)
    {
        // A fresh credential for every attempt: minted ones are short-lived and used once.
        var credential = await credentials.GetAsync(ct).ConfigureAwait(false);
        if (credential.Token is null) return new ConnectResult(null, ConnectFailure.Credential, credential.Detail, credential.ExitCode);
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mcp");
        socket.Options.KeepAliveInterval = KeepAliveInterval;
        socket.Options.KeepAliveTimeout = KeepAliveTimeout;
        socket.Options.CollectHttpResponseDetails = true;
        foreach (var (k, v) in Headers(credential.Token)) socket.Options.SetRequestHeader(k, v);
        string? tlsFailure = null;
        if (options.Endpoint.Scheme == "wss")
        {
            var verifier = _trust ??= ServerCertificateTrust.FromEnvironment().Trust
                ?? throw new InvalidOperationException("KRUXOS_CA_CERT cannot be used");
            var host = options.Endpoint.IdnHost;
            socket.Options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (verifier.Validate(certificate, chain, errors, host, DateTimeOffset.UtcNow, out var why)) return true;
                tlsFailure = why;
                return false;
            };
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(options.Endpoint, timeout.Token).ConfigureAwait(false);
            return new ConnectResult(socket, ConnectFailure.None, "");
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException or SocketException or AuthenticationException or IOException
                                      || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            if (tlsFailure is not null) return new ConnectResult(null, ConnectFailure.Unreachable, "TLS: " + tlsFailure);
            return Classify(status, e);
        }
    }

    /// <summary>Maps an HTTP status (0 when none) and exception to a failure kind.</summary>
    public static ConnectResult Classify(HttpStatusCode status, Exception e)
    {
        if (status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.TooManyRequests)
            return new ConnectResult(null, ConnectFailure.Authentication, $"the gateway refused the credential (HTTP {(int)status})");
        if (status != 0)
            return new ConnectResult(null, ConnectFailure.Unreachable, $"the endpoint answered HTTP {(int)status}, not a WebSocket upgrade (wrong URL?)");
        var root = e;
        while (root.InnerException is not null) root = root.InnerException;
        var what = e is OperationCanceledException ? $"timed out after {ConnectTimeout.TotalSeconds:0} s" : root.Message;
        return new ConnectResult(null, ConnectFailure.Unreachable, "cannot reach the gateway: " + what);
    }
}
