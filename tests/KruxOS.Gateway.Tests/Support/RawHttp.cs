using System.Net.Sockets;
using System.Text;
using KruxOS.Testing;

namespace KruxOS.Gateway.Tests.Support;

/// <summary>
/// One HTTP request written byte for byte to <c>127.0.0.1:port</c> over a plain TCP socket, so a spec can send what a
/// browser under DNS rebinding would (a foreign <c>Host</c>), or what no HTTP client library lets it (no <c>Host</c>).
/// </summary>
public static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> (request line, headers, blank line, body) and reads the answer.</summary>
    public static async Task<RawHttpAnswer> SendAsync(int port, string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        var head = await RawUpgrade.ReadHeadAsync(stream, cts.Token);
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var map = lines.Skip(1).Where(l => l.Contains(':')).ToDictionary(l => l[..l.IndexOf(':')].Trim(), l => l[(l.IndexOf(':') + 1)..].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = "";
        if (map.TryGetValue("Content-Length", out var length))
        {
            var buffer = new byte[int.Parse(length, System.Globalization.CultureInfo.InvariantCulture)];
            await stream.ReadExactlyAsync(buffer, cts.Token);
            body = Encoding.UTF8.GetString(buffer);
        }
        else if (map.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = await RawUpgrade.ReadChunkedAsync(stream, cts.Token);
        }
        else
        {
            // HTTP/1.0 (or a closing 1.1 answer) without a length: the body runs to the end of the connection.
            using var rest = new MemoryStream();
            await stream.CopyToAsync(rest, cts.Token);
            body = Encoding.UTF8.GetString(rest.ToArray());
        }
        return new RawHttpAnswer(status, map, body);
    }

    /// <summary>A GET with the given <c>Host</c> line (none when null) and extra header lines.</summary>
    public static Task<RawHttpAnswer> GetAsync(int port, string path, string? host, params string[] headers) =>
        SendAsync(port, $"GET {path} HTTP/1.1\r\n{(host is null ? "" : $"Host: {host}\r\n")}{string.Concat(headers.Select(h => h + "\r\n"))}Connection: close\r\n\r\n");
}
