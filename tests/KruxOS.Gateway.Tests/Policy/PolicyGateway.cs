using System.Net;
using Xunit;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Cli;
using KruxOS.Core.Control;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;

namespace KruxOS.Gateway.Tests.Policy;

/// <summary>
/// A gateway hosted in-process for the policy specs, composed exactly as <c>Program.cs</c> does it (flags for
/// the data directory, runtime-chosen free ports and a private control socket). Stopped and its data
/// directory removed on dispose.
/// </summary>
internal sealed class PolicyGateway : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private PolicyGateway(WebApplication app, string dataDir, string controlSocket, int port)
    {
        App = app;
        DataDir = dataDir;
        ControlSocket = controlSocket;
        Port = port;
    }

    public WebApplication App { get; }

    public string DataDir { get; }

    public string PoliciesDir => Path.Combine(DataDir, "policies");

    public string ControlSocket { get; }

    public int Port { get; }

    public PolicyStore Policies => App.Services.GetRequiredService<PolicyStore>();

    /// <summary>Starts a gateway whose policy directory holds <paramref name="files"/> (relative path → YAML) before start.</summary>
    public static async Task<PolicyGateway> StartAsync(IReadOnlyDictionary<string, string>? files = null)
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-policy-e2e-").FullName;
        foreach (var (path, text) in files ?? new Dictionary<string, string>())
            PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", path), text);
        var socket = Path.Combine(dataDir, "control.sock");
        WebApplication app;
        int port;
        for (var attempt = 1; ; attempt++)
        {
            port = FreePort();
            string[] args =
            [
                "--data-dir", dataDir, "--gateway-port", port.ToString(), "--health-port", FreePort().ToString(),
                "--user-api-port", FreePort().ToString(), "--control-socket", socket, "--Gateway:PrintBootstrapToken", "false",
            ];
            app = GatewayApp.Build(args, b => b.Logging.ClearProviders());
            try
            {
                await app.StartAsync();
                break;
            }
            catch (IOException) when (attempt < 3)
            {
                // A probed port was taken by someone else before Kestrel bound it: try new ones.
                await app.DisposeAsync();
            }
        }
        var gateway = new PolicyGateway(app, dataDir, socket, port);
        await gateway.Policies.Loaded.WaitAsync(Wait);
        return gateway;
    }

    /// <summary>Creates an agent through the control commands and returns its token.</summary>
    public async Task<string> CreateAgentAsync(string name)
    {
        var commands = App.Services.GetRequiredService<ControlCommands>();
        var line = await commands.ExecuteAsync(1, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = name, ["purpose"] = "policy specs" }, CancellationToken.None);
        var response = ControlResponse.Parse(line);
        Assert.True(response.Ok, response.ErrorMessage);
        return response.Result!["token"]!.GetValue<string>();
    }

    /// <summary>An MCP client over Streamable HTTP with the agent's bearer token.</summary>
    public Task<McpClient> ConnectAsync(string token, McpClientOptions? options = null) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{Port}/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }), options, cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Writes a policy file the way an operator's atomic save does.</summary>
    public void WritePolicy(string relative, string text) => PolicyDirectory.WriteAtomically(Path.Combine(PoliciesDir, relative), text);

    /// <summary>Runs the <c>kruxos</c> CLI in-process against this gateway's control socket.</summary>
    public async Task<(int Exit, string Out, string Err)> CliAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await CliApp.RunAsync(args, stdout, stderr, new ControlClient(ControlSocket), TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(Wait);
        await App.StopAsync(cts.Token);
        await App.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataDir, recursive: true); }
        catch (IOException) { }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
