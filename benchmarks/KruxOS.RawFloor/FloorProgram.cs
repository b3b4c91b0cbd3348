using System.Globalization;
using KruxOS.Gateway.Transport;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace KruxOS.RawFloor;

/// <summary>
/// The raw MCP floor: the MCP C# SDK serving one no-op tool over Streamable HTTP (<c>MapMcp</c>) and
/// over WebSocket (the gateway's own <see cref="WebSocketServerTransport"/>), on loopback, with no
/// actors, policy, approvals, audit or authentication. The load driver measures the gateway against it.
/// </summary>
public static class FloorProgram
{
    /// <summary>The only tool the floor serves.</summary>
    public const string ToolName = "noop";

    /// <summary>Paths that accept WebSocket upgrades, the same as the gateway's.</summary>
    public static readonly string[] WebSocketPaths = ["/mcp", "/", "/ws"];

    /// <summary>Runs the floor: <c>--port &lt;p&gt;</c> (required, loopback only).</summary>
    public static async Task<int> Main(string[] args)
    {
        var port = ParsePort(args);
        if (port is null)
        {
            await Console.Error.WriteLineAsync("usage: KruxOS.RawFloor --port <1-65535>").ConfigureAwait(false);
            return 2;
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        // The same log filters as the gateway's appsettings.json: nothing is logged per request.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("ModelContextProtocol", LogLevel.Warning);
        // Loopback only: 127.0.0.1, and ::1 where the host has IPv6.
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port.Value));
        builder.Services
            .AddMcpServer(o => Configure(o))
            .WithHttpTransport(o => o.Stateless = false) // stateful, like the gateway
            .WithListToolsHandler((_, _) => ValueTask.FromResult(new ListToolsResult { Tools = [NoopTool] }))
            .WithCallToolHandler((request, _) => ValueTask.FromResult(Call(request.Params)));

        var app = builder.Build();
        app.UseWebSockets();
        app.Use(async (http, next) =>
        {
            if (http.WebSockets.IsWebSocketRequest && WebSocketPaths.Contains(http.Request.Path.Value))
            {
                await ServeWebSocketAsync(http).ConfigureAwait(false);
                return;
            }
            await next(http).ConfigureAwait(false);
        });
        app.MapMcp("/mcp");
        app.MapGet("/health", () => Results.Text("ok"));
        await app.RunAsync().ConfigureAwait(false);
        return 0;
    }

    private static readonly Tool NoopTool = new()
    {
        Name = ToolName,
        Description = "Does nothing and returns {}.",
        InputSchema = System.Text.Json.JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement.Clone(),
    };

    private static void Configure(McpServerOptions options)
    {
        options.ServerInfo = new Implementation { Name = "kruxos-raw-floor", Version = "1.0.0" };
        options.Capabilities = new ServerCapabilities { Tools = new ToolsCapability { ListChanged = false } };
    }

    private static CallToolResult Call(CallToolRequestParams? p) =>
        p?.Name == ToolName
            ? new CallToolResult { Content = [new TextContentBlock { Text = "{}" }] }
            : new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = """{"error":"UnknownTool","message":"the floor serves only noop"}""" }] };

    private static async Task ServeWebSocketAsync(HttpContext http)
    {
        var loggers = http.RequestServices.GetRequiredService<ILoggerFactory>();
        var subprotocol = http.WebSockets.WebSocketRequestedProtocols.Contains("mcp") ? "mcp" : null;
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = subprotocol,
            KeepAliveInterval = TimeSpan.FromSeconds(30),
        }).ConfigureAwait(false);
        await using var transport = new WebSocketServerTransport(socket, Guid.NewGuid().ToString("N"), loggers);
        var options = new McpServerOptions();
        Configure(options);
        options.Handlers.ListToolsHandler = (_, _) => ValueTask.FromResult(new ListToolsResult { Tools = [NoopTool] });
        options.Handlers.CallToolHandler = (request, _) => ValueTask.FromResult(Call(request.Params));
        await using var server = McpServer.Create(transport, options, loggers, http.RequestServices);
        transport.Start();
        try
        {
            var run = server.RunAsync(http.RequestAborted);
            await Task.WhenAny(run, transport.Completion).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { }
    }

    private static int? ParsePort(string[] args)
    {
        for (var i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--port" && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535)
                return p;
        }
        return null;
    }
}
