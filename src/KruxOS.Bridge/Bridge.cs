using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace KruxOS.Bridge;

/// <summary>
/// The proxy: newline-delimited JSON-RPC on the client's stdio, one text frame per message on the
/// gateway's WebSocket. Messages pass through unchanged (except the size cap on the way back).
/// <para>
/// Reconnect: when the socket drops after a session was established, the bridge reconnects with
/// <see cref="Backoff"/>, replays the client's <c>initialize</c> under a bridge-owned id (the client never
/// sees a second answer) and <c>notifications/initialized</c>, then re-sends every request that is still
/// unanswered with its original id. Requests read while disconnected wait in <see cref="PendingRequests"/>.
/// Every <c>tools/call</c> carries an idempotency key (<see cref="IdempotencyKey"/>), stamped once when it is
/// read, so a re-sent call is answered by the gateway from its record instead of running twice.
/// </para>
/// </summary>
public sealed class Bridge
{
    /// <summary>Requests held at once (sent but unanswered, or queued while disconnected).</summary>
    public const int MaxPending = 1024;

    /// <summary>Attempts, and the delays between them, for the first connection.</summary>
    public static readonly TimeSpan[] FirstConnectDelays = [TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(750)];

    /// <summary>After stdin closes, how long the bridge still waits for answers to calls in flight.</summary>
    public static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long a replayed <c>initialize</c> may take.</summary>
    public static readonly TimeSpan ReplayTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Largest frame read from the gateway (its own limit is 16 MiB).</summary>
    public const int MaxFrameBytes = 64 * 1024 * 1024;

    private const string ReplayIdPrefix = "kruxos-bridge-reinit-";

    private readonly BridgeOptions _options;
    private readonly BridgeLog _log;
    private readonly Stream _stdin;
    private readonly Stream _stdout;
    private readonly Func<CancellationToken, Task<ConnectResult>> _connect;
    private readonly Backoff _backoff;
    private readonly PendingRequests _pending = new(MaxPending);
    private readonly Channel<JsonRpcFrame> _outbound = Channel.CreateBounded<JsonRpcFrame>(new BoundedChannelOptions(4096) { SingleReader = true, SingleWriter = false });
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly TaskCompletionSource _stdinClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<JsonRpcFrame> _carry = [];
    private readonly Lock _stateGate = new();

    private JsonRpcFrame? _initialize;
    private string? _initializedNotification;
    private volatile bool _initializeAnswered;
    private TaskCompletionSource<JsonRpcFrame>? _replay;
    private string? _replayIdKey;
    private long _generation;

    public Bridge(BridgeOptions options, BridgeLog log, Stream stdin, Stream stdout,
        Func<CancellationToken, Task<ConnectResult>>? connect = null, Random? random = null)
    {
        _options = options;
        _log = log;
        _stdin = stdin;
        _stdout = stdout;
        _connect = connect ?? new GatewayConnector(options).ConnectAsync;
        _backoff = new Backoff(random ?? Random.Shared);
    }

    /// <summary>Runs until stdin closes (0) or the gateway refuses or cannot be reached (10/11).</summary>
    public async Task<int> RunAsync(CancellationToken ct = default)
    {
        _log.Info($"{_options.Mode.ToString().ToLowerInvariant()} mode, gateway {_options.Endpoint}" +
                  (_options.AgentName is { } a ? $", agent {a}" : "") + (_options.Cli is { } c ? $", cli {c}" : ""));
        var first = await FirstConnectAsync(ct).ConfigureAwait(false);
        if (first.Socket is null)
        {
            _log.Error(first.Detail);
            return first.Failure switch
            {
                ConnectFailure.Authentication => ExitCodes.AuthenticationRefused,
                ConnectFailure.Credential => first.ExitCode,
                _ => ExitCodes.GatewayUnreachable,
            };
        }
        _log.Info("connected");

        // The reader ends with stdin; it is not awaited, because the process exits when RunAsync returns.
        _ = Task.Run(() => ReadStdinAsync(ct), ct);
        var socket = first.Socket;
        try
        {
            while (true)
            {
                var generation = Interlocked.Increment(ref _generation);
                var outcome = await RunSessionAsync(socket, generation, ct).ConfigureAwait(false);
                socket.Dispose();
                if (outcome == SessionEnd.StdinClosed) return ExitCodes.Ok;

                _log.Warn("gateway connection lost; reconnecting");
                var next = await ReconnectAsync(ct).ConfigureAwait(false);
                if (next.Socket is null)
                {
                    if (next.IsFinal)
                    {
                        _log.Error(next.Detail + " on reconnect");
                        await FailPendingAsync(next.Failure == ConnectFailure.Authentication
                            ? "the gateway refused the bridge's credential on reconnect"
                            : "the bridge has no credential to reconnect with").ConfigureAwait(false);
                        return next.Failure == ConnectFailure.Authentication ? ExitCodes.AuthenticationRefused : next.ExitCode;
                    }
                    return ExitCodes.Ok; // stdin closed while disconnected
                }
                socket = next.Socket;
                _log.Info("reconnected");
            }
        }
        finally
        {
            await FlushStdoutAsync().ConfigureAwait(false);
        }
    }

    private enum SessionEnd
    {
        Dropped,
        StdinClosed,
    }

    private async Task<ConnectResult> FirstConnectAsync(CancellationToken ct)
    {
        var result = await _connect(ct).ConfigureAwait(false);
        foreach (var delay in FirstConnectDelays)
        {
            // Credential-source failures are final at the first connect: the client shows the exit code at once.
            if (result.Socket is not null || result.Failure is ConnectFailure.Authentication or ConnectFailure.Credential) break;
            _log.Debug($"{result.Detail}; retrying in {delay.TotalMilliseconds:0} ms");
            await Task.Delay(delay, ct).ConfigureAwait(false);
            result = await _connect(ct).ConfigureAwait(false);
        }
        return result;
    }

    /// <summary>Retries with backoff until connected, refused, or stdin closes (then Socket is null with Failure None).</summary>
    private async Task<ConnectResult> ReconnectAsync(CancellationToken ct)
    {
        while (true)
        {
            var delay = _backoff.Next();
            _log.Info($"reconnecting in {delay.TotalSeconds:0.0} s");
            var woke = await Task.WhenAny(Task.Delay(delay, ct), _stdinClosed.Task).ConfigureAwait(false);
            if (woke == _stdinClosed.Task) return new ConnectResult(null, ConnectFailure.None, "stdin closed");
            var result = await _connect(ct).ConfigureAwait(false);
            if (result.Socket is not null || result.IsFinal) return result;
            _log.Debug(result.Detail);
        }
    }

    private async Task<SessionEnd> RunSessionAsync(ClientWebSocket socket, long generation, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var receive = Task.Run(() => ReceiveLoopAsync(socket, stop.Token), stop.Token);
        try
        {
            if (generation > 1 && !await ReplayAsync(socket, generation, receive, stop.Token).ConfigureAwait(false))
                return SessionEnd.Dropped;
            _backoff.Reset();
            var resent = _pending.ClaimUnsent(generation);
            foreach (var e in resent)
            {
                _log.Debug($"re-sending {e.Method} id {e.IdKey}");
                if (!await SendAsync(socket, e.Text, stop.Token).ConfigureAwait(false)) return SessionEnd.Dropped;
            }
            if (resent.Count > 0 && generation > 1) _log.Info($"re-sent {resent.Count} unanswered request(s)");
            List<JsonRpcFrame> carried;
            lock (_stateGate) { carried = [.. _carry]; _carry.Clear(); }
            foreach (var f in carried)
                if (!await SendAsync(socket, f.Text, stop.Token).ConfigureAwait(false)) { Carry(f); return SessionEnd.Dropped; }

            var send = SendLoopAsync(socket, generation, stop.Token);
            var finished = await Task.WhenAny(receive, send).ConfigureAwait(false);
            if (finished == send && await send.ConfigureAwait(false))
            {
                // stdin closed and everything read from it has been sent: wait briefly for answers in flight.
                await DrainAsync(receive).ConfigureAwait(false);
                await CloseQuietlyAsync(socket).ConfigureAwait(false);
                return SessionEnd.StdinClosed;
            }
            return SessionEnd.Dropped;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try { await receive.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }

    private async Task<bool> ReplayAsync(ClientWebSocket socket, long generation, Task receive, CancellationToken ct)
    {
        JsonRpcFrame? init;
        lock (_stateGate) init = _initializeAnswered ? _initialize : null;
        if (init is null) return true; // the client's own initialize is still pending and is re-sent with the rest
        var node = JsonNode.Parse(init.Text)!.AsObject();
        var id = ReplayIdPrefix + generation;
        node["id"] = id;
        var tcs = new TaskCompletionSource<JsonRpcFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_stateGate) { _replay = tcs; _replayIdKey = JsonValue.Create(id).ToJsonString(); }
        if (!await SendAsync(socket, node.ToJsonString(), ct).ConfigureAwait(false)) return false;
        var done = await Task.WhenAny(tcs.Task, receive, Task.Delay(ReplayTimeout, ct)).ConfigureAwait(false);
        if (done != tcs.Task)
        {
            _log.Warn("the gateway did not answer the replayed initialize");
            return false;
        }
        var reply = await tcs.Task.ConfigureAwait(false);
        if (JsonNode.Parse(reply.Text)?["result"] is null)
        {
            _log.Warn("the gateway refused the replayed initialize: " + reply.Text);
            return false;
        }
        _log.Debug("initialize replayed");
        var initialized = _initializedNotification ?? """{"jsonrpc":"2.0","method":"notifications/initialized"}""";
        return await SendAsync(socket, initialized, ct).ConfigureAwait(false);
    }

    /// <summary>Forwards client messages; true when the channel completed (stdin closed), false when the socket failed.</summary>
    private async Task<bool> SendLoopAsync(ClientWebSocket socket, long generation, CancellationToken ct)
    {
        try
        {
            while (await _outbound.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (_outbound.Reader.TryRead(out var frame))
                {
                    if (frame.Kind == FrameKind.Request)
                    {
                        // Already re-sent on this connection after a reconnect, or already answered: skip.
                        if (!_pending.ClaimForSend(frame.IdKey!, generation)) continue;
                        if (!await SendAsync(socket, frame.Text, ct).ConfigureAwait(false)) return false;
                    }
                    else if (!await SendAsync(socket, frame.Text, ct).ConfigureAwait(false))
                    {
                        Carry(frame);
                        return false;
                    }
                }
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Carry(JsonRpcFrame frame)
    {
        lock (_stateGate) _carry.Add(frame);
    }

    private async Task<bool> SendAsync(ClientWebSocket socket, string text, CancellationToken ct)
    {
        if (_log.IsDebug) _log.Debug("-> gateway " + Preview(text));
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (socket.State != WebSocketState.Open) return false;
            await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
            _log.Debug("send failed: " + e.Message);
            return false;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReceiveLoopAsync(ClientWebSocket socket, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult r;
                do
                {
                    r = await socket.ReceiveAsync(buffer.GetMemory(16 * 1024), ct).ConfigureAwait(false);
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        _log.Info($"the gateway closed the connection ({socket.CloseStatus}: {socket.CloseStatusDescription})");
                        await CloseQuietlyAsync(socket).ConfigureAwait(false); // acknowledge, so the gateway need not wait
                        return;
                    }
                    buffer.Advance(r.Count);
                    if (buffer.WrittenCount > MaxFrameBytes)
                    {
                        _log.Error($"a gateway message exceeded {MaxFrameBytes} bytes; dropping the connection");
                        socket.Abort();
                        return;
                    }
                } while (!r.EndOfMessage);
                if (r.MessageType != WebSocketMessageType.Text)
                {
                    _log.Warn("ignoring a binary frame from the gateway");
                    continue;
                }
                await OnGatewayMessageAsync(Encoding.UTF8.GetString(buffer.WrittenSpan), buffer.WrittenCount).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
            _log.Info("gateway connection ended: " + e.Message);
        }
    }

    private async Task OnGatewayMessageAsync(string text, int utf8Length)
    {
        var frame = JsonRpcFrame.Parse(text);
        if (_log.IsDebug) _log.Debug("<- gateway " + Preview(text));
        string? method = null;
        if (frame is { Kind: FrameKind.Response, IdKey: { } id })
        {
            TaskCompletionSource<JsonRpcFrame>? replay = null;
            lock (_stateGate)
                if (_replayIdKey == id) { replay = _replay; _replay = null; _replayIdKey = null; }
            if (replay is not null) { replay.TrySetResult(frame); return; }
            if (TryReattach(id, text)) return;
            var entry = _pending.Complete(id);
            if (entry is null)
            {
                _log.Debug($"dropping an answer to id {id}: not outstanding (already answered)");
                return;
            }
            method = entry.Method;
            if (method == "initialize" && JsonNode.Parse(text)?["result"] is not null) _initializeAnswered = true;
        }
        if (frame.Kind == FrameKind.Invalid)
        {
            _log.Warn("dropping a gateway frame that is not JSON");
            return;
        }
        var output = ResultCap.Apply(text, utf8Length, method, _options.MaxResultBytes);
        if (output is null)
        {
            _log.Warn($"dropping a {utf8Length}-byte gateway message over the limit of {_options.MaxResultBytes} bytes");
            return;
        }
        if (!ReferenceEquals(output, text)) _log.Warn($"capped a {utf8Length}-byte answer to {(method ?? "?")} at {_options.MaxResultBytes} bytes");
        await WriteLineAsync(output).ConfigureAwait(false);
    }

    // A held tools/call whose gateway session went away is answered ApprovalReattach (ADR 0058): instead of showing that to
    // the client, send the same request again naming the approval, after the gateway's retry_after. Bounded per request.
    private bool TryReattach(string idKey, string text)
    {
        if (_pending.Find(idKey) is not { Method: "tools/call" } entry || entry.Reattaches >= ReattachAnswer.MaxReattaches) return false;
        if (ReattachAnswer.Of(text) is not { } reattach) return false;
        var resend = ReattachAnswer.WithApproval(entry.Text, reattach.ApprovalId);
        if (!_pending.Rearm(idKey, resend)) return false;
        _log.Info($"re-attaching request id {idKey} to approval {reattach.ApprovalId} in {reattach.Delay.TotalSeconds:0.0} s");
        _ = ResendAsync(JsonRpcFrame.Parse(resend), reattach.Delay);
        return true;
    }

    private async Task ResendAsync(JsonRpcFrame frame, TimeSpan delay)
    {
        await Task.Delay(delay).ConfigureAwait(false);
        // Sent by the send loop if still outstanding and not sent since (a reconnect re-sends it itself); after stdin closed,
        // the drain or the exit answers it like any other request in flight.
        try { await _outbound.Writer.WriteAsync(frame).ConfigureAwait(false); }
        catch (ChannelClosedException) { _log.Debug($"stdin closed before request id {frame.IdKey} could re-attach"); }
    }

    private async Task ReadStdinAsync(CancellationToken ct)
    {
        using var reader = new StreamReader(_stdin, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false, bufferSize: 64 * 1024, leaveOpen: true);
        try
        {
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                await OnClientLineAsync(line, ct).ConfigureAwait(false);
            }
            _log.Info("stdin closed");
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _log.Info("stdin ended: " + e.Message);
        }
        finally
        {
            _outbound.Writer.TryComplete();
            _stdinClosed.TrySetResult();
        }
    }

    private async Task OnClientLineAsync(string line, CancellationToken ct)
    {
        var frame = JsonRpcFrame.Parse(line);
        switch (frame.Kind)
        {
            case FrameKind.Invalid:
                await WriteLineAsync(JsonRpcFrame.ErrorResponse(null, -32700, "Parse error: each line must be one JSON-RPC 2.0 message")).ConfigureAwait(false);
                return;
            case FrameKind.Request:
                if (frame.Method == "tools/call") frame = IdempotencyKey.Stamp(frame);
                if (!_pending.TryAdd(frame.IdKey!, frame.Method!, frame.Text, out var refusal))
                {
                    await WriteLineAsync(JsonRpcFrame.ErrorResponse(frame.IdKey, -32000, "mcp-bridge: " + refusal)).ConfigureAwait(false);
                    return;
                }
                if (frame.Method == "initialize") lock (_stateGate) { _initialize = frame; _initializeAnswered = false; }
                break;
            case FrameKind.Notification when frame.Method == "notifications/initialized":
                _initializedNotification = frame.Text;
                break;
        }
        await _outbound.Writer.WriteAsync(frame, ct).ConfigureAwait(false);
    }

    private async Task DrainAsync(Task receive)
    {
        var deadline = DateTime.UtcNow + DrainGrace;
        while (_pending.Count > 0 && !receive.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(20).ConfigureAwait(false);
        if (_pending.Count > 0) _log.Info($"exiting with {_pending.Count} call(s) unanswered");
    }

    private async Task FailPendingAsync(string reason)
    {
        foreach (var e in _pending.DrainAll())
            await WriteLineAsync(JsonRpcFrame.ErrorResponse(e.IdKey, -32000, "mcp-bridge: " + reason)).ConfigureAwait(false);
    }

    private async Task CloseQuietlyAsync(ClientWebSocket socket)
    {
        using var t = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            // A close is a send: it must not overlap a frame being sent by the send loop.
            await _sendLock.WaitAsync(t.Token).ConfigureAwait(false);
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "mcp-bridge closing", t.Token).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException) { }
    }

    private async Task WriteLineAsync(string json)
    {
        // One message per line: re-serialise the rare frame that carries raw line breaks between tokens.
        if (json.AsSpan().IndexOfAny('\n', '\r') >= 0) json = JsonNode.Parse(json)?.ToJsonString() ?? json;
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _stdout.WriteAsync(bytes).ConfigureAwait(false);
            await _stdout.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException e)
        {
            _log.Warn("cannot write to stdout: " + e.Message);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task FlushStdoutAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try { await _stdout.FlushAsync().ConfigureAwait(false); }
        catch (IOException) { }
        finally { _writeLock.Release(); }
    }

    private static string Preview(string text) => text.Length <= 300 ? text : text[..300] + $"… ({text.Length} chars)";
}
