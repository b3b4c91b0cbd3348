using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Clients;

/// <summary>
/// A lean MCP client over <see cref="ClientWebSocket"/>: one JSON-RPC message per text frame, requests
/// correlated with replies by id, so several calls may be in flight on one session.
/// </summary>
public sealed class WebSocketMcpClient : IMcpSession
{
    private readonly ClientWebSocket _socket;
    private readonly TimeSpan _callTimeout;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<CallOutcome>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _receiveLoop = Task.CompletedTask;
    private long _nextId;
    private int _disposed;

    private WebSocketMcpClient(ClientWebSocket socket, TimeSpan callTimeout)
    {
        _socket = socket;
        _callTimeout = callTimeout;
    }

    /// <summary>Connects to <paramref name="uri"/> (loopback only), then runs initialize and notifications/initialized.</summary>
    public static async Task<WebSocketMcpClient> OpenAsync(Uri uri, string? token, TimeSpan callTimeout, CancellationToken ct)
    {
        LoopbackGuard.Require(uri);
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mcp");
        socket.Options.KeepAliveInterval = TimeSpan.Zero; // idle sessions must stay idle on the driver side
        if (token is not null) socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        var client = new WebSocketMcpClient(socket, callTimeout);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(callTimeout);
            try
            {
                await socket.ConnectAsync(uri, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new SessionOpenException(CallOutcome.TimedOut(), $"WebSocket connect to {uri} timed out");
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException)
            {
                throw new SessionOpenException(CallOutcome.Transport(e.GetType().Name), $"WebSocket connect to {uri} failed: {e.Message}", e);
            }
            client._receiveLoop = Task.Run(client.ReceiveLoopAsync, CancellationToken.None);
            var init = await client.RequestAsync(McpWire.Initialize, ct).ConfigureAwait(false);
            if (!init.IsOk) throw new SessionOpenException(init, $"initialize failed: {init.Key}");
            await client.SendAsync(McpWire.InitializedNotification, ct).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public Task<CallOutcome> CallToolAsync(McpWire.ToolCallTemplate template, CancellationToken ct) =>
        RequestAsync(template.Render, ct);

    /// <inheritdoc />
    public Task<CallOutcome> PingAsync(CancellationToken ct) => RequestAsync(McpWire.Ping, ct);

    private async Task<CallOutcome> RequestAsync(Func<long, byte[]> render, CancellationToken ct)
    {
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<CallOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        try
        {
            await SendAsync(render(id), ct).ConfigureAwait(false);
            return await tcs.Task.WaitAsync(_callTimeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return McpWire.FromException(e);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private async Task SendAsync(byte[] message, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, ct).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        var failure = "closed_by_server";
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult r;
                do
                {
                    r = await _socket.ReceiveAsync(buffer.GetMemory(4096), _stop.Token).ConfigureAwait(false);
                    if (r.MessageType == WebSocketMessageType.Close) return;
                    buffer.Advance(r.Count);
                } while (!r.EndOfMessage);
                var frame = buffer.WrittenSpan;
                // Server notifications and requests carry no numeric id of ours; they are ignored.
                if (McpWire.TryReadId(frame, out var id) && _pending.TryGetValue(id, out var tcs))
                    tcs.TrySetResult(McpWire.Classify(frame));
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { failure = "closed_by_driver"; }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException) { failure = e.GetType().Name; }
        finally
        {
            foreach (var p in _pending.Values) p.TrySetResult(CallOutcome.Transport(failure));
        }
    }

    /// <inheritdoc />
    public async Task CloseAsync(CancellationToken ct)
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_callTimeout);
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException) { }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Abort();
        try { await _receiveLoop.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        _socket.Dispose();
        _sendLock.Dispose();
        _stop.Dispose();
    }
}
