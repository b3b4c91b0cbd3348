using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Cli;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using Xunit;

namespace KruxOS.Gateway.Tests.Policy;

/// <summary>
/// The shared in-process <see cref="TestGateway"/> with what the policy specs need on top: policy files laid
/// down before start, the policy store, an MCP client and the CLI in-process. Stopped and its data directory
/// removed on dispose.
/// </summary>
internal sealed class PolicyGateway : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TestGateway _gateway;

    private PolicyGateway(TestGateway gateway) => _gateway = gateway;

    public string PoliciesDir => Path.Combine(_gateway.DataDir, "policies");

    public int Port => _gateway.GatewayPort;

    /// <summary>The User API port (loopback).</summary>
    public int UserApiPort => _gateway.UserApiPort;

    /// <summary>The health port (loopback).</summary>
    public int HealthPort => _gateway.HealthPort;

    /// <summary>The gateway's services.</summary>
    public IServiceProvider Services => _gateway.Services;

    /// <summary>Runs a control-socket method.</summary>
    public Task<JsonNode> ControlAsync(string method, JsonObject? parameters = null) => _gateway.ControlAsync(method, parameters);

    public PolicyStore Policies => _gateway.Services.GetRequiredService<PolicyStore>();

    /// <summary>Starts a gateway whose policy directory holds <paramref name="files"/> (relative path → YAML) before start.</summary>
    public static async Task<PolicyGateway> StartAsync(IReadOnlyDictionary<string, string>? files = null)
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-policy-e2e-").FullName;
        foreach (var (path, text) in files ?? new Dictionary<string, string>())
            PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", path), text);
        var gateway = new PolicyGateway(await TestGateway.StartAsync(dataDir, "--Gateway:PrintBootstrapToken", "false"));
        await gateway.Policies.Loaded.WaitAsync(Wait);
        return gateway;
    }

    /// <summary>Creates an agent through the control commands and returns its token.</summary>
    public async Task<string> CreateAgentAsync(string name)
    {
        var result = await _gateway.ControlAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = name, ["purpose"] = "policy specs" });
        return result["token"]!.GetValue<string>();
    }

    /// <summary>An MCP client over Streamable HTTP with the agent's bearer token.</summary>
    public Task<McpClient> ConnectAsync(string token, McpClientOptions? options = null) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = _gateway.McpHttp,
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
        var exit = await CliApp.RunAsync(args, stdout, stderr, new ControlClient(_gateway.ControlSocket), TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public ValueTask DisposeAsync() => _gateway.DisposeAsync();
}
