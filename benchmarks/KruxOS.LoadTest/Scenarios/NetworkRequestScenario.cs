using System.Net;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>network-http-ws</c>: N sessions (default 16) call <c>network__http_request</c> for a 1 KiB response of a loopback
/// HTTP server the driver runs — egress decision, the gateway's pinned connection pool, the capped body read and
/// durable audit per call. The floor is the same GET made directly by the driver with its own pooled client, so the
/// ratio is what going through the gateway costs over the request itself.
/// </summary>
public sealed class NetworkRequestScenario : IScenario
{
    /// <summary>The port of the loopback server, fixed when the gateway starts so its policy can open exactly it.</summary>
    public static int ServerPort { get; } = FreePorts.Take(1)[0];

    /// <summary>The URL every operation fetches.</summary>
    public static string Url => $"http://127.0.0.1:{ServerPort}/payload";

    /// <summary>The policy the driver gives the gateway's admin agent: the loopback server's address and port, nothing else.</summary>
    public static string AdminPolicy => $"network:\n  allowed_addresses:\n    - \"127.0.0.1:{ServerPort}\"\n";

    /// <inheritdoc />
    public string Name => "network-http-ws";

    /// <inheritdoc />
    public string Description => "closed loop: --concurrency websocket sessions call network__http_request GET of a 1 KiB loopback response (gateway) / the driver's own GET of it (floor)";

    /// <inheritdoc />
    public bool Comparable => true;

    /// <inheritdoc />
    public bool RunsOnFloor => true;

    /// <inheritdoc />
    public int SessionsNeeded(Cli.DriverOptions options) => options.Concurrency;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        await using var server = await PayloadServer.StartAsync(ServerPort, ct).ConfigureAwait(false);
        if (target.Name != TargetServer.Gateway)
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, UseCookies = false, AllowAutoRedirect = false }) { Timeout = o.CallTimeout };
            var direct = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests, async (_, c) =>
            {
                try
                {
                    using var response = await http.GetAsync(Url, c).ConfigureAwait(false);
                    var body = await response.Content.ReadAsByteArrayAsync(c).ConfigureAwait(false);
                    return response.IsSuccessStatusCode && body.Length == PayloadServer.Size ? CallOutcome.Ok : CallOutcome.Transport(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                catch (HttpRequestException e) { return CallOutcome.Transport(e.GetType().Name); }
            }, ct).ConfigureAwait(false);
            return ScenarioResult.ClosedLoop(Name, target.Name, "http (driver's own client)", "GET 1 KiB, direct", o.Concurrency, direct);
        }

        var call = new Clients.McpWire.ToolCallTemplate("network__http_request", $$"""{"url":"{{Url}}"}""");
        using var factory = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout);
        var sessions = await factory.OpenManyAsync(o.Concurrency, parallelism: 8, ct).ConfigureAwait(false);
        LoadRunResult run;
        try
        {
            run = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests,
                (worker, c) => sessions[worker].CallToolAsync(call, c), ct).ConfigureAwait(false);
        }
        finally
        {
            await SessionFactory.CloseAllAsync(sessions, CancellationToken.None).ConfigureAwait(false);
        }
        return ScenarioResult.ClosedLoop(Name, target.Name, SessionFactory.Name(McpTransport.WebSocket),
            "tools/call network__http_request (GET 1 KiB, loopback)", o.Concurrency, run);
    }

    /// <summary>A loopback HTTP server answering every GET with the same 1 KiB body.</summary>
    private sealed class PayloadServer : IAsyncDisposable
    {
        public const int Size = 1024;
        private static readonly byte[] Payload = [.. Enumerable.Range(0, Size).Select(i => (byte)('a' + i % 26))];
        private readonly HttpListener _listener;
        private readonly Task _loop;

        private PayloadServer(HttpListener listener)
        {
            _listener = listener;
            _loop = Task.Run(LoopAsync);
        }

        public static Task<PayloadServer> StartAsync(int port, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            listener.Start();
            return Task.FromResult(new PayloadServer(listener));
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync().ConfigureAwait(false); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                _ = Task.Run(async () =>
                {
                    try
                    {
                        context.Response.ContentType = "text/plain";
                        context.Response.ContentLength64 = Size;
                        await context.Response.OutputStream.WriteAsync(Payload).ConfigureAwait(false);
                        context.Response.Close();
                    }
                    catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException) { }
                });
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            try { await _loop.ConfigureAwait(false); }
            catch (ObjectDisposedException) { }
        }
    }
}
