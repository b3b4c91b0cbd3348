using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Core.Control;
using KruxOS.Gateway.Control;

namespace KruxOS.Gateway.Hosting;

/// <summary>Where the first-start admin token goes (<c>Gateway:BootstrapTokenOutput</c>; ADR 0014).</summary>
public enum BootstrapTokenOutput
{
    /// <summary>Printed when standard output is a terminal; otherwise written to an owner-only file whose path is printed.</summary>
    Auto,
    /// <summary>Always printed to standard output (a harness that reads the gateway's output privately).</summary>
    Stdout,
    /// <summary>Always written to the owner-only file.</summary>
    File,
}

/// <summary>The standard output the first-start text goes to, and whether it is a terminal (tests replace it).</summary>
/// <param name="Writer">Where the text is written.</param>
/// <param name="IsTerminal">Whether a person reads it as it is written (and no log keeps it).</param>
public sealed record BootstrapConsole(TextWriter Writer, bool IsTerminal)
{
    /// <summary>The process's standard output.</summary>
    public static BootstrapConsole Standard() => new(Console.Out, !Console.IsOutputRedirected);
}

/// <summary>
/// First start on an empty data directory: creates the <c>admin</c> agent and hands its token and a ready
/// <c>.mcp.json</c> to the operator, once. On a terminal they are printed; otherwise (under systemd standard
/// output is the journal, which keeps everything) they go to an owner-only file in the data directory and
/// only its path is printed (ADR 0014). The token never goes to the log and is stored only as a hash.
/// </summary>
public sealed partial class BootstrapService(
    IdentityDirectory directory,
    AgentAdmin agents,
    GatewaySettings gateway,
    KruxOsSettings settings,
    GatewayEndpoints endpoints,
    BoundAddresses addresses,
    BootstrapConsole console,
    IHostApplicationLifetime lifetime,
    ILogger<BootstrapService> log) : BackgroundService
{
    /// <summary>The agent created on first start.</summary>
    public const string AdminAgent = "admin";

    /// <summary>The file (in the data directory) that holds the first-start <c>.mcp.json</c> when it is not printed.</summary>
    public const string SnippetFileName = "admin.mcp.json";

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        await directory.Ready.WaitAsync(stoppingToken).ConfigureAwait(false);
        await addresses.Recorded.WaitAsync(stoppingToken).ConfigureAwait(false);
        // Without a place to show the token once, an admin agent would be unusable: the operator creates agents with the CLI.
        if (directory.Current.Agents.Count > 0 || !gateway.PrintBootstrapToken) return;

        var created = await agents.CreateAsync(AdminAgent, "Administrator agent created at first start", stoppingToken).ConfigureAwait(false);
        if (!created.IsOk)
        {
            LogBootstrapFailed(created.Error!.Message);
            return;
        }
        var token = created.Value!.Token;
        var snippet = Snippet(token, endpoints.Current()).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        var print = gateway.BootstrapTokenOutput == BootstrapTokenOutput.Stdout
                    || (gateway.BootstrapTokenOutput == BootstrapTokenOutput.Auto && console.IsTerminal);
        string text;
        if (print)
        {
            text = $"""

                KruxOS first start: created agent '{AdminAgent}'.
                Token (shown once; it is stored only as a hash): {token}

                .mcp.json for Claude Code:
                {snippet}

                """;
        }
        else
        {
            var path = Path.Combine(settings.DataDir, SnippetFileName);
            await WriteOwnerOnlyAsync(path, snippet + "\n", stoppingToken).ConfigureAwait(false);
            text = $"""

                KruxOS first start: created agent '{AdminAgent}'.
                Its token and a ready .mcp.json for Claude Code are in {path} (mode 0600, readable by this gateway's user only).
                The token is not printed: standard output is not a terminal, and a log (such as the systemd journal) would keep it.
                Copy that file to your project's .mcp.json (or take the token from it), then delete it; the gateway stores only the token's hash.

                """;
        }
        await console.Writer.WriteAsync(text).ConfigureAwait(false);
        await console.Writer.FlushAsync(stoppingToken).ConfigureAwait(false);
        LogBootstrapped(AdminAgent, print ? "standard output" : SnippetFileName);
    }

    /// <summary>
    /// The <c>.mcp.json</c> (the integration page's option B) that connects Claude Code to this gateway as the admin
    /// agent through the bridge of this install, over <c>wss://</c>. <c>KRUXOS_CA_CERT</c> is added only when the bridge
    /// would not find this gateway's CA by itself (a data directory outside the defaults).
    /// </summary>
    public static JsonObject Snippet(string token, GatewayRuntimeInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var env = new JsonObject
        {
            ["KRUXOS_ENDPOINT"] = info.Mcp,
            ["KRUXOS_AGENT_NAME"] = AdminAgent,
            ["KRUXOS_AGENT_TOKEN"] = token,
        };
        if (!FoundWithoutSettings(info.CaCertificate)) env["KRUXOS_CA_CERT"] = info.CaCertificate;
        return new JsonObject
        {
            ["mcpServers"] = new JsonObject
            {
                ["kruxos"] = new JsonObject
                {
                    ["command"] = info.Bridge,
                    ["args"] = new JsonArray(),
                    ["env"] = env,
                },
            },
        };
    }

    /// <summary>Whether the bridge finds a CA at <paramref name="path"/> with no KRUXOS_ setting for any user (the appliance's run directory).</summary>
    public static bool FoundWithoutSettings(string path) =>
        KruxOS.Core.Tls.GatewayTrust.LocalAuthorities(_ => null, _ => null, "/nonexistent-home")
            .Any(c => c.Path == Path.GetFullPath(path) && !c.Path.StartsWith("/nonexistent-home", StringComparison.Ordinal));

    // Created 0600 from the first byte (never readable by others, whatever the umask); an older copy is replaced.
    private static async Task WriteOwnerOnlyAsync(string path, string content, CancellationToken ct)
    {
        System.IO.File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using var stream = new FileStream(path, options);
        await using var writer = new StreamWriter(stream);
        await writer.WriteAsync(content.AsMemory(), ct).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "First start: created agent {Agent}; its token went to {Destination} (never to the log)")]
    private partial void LogBootstrapped(string agent, string destination);

    [LoggerMessage(Level = LogLevel.Error, Message = "First start: could not create the admin agent: {Reason}")]
    private partial void LogBootstrapFailed(string reason);
}
