using System.Text.Json;
using System.Text.Json.Nodes;
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

/// <summary>Finds the <c>mcp-bridge</c> that belongs to this gateway, for the first-start <c>.mcp.json</c>.</summary>
public static class McpBridgeLocation
{
    /// <summary>The appliance's documented path, used when no bridge is found next to the gateway.</summary>
    public const string Documented = "/opt/kruxos/bin/mcp-bridge";

    /// <summary>
    /// The bridge of the same install as the gateway in <paramref name="gatewayDirectory"/>, first that exists:
    /// an <c>mcp-bridge</c> next to the gateway; the install layout's launcher (<c>lib/gateway</c> →
    /// <c>bin/mcp-bridge</c>, e.g. <c>/opt/kruxos/bin/mcp-bridge</c>); a developer build's
    /// (<c>src/KruxOS.Gateway/bin/C/T</c> → <c>src/KruxOS.Bridge/bin/C/T/mcp-bridge</c>). Otherwise <see cref="Documented"/>.
    /// </summary>
    public static string Find(string gatewayDirectory, Func<string, bool> exists)
    {
        ArgumentNullException.ThrowIfNull(exists);
        var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(gatewayDirectory));
        var candidates = new List<string>
        {
            Path.Combine(dir, "mcp-bridge"),
            Path.GetFullPath(Path.Combine(dir, "..", "..", "bin", "mcp-bridge")),
        };
        var tfm = new DirectoryInfo(dir);
        if (tfm.Parent is { Parent: { Name: "bin", Parent: { Name: "KruxOS.Gateway", Parent: { } src } } } configuration)
            candidates.Add(Path.Combine(src.FullName, "KruxOS.Bridge", "bin", configuration.Name, tfm.Name, "mcp-bridge"));
        return candidates.FirstOrDefault(exists) ?? Documented;
    }
}

/// <summary>
/// First start on an empty data directory: creates the <c>admin</c> agent and hands its token and a ready
/// <c>.mcp.json</c> to the operator, once. On a terminal they are printed; otherwise (under systemd standard
/// output is the journal, which keeps everything) they go to an owner-only file in the data directory and
/// only its path is printed (ADR 0014). The token never goes to the log and is stored only as a hash.
/// </summary>
public sealed partial class BootstrapService(
    IdentityDirectory directory,
    ControlCommands commands,
    GatewaySettings gateway,
    KruxOsSettings settings,
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
        var snippet = Snippet(token, McpBridgeLocation.Find(AppContext.BaseDirectory, System.IO.File.Exists)).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
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

    /// <summary>The <c>.mcp.json</c> that connects Claude Code to this gateway as the admin agent through <paramref name="bridge"/>.</summary>
    public JsonObject Snippet(string token, string bridge)
    {
        var host = gateway.Bind is "0.0.0.0" or "::" ? "127.0.0.1" : gateway.Bind.Contains(':', StringComparison.Ordinal) ? $"[{gateway.Bind}]" : gateway.Bind;
        return new JsonObject
        {
            ["mcpServers"] = new JsonObject
            {
                ["kruxos"] = new JsonObject
                {
                    ["command"] = bridge,
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
    }

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
