using System.Text.Json.Nodes;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Core.Control;
using KruxOS.Gateway.Control;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// First start on an empty data directory: creates the <c>admin</c> agent and prints its token and a
/// ready <c>.mcp.json</c> snippet to standard output, once. The token goes to stdout only, never to the
/// log, and is not stored anywhere but as a hash.
/// </summary>
public sealed partial class BootstrapService(
    IdentityDirectory directory,
    ControlCommands commands,
    GatewaySettings gateway,
    BoundAddresses addresses,
    IHostApplicationLifetime lifetime,
    ILogger<BootstrapService> log) : BackgroundService
{
    /// <summary>The agent created on first start.</summary>
    public const string AdminAgent = "admin";

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        await directory.Ready.WaitAsync(stoppingToken).ConfigureAwait(false);
        // Without a place to show the token once, an admin agent would be unusable: the operator creates agents with the CLI.
        if (directory.Current.Agents.Count > 0 || !gateway.PrintBootstrapToken) return;

        var response = ControlResponse.Parse(await commands.ExecuteAsync(null, ControlProtocol.Methods.AgentCreate,
            new JsonObject { ["name"] = AdminAgent, ["purpose"] = "Administrator agent created at first start" }, stoppingToken).ConfigureAwait(false));
        if (!response.Ok)
        {
            LogBootstrapFailed(response.ErrorMessage ?? "unknown error");
            return;
        }
        var token = response.Result!["token"]!.GetValue<string>();
        var host = gateway.Bind is "0.0.0.0" or "::" ? "127.0.0.1" : gateway.Bind;
        var snippet = new JsonObject
        {
            ["mcpServers"] = new JsonObject
            {
                ["kruxos"] = new JsonObject
                {
                    ["command"] = "/opt/kruxos/bin/mcp-bridge",
                    ["args"] = new JsonArray(),
                    ["env"] = new JsonObject
                    {
                        ["KRUXOS_ENDPOINT"] = $"ws://{host}:{addresses.GatewayPort}/mcp",
                        ["KRUXOS_AGENT_NAME"] = AdminAgent,
                        ["KRUXOS_AGENT_TOKEN"] = token,
                    },
                },
            },
        };
        var text = $"""

            KruxOS first start: created agent '{AdminAgent}'.
            Token (shown once; it is stored only as a hash): {token}

            .mcp.json for Claude Code:
            {snippet.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })}

            """;
        await Console.Out.WriteAsync(text).ConfigureAwait(false);
        await Console.Out.FlushAsync(stoppingToken).ConfigureAwait(false);
        LogBootstrapped(AdminAgent);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "First start: created agent {Agent}; its token was printed to standard output")]
    private partial void LogBootstrapped(string agent);

    [LoggerMessage(Level = LogLevel.Error, Message = "First start: could not create the admin agent: {Reason}")]
    private partial void LogBootstrapFailed(string reason);
}
