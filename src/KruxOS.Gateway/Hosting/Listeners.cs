using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using KruxOS.Core.Tls;
using KruxOS.Gateway.Tls;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace KruxOS.Gateway.Hosting;

/// <summary>The three HTTP listeners of a gateway node.</summary>
public enum Listener
{
    /// <summary>MCP over WebSocket and Streamable HTTP, JSON-RPC <c>/rpc</c>.</summary>
    Gateway,
    /// <summary>The loopback User API (user tokens).</summary>
    UserApi,
    /// <summary>The loopback health endpoints (no auth).</summary>
    Health,
    /// <summary>The web dashboard and its REST API (HTTPS only; plain HTTP is redirected; docs/dashboard.md).</summary>
    Dashboard,
}

/// <summary>Endpoint metadata naming the only listener an endpoint answers on.</summary>
public sealed record ListenerMetadata(Listener Listener);

/// <summary>Tags connections with their listener and keeps endpoints on their own port.</summary>
public static class Listeners
{
    private const string ItemKey = "kruxos.listener";

    /// <summary>Connection middleware that records which listener accepted the connection.</summary>
    public static void Tag(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions options, Listener listener) =>
        options.Use(next => connection =>
        {
            connection.Items[ItemKey] = listener;
            return next(connection);
        });

    /// <summary>Longest a new connection may take to send its first byte before it is dropped.</summary>
    public static readonly TimeSpan FirstByteTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Longest a TLS handshake may take.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// TLS on a listener, with plain text beside it on the same port when <paramref name="plainTextAllowed"/>
    /// (a loopback bind; ADR 0025). The first byte of each connection decides: a TLS handshake record goes to the
    /// TLS layer (certificate chosen per handshake by <paramref name="certificates"/>, so renewals need no restart),
    /// anything else is served as plain HTTP when allowed, and otherwise answered with a plain-text refusal and closed.
    /// </summary>
    public static void UseTlsFirst(ListenOptions options, NodeCertificates certificates, bool plainTextAllowed, ILogger log)
    {
        ConnectionDelegate? plain = null;
        options.Use(tls => async connection =>
        {
            var verdict = await SniffAsync(connection, plainTextAllowed).ConfigureAwait(false);
            switch (verdict)
            {
                case FirstByteVerdict.Tls:
                    await tls(connection).ConfigureAwait(false);
                    break;
                case FirstByteVerdict.PlainText:
                    await plain!(connection).ConfigureAwait(false);
                    break;
                case FirstByteVerdict.RefusePlainText:
                    if (log.IsEnabled(LogLevel.Debug)) log.LogDebug("Refused a plain-text connection from {Remote}: this port serves TLS only", connection.RemoteEndPoint);
                    await RefusePlainTextAsync(connection).ConfigureAwait(false);
                    break;
                default:
                    return; // closed (or silent) before its first byte
            }
        });
        options.UseHttps(new TlsHandshakeCallbackOptions
        {
            HandshakeTimeout = HandshakeTimeout,
            OnConnection = context => ValueTask.FromResult(certificates.ServerOptions(context.ClientHelloInfo.ServerName,
                (context.Connection.LocalEndPoint as IPEndPoint)?.Address)),
        });
        // Innermost: remembers what comes after TLS (Kestrel's HTTP handler), which plain connections go to directly.
        options.Use(next =>
        {
            plain = next;
            return next;
        });
    }

    /// <summary>Reads the first byte without consuming it; null when the peer closed or stayed silent.</summary>
    private static async Task<FirstByteVerdict?> SniffAsync(ConnectionContext connection, bool plainTextAllowed)
    {
        var input = connection.Transport.Input;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        timeout.CancelAfter(FirstByteTimeout);
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                var buffer = read.Buffer;
                if (!buffer.IsEmpty)
                {
                    var first = buffer.FirstSpan[0];
                    input.AdvanceTo(buffer.Start); // nothing consumed or examined: the next reader sees the same bytes
                    return TlsRules.Classify(first, plainTextAllowed);
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted || read.IsCanceled) return null;
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>The answer a plain-text client gets where only TLS is served; the request itself is discarded unread.</summary>
    internal const string PlainTextRefusal =
        "This KruxOS port serves TLS only: use https:// or wss://. Plain http:// and ws:// are accepted only when the gateway binds a loopback address.\n";

    private static async Task RefusePlainTextAsync(ConnectionContext connection)
    {
        var body = Encoding.ASCII.GetBytes(PlainTextRefusal);
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        try
        {
            // Take what the client already sent off the socket (bounded), so that closing does not reset the
            // connection before it has read the answer.
            using var drain = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            var input = connection.Transport.Input;
            var drained = 0L;
            while (drained < 64 * 1024)
            {
                ReadResult read;
                try { read = await input.ReadAsync(drain.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                var endOfHeaders = EndsWithBlankLine(read.Buffer);
                drained += read.Buffer.Length;
                input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted || endOfHeaders) break;
            }
            await connection.Transport.Output.WriteAsync(head).ConfigureAwait(false);
            await connection.Transport.Output.WriteAsync(body).ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ObjectDisposedException or InvalidOperationException)
        {
            // the client went away; nothing to tell it
        }
    }

    private static bool EndsWithBlankLine(ReadOnlySequence<byte> buffer) =>
        buffer.Length >= 4 && buffer.Slice(buffer.Length - 4).ToArray() is [(byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n'];

    /// <summary>The listener a request arrived on.</summary>
    public static Listener Of(HttpContext http) =>
        http.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var v) == true && v is Listener l ? l : Listener.Gateway;

    /// <summary>Restricts an endpoint to one listener.</summary>
    public static TBuilder On<TBuilder>(this TBuilder builder, Listener listener) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ListenerMetadata(listener));

    /// <summary>Answers 404 when an endpoint is reached on a listener it does not belong to.</summary>
    public static IApplicationBuilder UseListenerGuard(this IApplicationBuilder app) =>
        app.Use(async (http, next) =>
        {
            var wanted = http.GetEndpoint()?.Metadata.GetMetadata<ListenerMetadata>();
            if (wanted is not null && wanted.Listener != Of(http))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(http).ConfigureAwait(false);
        });
}
