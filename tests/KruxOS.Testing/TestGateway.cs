using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Policy;
using KruxOS.Core.Control;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Testing;

/// <summary>Generous timeouts for a loaded 2-core CI machine.</summary>
public static class TestTimeouts
{
    public static readonly TimeSpan Process = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan Call = TimeSpan.FromSeconds(20);
}

/// <summary>A real gateway, in-process, on runtime-chosen loopback ports with its own data directory.</summary>
public sealed class TestGateway : IAsyncDisposable
{
    private readonly Action<WebApplicationBuilder>? _customize;
    private readonly string[] _extraArgs;

    private TestGateway(WebApplication app, string dataDir, int gatewayPort, int userApiPort, int healthPort, Action<WebApplicationBuilder>? customize, string[] extraArgs)
    {
        _customize = customize;
        _extraArgs = extraArgs;
        App = app;
        DataDir = dataDir;
        GatewayPort = gatewayPort;
        UserApiPort = userApiPort;
        HealthPort = healthPort;
    }

    public WebApplication App { get; }

    public IServiceProvider Services => App.Services;
    public string DataDir { get; }
    public int GatewayPort { get; }
    public int UserApiPort { get; }
    public int HealthPort { get; }

    /// <summary>The dashboard's port (chosen by the system at start).</summary>
    public int DashboardPort => App.Services.GetRequiredService<BoundAddresses>().DashboardPort;

    /// <summary>The dashboard's base address (https, loopback).</summary>
    public Uri Dashboard => new($"https://127.0.0.1:{DashboardPort}");
    /// <summary>The control socket the gateway really listens on (<c>--control-socket</c> may move it).</summary>
    public string ControlSocket => App.Services.GetRequiredService<GatewaySettings>().ControlSocketPath(DataDir);

    /// <summary>The auth socket the gateway really listens on (<c>--auth-socket</c> may move it).</summary>
    public string AuthSocket => App.Services.GetRequiredService<GatewaySettings>().AuthSocketPath(DataDir);
    public Uri McpHttp => new($"http://127.0.0.1:{GatewayPort}/mcp");
    public Uri McpWs => new($"ws://127.0.0.1:{GatewayPort}/mcp");
    public Uri McpWss => new($"wss://127.0.0.1:{GatewayPort}/mcp");

    /// <summary>The published copy of the gateway's CA certificate (next to its auth socket).</summary>
    public string CaCertificatePath => App.Services.GetRequiredService<KruxOS.Gateway.Tls.NodeCertificates>().PublishedAuthorityPath;

    /// <summary>The gateway's CA certificate.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 Authority =>
        App.Services.GetRequiredService<KruxOS.Gateway.Tls.NodeCertificates>().Authority;

    public static Task<TestGateway> StartAsync(string? dataDir = null, params string[] extraArgs) => StartAsync(dataDir, null, null, extraArgs);

    /// <summary>Starts a gateway whose builder is customised first (e.g. services replaced); restarts keep the customisation.</summary>
    public static Task<TestGateway> StartCustomizedAsync(Action<WebApplicationBuilder> customize, string? dataDir = null, params string[] extraArgs) =>
        StartAsync(dataDir, null, customize, extraArgs);

    /// <summary>
    /// Stops this gateway (keeping its data directory) and starts a new one on the same ports, data and extra
    /// arguments, as a service restart would. This instance must not be used afterwards.
    /// </summary>
    public async Task<TestGateway> RestartAsync()
    {
        await StopBoundedAsync(App);
        SqliteConnection.ClearAllPools();
        return await StartAsync(DataDir, (GatewayPort, UserApiPort, HealthPort), _customize, _extraArgs);
    }

    private static async Task<TestGateway> StartAsync(string? dataDir, (int G, int U, int H)? fixedPorts, Action<WebApplicationBuilder>? customize,
        params string[] extraArgs)
    {
        // A private data directory under a private parent (both 0700, like ~/.kruxos under /root): the gateway,
        // its sandbox included, must work without either being traversable by anyone else.
        dataDir ??= Path.Combine(Directory.CreateTempSubdirectory("kruxos-gw-").FullName, "data");
        // Ports are chosen at runtime; another test may grab one between the probe and the bind, so retry.
        for (var attempt = 1; ; attempt++)
        {
            var (g, u, h) = fixedPorts ?? (FreePort(), FreePort(), FreePort());
            // The dashboard takes a port the system picks (DashboardPort): parallel gateways never meet on 7800.
            string[] args = ["--data-dir", dataDir, "--gateway-port", $"{g}", "--user-api-port", $"{u}", "--health-port", $"{h}", "--dashboard-port", "0",
                "--control-socket", Path.Combine(dataDir, "run", "control.sock"),
                "--auth-socket", Path.Combine(dataDir, "run", "auth.sock"),
                // Each in-process gateway gets its own cgroup tree, as separate hosts would.
                "--KruxOS:Sandbox:CgroupName", "kruxos-test-" + Guid.NewGuid().ToString("N")[..8], .. extraArgs];
            var app = GatewayApp.Build(args, b =>
            {
                b.Logging.ClearProviders();
                b.Logging.SetMinimumLevel(LogLevel.Warning);
                customize?.Invoke(b);
            });
            try
            {
                // bounded: a start that never completes fails the spec instead of hanging the run
                await app.StartAsync().WaitAsync(TestTimeouts.Process);
            }
            catch (IOException) when (attempt < 5 && fixedPorts is null)
            {
                await app.DisposeAsync();
                continue;
            }
            catch
            {
                // a gateway that refused to start (e.g. a bad capability module) leaves nothing running behind the spec
                await app.DisposeAsync();
                throw;
            }
            var gateway = new TestGateway(app, dataDir, g, u, h, customize, extraArgs);
            await gateway.WaitReadyAsync();
            return gateway;
        }
    }

    /// <summary>Runs a control-socket command in-process (what the CLI does over the socket).</summary>
    public async Task<JsonNode> ControlAsync(string method, JsonObject? parameters = null)
    {
        var commands = App.Services.GetRequiredService<ControlCommands>();
        var line = await commands.ExecuteAsync(null, method, parameters ?? new JsonObject(), CancellationToken.None);
        var r = ControlResponse.Parse(line);
        if (!r.Ok) throw new InvalidOperationException($"{method} failed: {r.ErrorType} {r.ErrorMessage}");
        return r.Result!;
    }

    /// <summary>Creates an agent and returns its token.</summary>
    public async Task<string> CreateAgentAsync(string name) =>
        (await ControlAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = name, ["purpose"] = "tests" }))["token"]!.GetValue<string>();

    /// <summary>
    /// <c>/health</c> once it says healthy: areas that recover from the journal (the vault, the proxy's write index) say
    /// "loading" for a moment after start-up, longer on a busy machine. Returns the last body after <paramref name="bound"/>
    /// (60 s unless given) if it never does, so the caller's assertion shows which service was not.
    /// </summary>
    public async Task<JsonNode> HealthWhenHealthyAsync(TimeSpan? bound = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow + (bound ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var body = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{HealthPort}/health"))!;
            if (body["status"]?.GetValue<string>() == "healthy" || DateTime.UtcNow > deadline) return body;
            await Task.Delay(250);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopBoundedAsync(App); }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            // The private temporary parent made for it (TestGateway, TestPolicies), when it is now empty.
            var parent = Path.GetDirectoryName(DataDir);
            if (parent is not null && Path.GetFileName(DataDir) == "data" && Path.GetDirectoryName(parent) == Path.GetTempPath().TrimEnd('/'))
                try { Directory.Delete(parent); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // Stop and dispose, each bounded: a shutdown that never completes fails the spec (TimeoutException)
    // instead of hanging the whole run.
    private static async Task StopBoundedAsync(WebApplication app)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await app.StopAsync(cts.Token).WaitAsync(TimeSpan.FromSeconds(60)); }
        finally { await app.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)); }
    }

    private async Task WaitReadyAsync()
    {
        using var http = new HttpClient();
        var deadline = Stopwatch.StartNew();
        var last = "";
        while (deadline.Elapsed < TestTimeouts.Process)
        {
            try
            {
                var r = await http.GetAsync($"http://127.0.0.1:{HealthPort}/health/ready");
                var health = await http.GetAsync($"http://127.0.0.1:{HealthPort}/health");
                last = await health.Content.ReadAsStringAsync();
                var ready = r.IsSuccessStatusCode || SystemPackages.OnlySandboxPackagesMissing(last);
                if (ready && File.Exists(ControlSocket) && File.Exists(AuthSocket) && File.Exists(CaCertificatePath))
                {
                    // Ready for calls as a client sees it: until the first policy set has loaded every call is refused
                    // (fail closed), and until the approval index has replayed the journal approval-requiring calls are.
                    await App.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TestTimeouts.Call);
                    await App.Services.GetRequiredService<ApprovalIndex>().Ready.WaitAsync(TestTimeouts.Call);
                    return;
                }
            }
            catch (HttpRequestException e) { last = e.Message; }
            await Task.Delay(100);
        }
        throw new TimeoutException("gateway did not become ready; last health: " + last);
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
