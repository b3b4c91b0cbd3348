using KruxOS.Testing;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace KruxOS.Gateway.Tests.Support;

/// <summary>A bare WebSocket JSON-RPC peer for protocol-level tests.</summary>
public sealed class RawWebSocket(ClientWebSocket socket) : IAsyncDisposable
{
    public ClientWebSocket Socket { get; } = socket;

    public static async Task<RawWebSocket> ConnectAsync(Uri uri, string? token, string? origin = null, string? subprotocol = "mcp",
        IReadOnlyDictionary<string, string>? headers = null, System.Security.Cryptography.X509Certificates.X509Certificate2? trust = null)
    {
        var ws = new ClientWebSocket();
        if (trust is not null) ws.Options.RemoteCertificateValidationCallback = TestTls.TrustOnly(trust);
        ws.Options.CollectHttpResponseDetails = true;
        foreach (var (k, v) in headers ?? new Dictionary<string, string>()) ws.Options.SetRequestHeader(k, v);
        if (token is not null) ws.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        if (origin is not null) ws.Options.SetRequestHeader("Origin", origin);
        if (subprotocol is not null) ws.Options.AddSubProtocol(subprotocol);
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        await ws.ConnectAsync(uri, cts.Token);
        return new RawWebSocket(ws);
    }

    public Task SendAsync(string text) =>
        Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    public async Task<JsonObject> RequestAsync(int id, string method, JsonObject? parameters = null)
    {
        await SendAsync(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() }.ToJsonString());
        while (true)
        {
            var msg = await ReceiveAsync() ?? throw new InvalidOperationException("socket closed");
            if (msg["id"]?.GetValue<int>() == id) return msg;
        }
    }

    public async Task InitializeAsync()
    {
        var r = await RequestAsync(0, "initialize", new JsonObject
        {
            ["protocolVersion"] = "2024-11-05",
            ["clientInfo"] = new JsonObject { ["name"] = "raw-test", ["version"] = "1" },
            ["capabilities"] = new JsonObject(),
        });
        if (r["result"] is null) throw new InvalidOperationException("initialize failed: " + r.ToJsonString());
        await SendAsync("""{"jsonrpc":"2.0","method":"notifications/initialized"}""");
    }

    /// <summary>The next text message, or null when the server closed the socket.</summary>
    public Task<JsonObject?> ReceiveAsync() => ReceiveAsync(TestTimeouts.Call);

    /// <summary>The next text message within <paramref name="timeout"/>, or null when the server closed the socket.</summary>
    public async Task<JsonObject?> ReceiveAsync(TimeSpan timeout)
    {
        var buffer = new byte[1 << 16];
        using var ms = new MemoryStream();
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var r = await Socket.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close) return null;
            ms.Write(buffer, 0, r.Count);
            if (r.EndOfMessage) return JsonNode.Parse(ms.ToArray())!.AsObject();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Socket.State == WebSocketState.Open)
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        Socket.Dispose();
    }
}
