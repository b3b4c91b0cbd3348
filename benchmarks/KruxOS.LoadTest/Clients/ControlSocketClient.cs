using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;

namespace KruxOS.LoadTest.Clients;

/// <summary>A failed control-socket request: the gateway's error type and message.</summary>
public sealed class ControlRequestException(string type, string message) : Exception($"{type}: {message}")
{
    /// <summary>The gateway's error type (e.g. <c>NotFound</c>, <c>Conflict</c>), or <c>transport</c>.</summary>
    public string Type { get; } = type;
}

/// <summary>
/// A lean client of the gateway's control socket (the Unix socket <c>kruxos</c> uses): newline-delimited
/// JSON, one request and one response line at a time per connection, or a <c>watch</c> event stream.
/// Only the gateway's owner may connect, which the driver is, since it started the gateway.
/// </summary>
public sealed class ControlSocketClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _nextId;

    private ControlSocketClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(stream, new UTF8Encoding(false));
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>Connects to the socket at <paramref name="path"/>.</summary>
    public static async Task<ControlSocketClient> OpenAsync(string path, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            return new ControlSocketClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one request and returns its <c>result</c>; throws <see cref="ControlRequestException"/> when the gateway refused it.</summary>
    public async Task<JsonNode?> CallAsync(string method, JsonObject parameters, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await SendAsync(method, parameters, ct).ConfigureAwait(false);
            return Unwrap(await _reader.ReadLineAsync(ct).ConfigureAwait(false));
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Starts <c>watch</c> on this connection (which then serves nothing else) and yields each event line
    /// as a JSON object: <c>{type, timestamp, agent, session_id, data}</c>.
    /// </summary>
    public async IAsyncEnumerable<JsonObject> WatchAsync(string types, string? agent, [EnumeratorCancellation] CancellationToken ct)
    {
        var p = new JsonObject { ["types"] = types };
        if (agent is not null) p["agent"] = agent;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await SendAsync("watch", p, ct).ConfigureAwait(false);
            Unwrap(await _reader.ReadLineAsync(ct).ConfigureAwait(false)); // {"watching": true}
            while (true)
            {
                var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false);
                if (line is null) yield break;
                if (JsonNode.Parse(line) is JsonObject e) yield return e;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task SendAsync(string method, JsonObject parameters, CancellationToken ct)
    {
        var request = new JsonObject { ["id"] = Interlocked.Increment(ref _nextId), ["method"] = method, ["params"] = parameters };
        await _writer.WriteLineAsync(request.ToJsonString().AsMemory(), ct).ConfigureAwait(false);
    }

    private static JsonNode? Unwrap(string? line)
    {
        if (line is null) throw new ControlRequestException("transport", "the gateway closed the control socket");
        var response = JsonNode.Parse(line) as JsonObject ?? throw new ControlRequestException("protocol", "the response is not a JSON object");
        if (response["ok"]?.GetValue<bool>() == true) return response["result"];
        var error = response["error"] as JsonObject;
        throw new ControlRequestException(error?["type"]?.GetValue<string>() ?? "error", error?["message"]?.GetValue<string>() ?? "unknown error");
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _writer.Dispose(); // closes the stream and the socket
        _reader.Dispose();
        _socket.Dispose();
        _lock.Dispose();
        return ValueTask.CompletedTask;
    }
}
