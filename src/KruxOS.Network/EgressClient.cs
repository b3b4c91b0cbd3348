using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;

namespace KruxOS.Network;

/// <summary>A credential to put on the requests of one call (only on hops to the origin it was resolved for).</summary>
/// <param name="HeaderName">The header it goes in, or null for a query parameter.</param>
/// <param name="HeaderValue">The header's value (placement format applied).</param>
/// <param name="CarriesCredential">True when a URL carries the credential (a location a server sent back, a query placement).</param>
internal sealed record Credential(string? HeaderName, string? HeaderValue, Func<string, bool> CarriesCredential);

/// <summary>One outgoing request of a call, before its first hop.</summary>
internal sealed record EgressRequest(
    EgressTarget Target,
    string Method,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    byte[]? Body,
    bool FollowRedirects,
    EgressAllowlist Allowlist,
    Credential? Credential = null);

/// <summary>The response of the last hop: headers read, body not yet.</summary>
internal sealed class EgressResponse(HttpResponseMessage response, EgressTarget final, int redirects) : IDisposable
{
    public HttpResponseMessage Response { get; } = response;
    public EgressTarget Final { get; } = final;
    public int Redirects { get; } = redirects;
    public void Dispose() => Response.Dispose();
}

/// <summary>How an egress refusal is reported: <c>DomainNotAllowed</c>, or <c>HostNotAllowed</c> for a credentialed request.</summary>
internal enum RefusalWording
{
    /// <summary><c>DomainNotAllowed</c> (network.http_request, network.download).</summary>
    Domain,
    /// <summary><c>HostNotAllowed</c> (network.credentialed_request).</summary>
    Host,
}

/// <summary>
/// The gateway's HTTP egress (ADR 0039): one <see cref="SocketsHttpHandler"/> per node, shared by every call. Each hop is
/// decided by the egress policy on the addresses the name resolved to (<see cref="EgressPolicy"/>), then sent to exactly
/// the address that was checked:
/// <list type="bullet">
/// <item>the request URI names the checked address, and <c>Host</c> (hence TLS SNI and certificate validation) the
/// name, so the connection pool is keyed by address and name together and a connection made for one decision is never
/// reused for another address;</item>
/// <item>the <c>ConnectCallback</c> is the only place a socket is opened: it connects to the address in the URI and
/// refuses anything that is not an address literal, so nothing below resolves a name a second time (DNS rebinding);</item>
/// <item>no proxy, no cookies, no automatic redirects or decompression: redirects are followed here, at most 10, each
/// hop decided like the first (<see cref="RedirectPolicy"/>), a credential only to the origin it was resolved for.</item>
/// </list>
/// </summary>
public sealed class EgressClient : IDisposable
{
    private static readonly HttpRequestOptionsKey<IPEndPoint> Pinned = new("kruxos.egress.pinned");
    private readonly SocketsHttpHandler _handler;
    private readonly HttpMessageInvoker _invoker;

    /// <summary>Creates the node's client.</summary>
    public EgressClient(IHostResolver resolver, NetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(options);
        Resolver = resolver;
        Options = options;
        _handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = options.PooledConnectionLifetime,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(30),
            MaxResponseHeadersLength = 64,
            MaxResponseDrainSize = 64 * 1024,
            ConnectCallback = ConnectPinnedAsync,
        };
        _invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
    }

    /// <summary>The resolver every hop uses.</summary>
    public IHostResolver Resolver { get; }

    /// <summary>The limits.</summary>
    public NetworkOptions Options { get; }

    /// <summary>
    /// Decides a target completely: the name check, then (for a name) one resolution and the address check. An
    /// allowed decision carries the one endpoint to connect to.
    /// </summary>
    public async Task<EgressDecision> DecideAsync(EgressTarget target, EgressAllowlist allowlist, CancellationToken ct)
    {
        var byName = EgressPolicy.CheckName(target, allowlist);
        if (byName.IsFinal) return byName;
        using var resolving = CancellationTokenSource.CreateLinkedTokenSource(ct);
        resolving.CancelAfter(Options.ResolveTimeout);
        IReadOnlyList<IPAddress> addresses;
        try { addresses = await Resolver.ResolveAsync(target.Host, resolving.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { addresses = []; }
        return EgressPolicy.Decide(target, addresses, allowlist);
    }

    /// <summary>
    /// Sends <paramref name="request"/>, following redirects as it asks, and returns the last response with its headers
    /// read and its body unread. Throws <see cref="CapabilityException"/> for a refusal or a failure.
    /// </summary>
    internal async Task<EgressResponse> SendAsync(EgressRequest request, RefusalWording wording, CancellationToken ct)
    {
        var origin = request.Target;
        var current = request.Target;
        var method = request.Method;
        var body = request.Body;
        var headers = request.Headers;
        var credential = request.Credential;
        for (var redirects = 0; ; redirects++)
        {
            var decision = await DecideAsync(current, request.Allowlist, ct).ConfigureAwait(false);
            if (!decision.Allowed)
                throw new CapabilityException(Worded(decision.ToError(), wording));
            var response = await SendOneAsync(current, decision.ConnectTo!, method, headers, body, credential, ct).ConfigureAwait(false);
            var location = response.Headers.Location?.OriginalString;
            var next = RedirectPolicy.Decide(origin, current, method, (int)response.StatusCode, location, redirects, request.Allowlist, request.FollowRedirects);
            if (next.Action == RedirectAction.Return) return new EgressResponse(response, current, redirects);
            response.Dispose();
            if (next.Action == RedirectAction.Refuse)
                throw new CapabilityException(Worded(next.Error!, wording));
            var target = next.Next!;
            // A credential goes only to the origin it was resolved for; a location that carries it elsewhere is refused
            // rather than followed (a query placement echoed into a cross-origin redirect).
            if (credential is not null && target.Origin != origin.Origin && credential.CarriesCredential(target.Uri.AbsoluteUri))
                throw new CapabilityException(NetworkErrors.RequestFailed("a redirect to another origin would carry the credential; it was not followed"));
            if (!next.KeepCredential) credential = null;
            if (target.Origin != current.Origin) headers = [.. headers.Where(h => !OriginBound(h.Key))];
            if (!next.KeepBody)
            {
                body = null;
                headers = [.. headers.Where(h => !h.Key.StartsWith("content-", StringComparison.OrdinalIgnoreCase))];
            }
            method = next.Method;
            current = target;
        }
    }

    // A policy refusal as the caller words it: HostNotAllowed for a credentialed request (spec §8.10).
    internal static StructuredError Worded(StructuredError error, RefusalWording wording) =>
        wording == RefusalWording.Host && error.ErrorType == "DomainNotAllowed"
            ? NetworkErrors.HostNotAllowed(error.ContextString("domain") ?? "?", error.ContextString("reason") ?? error.Message)
            : error;

    // Headers an agent may write that belong to the origin they were written for: not sent to another one.
    private static bool OriginBound(string name) =>
        name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase);

    private async Task<HttpResponseMessage> SendOneAsync(EgressTarget target, IPEndPoint connectTo, string method,
        IReadOnlyList<KeyValuePair<string, string>> headers, byte[]? body, Credential? credential, CancellationToken ct)
    {
        // The URI names the checked address; Host names the name (TLS SNI and certificate validation use it).
        var wire = new UriBuilder(target.Uri) { Host = connectTo.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + connectTo.Address + "]" : connectTo.Address.ToString() }.Uri;
        using var message = new HttpRequestMessage(new HttpMethod(method), wire) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
        message.Headers.Host = target.HostKind == HostKind.IPv6 ? "[" + target.Host + "]" + PortSuffix(target) : target.Host + PortSuffix(target);
        message.Options.Set(Pinned, connectTo);
        if (body is not null && method is not ("GET" or "HEAD")) message.Content = new ByteArrayContent(body);
        foreach (var (name, value) in headers)
        {
            if (name.StartsWith("content-", StringComparison.OrdinalIgnoreCase))
            {
                message.Content ??= new ByteArrayContent([]);
                message.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else message.Headers.TryAddWithoutValidation(name, value);
        }
        if (credential is { HeaderName: { } header, HeaderValue: { } headerValue })
        {
            message.Headers.Remove(header);
            message.Headers.TryAddWithoutValidation(header, headerValue);
        }
        try
        {
            return await _invoker.SendAsync(message, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new CapabilityException(NetworkErrors.RequestFailed($"{target.Host}: {Describe(e)}", retryable: true));
        }
    }

    private static string PortSuffix(EgressTarget t) => t.Port == PortSet.DefaultPort(t.Scheme) ? string.Empty : ":" + t.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The reason of a failed request in words (the socket error or TLS failure), without stack or inner types.</summary>
    internal static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        return inner is SocketException s ? $"connection failed ({s.SocketErrorCode})"
            : inner is System.Security.Authentication.AuthenticationException ? "the TLS handshake failed (certificate not valid for the name, or no common protocol)"
            : (e as HttpRequestException)?.HttpRequestError switch
            {
                HttpRequestError.ResponseEnded => "the server closed the connection before a full response",
                HttpRequestError.InvalidResponse => "the server sent an invalid HTTP response",
                HttpRequestError.ConfigurationLimitExceeded => "the response headers exceed 64 KiB",
                _ => "the request failed",
            };
    }

    // The only place a socket is opened: to the address literal of the request URI, which the egress decision checked.
    // A host that is not an address is refused, so nothing here can resolve a name again.
    private static async ValueTask<Stream> ConnectPinnedAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        if (!IPAddress.TryParse(context.DnsEndPoint.Host, out var address))
            throw new HttpRequestException(HttpRequestError.ConnectionError, "egress connects only to checked addresses, never to a name");
        var endpoint = new IPEndPoint(address, context.DnsEndPoint.Port);
        if (!context.InitialRequestMessage.Options.TryGetValue(Pinned, out var pinned) || !pinned.Equals(endpoint))
            throw new HttpRequestException(HttpRequestError.ConnectionError, "the connection does not go to the checked address");
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads a body of at most <paramref name="cap"/> bytes; a larger one (announced or as it streams) is refused with
    /// <c>RequestFailed</c> and never held beyond the cap.
    /// </summary>
    internal static async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, long cap, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength is { } announced && announced > cap) throw TooLarge(cap);
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > cap) throw TooLarge(cap);
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private static CapabilityException TooLarge(long cap) => new(NetworkErrors.RequestFailed(
        $"the response body is larger than {cap} bytes, the limit for a response returned inline; use network.download for large content")
        .WithContext("limit_bytes", cap));

    /// <inheritdoc />
    public void Dispose()
    {
        _invoker.Dispose();
        _handler.Dispose();
    }
}
