using KruxOS.Testing;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// A scripted WebSocket server standing in for the gateway where the real one cannot produce the case
/// (a 2 MiB result, a connection dropped at an exact point). Each accepted connection is handed to the
/// script with its 0-based index; every text frame received is recorded per connection.
/// </summary>
public sealed class FakeGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _connections;

    private FakeGateway(WebApplication app) => _app = app;

    /// <summary>Frames received, per connection index.</summary>
    public ConcurrentDictionary<int, ConcurrentQueue<JsonObject>> Received { get; } = new();

    /// <summary>The Authorization and X-KruxOS-* headers of each upgrade.</summary>
    public ConcurrentQueue<Dictionary<string, string>> UpgradeHeaders { get; } = new();

    public Uri Endpoint { get; private set; } = null!;

    public static async Task<FakeGateway> StartAsync(Func<FakeGateway, int, Connection, Task> script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeGateway(app);
        app.UseWebSockets();
        app.Map("/mcp", async (HttpContext http) =>
        {
            if (!http.WebSockets.IsWebSocketRequest) { http.Response.StatusCode = 400; return; }
            fake.UpgradeHeaders.Enqueue(http.Request.Headers.Where(h => h.Key.StartsWith("X-KruxOS", StringComparison.OrdinalIgnoreCase) || h.Key == "Authorization")
                .ToDictionary(h => h.Key, h => h.Value.ToString()));
            using var socket = await http.WebSockets.AcceptWebSocketAsync("mcp");
            var index = Interlocked.Increment(ref fake._connections) - 1;
            var conn = new Connection(socket, fake.Received.GetOrAdd(index, _ => new ConcurrentQueue<JsonObject>()));
            await script(fake, index, conn);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.Endpoint = new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal) + "/mcp");
        return fake;
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _app.StopAsync(cts.Token); }
        finally { await _app.DisposeAsync(); }
    }

    /// <summary>One accepted connection.</summary>
    public sealed class Connection(WebSocket socket, ConcurrentQueue<JsonObject> received)
    {
        public WebSocket Socket { get; } = socket;

        /// <summary>The next text frame as JSON (recorded), or null when the peer closed.</summary>
        public async Task<JsonObject?> ReceiveAsync()
        {
            using var cts = new CancellationTokenSource(TestTimeouts.Process);
            var buffer = new byte[64 * 1024];
            using var ms = new MemoryStream();
            try
            {
                while (true)
                {
                    var r = await Socket.ReceiveAsync(buffer, cts.Token);
                    if (r.MessageType == WebSocketMessageType.Close) return null;
                    ms.Write(buffer, 0, r.Count);
                    if (r.EndOfMessage) break;
                }
            }
            catch (WebSocketException) { return null; }
            var msg = JsonNode.Parse(Encoding.UTF8.GetString(ms.ToArray()))!.AsObject();
            received.Enqueue(msg);
            return msg;
        }

        public Task SendAsync(string json) =>
            Socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

        /// <summary>Answers an initialize request like the gateway does.</summary>
        public Task AnswerInitializeAsync(JsonObject request) => SendAsync(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = request["id"]!.DeepClone(),
            ["result"] = new JsonObject
            {
                ["protocolVersion"] = "2024-11-05",
                ["capabilities"] = new JsonObject { ["tools"] = new JsonObject() },
                ["serverInfo"] = new JsonObject { ["name"] = "fake-gateway", ["version"] = "0" },
            },
        }.ToJsonString());

        /// <summary>Answers a request with a tools/call text result.</summary>
        public Task AnswerTextAsync(JsonObject request, string text, bool isError = false) => SendAsync(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = request["id"]!.DeepClone(),
            ["result"] = new JsonObject
            {
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text }),
                ["isError"] = isError,
            },
        }.ToJsonString());

        /// <summary>Reads frames until the peer closes the connection.</summary>
        public async Task DrainAsync()
        {
            while (await ReceiveAsync() is not null) { }
        }
    }
}
