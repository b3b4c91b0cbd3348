using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Testing;

namespace KruxOS.Gateway.Tests.Support;

/// <summary>The status line, headers and body of an HTTP answer read off a raw socket.</summary>
public sealed record RawHttpAnswer(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The body as JSON.</summary>
    public JsonNode Json => JsonNode.Parse(Body) ?? throw new InvalidOperationException("empty body");
}

/// <summary>
/// A WebSocket upgrade over a plain TCP socket: unlike <see cref="System.Net.WebSockets.ClientWebSocket"/> it
/// shows the body of a refused upgrade, and once upgraded it answers nothing by itself (no pong).
/// </summary>
public sealed class RawUpgrade : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    private RawUpgrade(TcpClient tcp, NetworkStream stream, RawHttpAnswer answer)
    {
        _tcp = tcp;
        Stream = stream;
        Answer = answer;
    }

    /// <summary>The connection (the WebSocket's frames after a 101).</summary>
    public NetworkStream Stream { get; }

    /// <summary>The handshake answer.</summary>
    public RawHttpAnswer Answer { get; }

    /// <summary>Sends a WebSocket upgrade request to <c>127.0.0.1:port</c> and reads the answer's head (and body, if any).</summary>
    public static async Task<RawUpgrade> SendAsync(int port, string pathAndQuery, IReadOnlyDictionary<string, string>? headers = null)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        var request = new StringBuilder()
            .Append($"GET {pathAndQuery} HTTP/1.1\r\n")
            .Append(headers?.ContainsKey("Host") == true ? "" : $"Host: 127.0.0.1:{port}\r\n")
            .Append("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")
            .Append($"Sec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\n")
            .Append("Sec-WebSocket-Protocol: mcp\r\n");
        foreach (var (k, v) in headers ?? new Dictionary<string, string>()) request.Append($"{k}: {v}\r\n");
        request.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()));
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        var head = await ReadHeadAsync(stream, cts.Token);
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var map = lines.Skip(1).Where(l => l.Contains(':')).ToDictionary(l => l[..l.IndexOf(':')].Trim(), l => l[(l.IndexOf(':') + 1)..].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = "";
        if (status != 101 && map.TryGetValue("Content-Length", out var length))
        {
            var buffer = new byte[int.Parse(length, System.Globalization.CultureInfo.InvariantCulture)];
            await stream.ReadExactlyAsync(buffer, cts.Token);
            body = Encoding.UTF8.GetString(buffer);
        }
        else if (status != 101 && map.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = await ReadChunkedAsync(stream, cts.Token);
        }
        return new RawUpgrade(tcp, stream, new RawHttpAnswer(status, map, body));
    }

    /// <summary>Reads until the server closes the connection; returns the opcodes of the frames seen, or throws on timeout.</summary>
    public async Task<List<int>> ReadUntilClosedAsync(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        var opcodes = new List<int>();
        var header = new byte[2];
        try
        {
            while (true)
            {
                if (!await ReadAllAsync(header, cts.Token)) return opcodes;
                opcodes.Add(header[0] & 0x0F);
                long length = header[1] & 0x7F;
                if (length == 126) { var ext = new byte[2]; if (!await ReadAllAsync(ext, cts.Token)) return opcodes; length = (ext[0] << 8) | ext[1]; }
                else if (length == 127) { var ext = new byte[8]; if (!await ReadAllAsync(ext, cts.Token)) return opcodes; length = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(ext); }
                // server frames are never masked
                var payload = new byte[length];
                if (!await ReadAllAsync(payload, cts.Token)) return opcodes;
            }
        }
        catch (IOException)
        {
            return opcodes; // reset by the server
        }
    }

    private async Task<bool> ReadAllAsync(byte[] buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await Stream.ReadAsync(buffer.AsMemory(read), ct);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    internal static async Task<string> ReadHeadAsync(NetworkStream stream, CancellationToken ct)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, ct) == 0) throw new IOException("connection closed during the handshake");
            bytes.Add(one[0]);
            if (bytes.Count >= 4 && bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n')
                return Encoding.ASCII.GetString([.. bytes]);
        }
    }

    internal static async Task<string> ReadChunkedAsync(NetworkStream stream, CancellationToken ct)
    {
        var body = new MemoryStream();
        while (true)
        {
            var sizeLine = (await ReadHeadLineAsync(stream, ct)).Trim();
            var size = Convert.ToInt32(sizeLine, 16);
            if (size == 0) { await ReadHeadLineAsync(stream, ct); return Encoding.UTF8.GetString(body.ToArray()); }
            var chunk = new byte[size];
            await stream.ReadExactlyAsync(chunk, ct);
            body.Write(chunk);
            await ReadHeadLineAsync(stream, ct);
        }
    }

    private static async Task<string> ReadHeadLineAsync(NetworkStream stream, CancellationToken ct)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, ct) == 0) throw new IOException("connection closed");
            if (one[0] == '\n') return Encoding.ASCII.GetString([.. bytes]).TrimEnd('\r');
            bytes.Add(one[0]);
        }
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
