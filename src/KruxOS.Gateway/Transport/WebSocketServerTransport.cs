using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace KruxOS.Gateway.Transport;

/// <summary>
/// MCP over WebSocket: one JSON-RPC message per text frame, both ways. The SDK owns the protocol;
/// this class only frames messages. A message larger than <see cref="MaxMessageBytes"/> or a binary
/// frame closes the socket with a clear reason; a frame that is not JSON-RPC gets a parse error reply.
/// </summary>
public sealed class WebSocketServerTransport : TransportBase
{
    /// <summary>Largest accepted message (spec §3.1: 16 MiB).</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    private readonly WebSocket _socket;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _log;
    private Task? _receiveLoop;

    public WebSocketServerTransport(WebSocket socket, string sessionId, ILoggerFactory loggerFactory)
        : base("kruxos-websocket", loggerFactory)
    {
        _socket = socket;
        SessionId = sessionId;
        _log = loggerFactory.CreateLogger<WebSocketServerTransport>();
    }

    /// <summary>Completes when the receive loop ends (client closed, error, or <see cref="CloseAsync"/>).</summary>
    public Task Completion => _receiveLoop ?? Task.CompletedTask;

    /// <summary>Starts reading frames.</summary>
    public void Start()
    {
        SetConnected();
        _receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    /// <inheritdoc />
    public override async Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(message, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage)));
        await SendTextAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a raw text frame (used for replies the SDK cannot produce, e.g. parse errors).</summary>
    internal async Task SendTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_socket.State != WebSocketState.Open) throw new IOException("WebSocket is not open");
            await _socket.SendAsync(utf8, WebSocketMessageType.Text, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>
    /// Closes the socket with a status and reason. The receive loop keeps reading until the client
    /// acknowledges the close (so the client sees the reason, not a reset), for at most <see cref="CloseGrace"/>.
    /// </summary>
    public async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _sendLock.WaitAsync().ConfigureAwait(false);
                try
                {
                    using var timeout = new CancellationTokenSource(CloseGrace);
                    var text = reason.Length > 120 ? reason[..120] : reason;
                    await _socket.CloseOutputAsync(status, text, timeout.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }
            }
            _stop.CancelAfter(CloseGrace);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            _log.LogDebug(e, "Closing WebSocket {SessionId} failed", SessionId);
            await _stop.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>How long a close waits for the client's acknowledgement.</summary>
    public static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_receiveLoop is not null)
        {
            try { await _receiveLoop.ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        }
        SetDisconnected();
        _socket.Dispose();
        _sendLock.Dispose();
        _stop.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        Exception? failure = null;
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult result;
                do
                {
                    var memory = buffer.GetMemory(8192);
                    result = await _socket.ReceiveAsync(memory, _stop.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close) return;
                    buffer.Advance(result.Count);
                    if (buffer.WrittenCount > MaxMessageBytes)
                    {
                        await CloseAsync(WebSocketCloseStatus.MessageTooBig, $"message exceeds {MaxMessageBytes} bytes").ConfigureAwait(false);
                        return;
                    }
                } while (!result.EndOfMessage);

                if (result.MessageType != WebSocketMessageType.Text)
                {
                    await CloseAsync(WebSocketCloseStatus.InvalidMessageType, "only text frames carrying JSON-RPC are accepted").ConfigureAwait(false);
                    return;
                }

                // Malformed text is refused or marked here, before the SDK decodes it (McpRequestText).
                var inspected = Mcp.McpRequestText.Inspect(buffer.WrittenMemory);
                if (inspected.Refusal is { } refusal)
                {
                    await SendTextAsync(refusal, _stop.Token).ConfigureAwait(false);
                    continue;
                }
                JsonRpcMessage? message;
                try
                {
                    message = JsonSerializer.Deserialize(inspected.Message!.Value.Span, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage))) as JsonRpcMessage;
                }
                catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException or FormatException)
                {
                    // InvalidOperationException: text the reader cannot decode (a lone surrogate in a field the SDK reads
                    // as a string); answered like any unreadable frame, and the connection stays open.
                    _log.LogDebug(e, "Unparseable frame on {SessionId}", SessionId);
                    message = null;
                }
                if (message is null)
                {
                    await SendTextAsync("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error: each frame must be one JSON-RPC 2.0 message\"}}"u8.ToArray(), _stop.Token).ConfigureAwait(false);
                    continue;
                }
                await WriteMessageAsync(message, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
            failure = e;
            _log.LogDebug(e, "WebSocket {SessionId} ended with an error", SessionId);
        }
        finally
        {
            SetDisconnected(failure);
        }
    }
}
