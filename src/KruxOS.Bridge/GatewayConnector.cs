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

    // The last TLS refusal of the current attempt (attempts are sequential), for the exit message.
    private string? _tlsFailure;

    // One handler for the process: it connects `localhost` to loopback itself and checks the gateway's certificate.
    private SocketsHttpHandler? _handler;

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
        _tlsFailure = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            using var invoker = new HttpMessageInvoker(Handler(), disposeHandler: false);
            await socket.ConnectAsync(options.Endpoint, invoker, timeout.Token).ConfigureAwait(false);
            return new ConnectResult(socket, ConnectFailure.None, "");
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException or SocketException or AuthenticationException or IOException
                                      || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            if (_tlsFailure is { } refused) return new ConnectResult(null, ConnectFailure.Unreachable, "TLS: " + refused);
            return Classify(status, e);
        }
    }

    /// <summary>
    /// The handler every attempt uses: for <c>wss://</c> it verifies the certificate (<see cref="ServerCertificateTrust"/>),
    /// and it connects a <c>localhost</c> name to the loopback addresses without asking the resolver (RFC 6761), so the
    /// page's <c>wss://localhost:7700</c> works on a host with no <c>/etc/hosts</c> entry for it.
    /// </summary>
    private SocketsHttpHandler Handler()
    {
        if (_handler is not null) return _handler;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = ConnectTimeout,
            ConnectCallback = ConnectAsync,
        };
        if (options.Endpoint.Scheme == "wss")
        {
            var verifier = _trust ??= ServerCertificateTrust.FromEnvironment().Trust
                ?? throw new InvalidOperationException("KRUXOS_CA_CERT cannot be used");
            var host = options.Endpoint.IdnHost;
            handler.SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                {
                    if (verifier.Validate(certificate, chain, errors, host, DateTimeOffset.UtcNow, out var why)) return true;
                    _tlsFailure = why;
                    return false;
                },
            };
        }
        return _handler = handler;
    }

    /// <summary>Whether a host name is a <c>localhost</c> name, which always means this machine's loopback (RFC 6761 §6.3).</summary>
    public static bool IsLocalhost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        IPAddress[] addresses = IsLocalhost(host) ? [IPAddress.Loopback, IPAddress.IPv6Loopback]
            : IPAddress.TryParse(host, out var literal) ? [literal]
            : await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
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
