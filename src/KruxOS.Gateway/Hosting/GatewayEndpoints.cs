using KruxOS.Actors.Hosting;
using KruxOS.Core.Control;
using KruxOS.Core.Tls;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Tls;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// Finds a program of the gateway's own install or build (<c>mcp-bridge</c>, <c>cli-hook</c>), for the first-start
/// <c>.mcp.json</c> and for the seed configs <c>kruxos cli-config generate</c> writes.
/// </summary>
public static class ProgramLocation
{
    /// <summary>The appliance's programs.</summary>
    public const string ApplianceBin = "/opt/kruxos/bin";

    /// <summary>The appliance's documented path of <paramref name="program"/>.</summary>
    public static string Documented(string program) => Path.Combine(ApplianceBin, program);

    private static readonly Dictionary<string, string> Projects = new(StringComparer.Ordinal)
    {
        ["mcp-bridge"] = "KruxOS.Bridge",
        ["cli-hook"] = "KruxOS.CliHook",
    };

    /// <summary>
    /// <paramref name="program"/> of the same install as the gateway in <paramref name="gatewayDirectory"/>, first that
    /// exists: next to the gateway (a development build's launcher, written by the gateway's build); the install
    /// layout's launcher (<c>lib/gateway</c> → <c>bin/</c>, e.g. <c>/opt/kruxos/bin/mcp-bridge</c>); a developer
    /// build's own output (<c>src/KruxOS.Gateway/bin/C/T</c> → <c>src/KruxOS.Bridge/bin/C/T/mcp-bridge</c>; not for
    /// cli-hook, whose raw program would fail open). Otherwise the documented <c>/opt/kruxos/bin/…</c>.
    /// </summary>
    public static string Find(string program, string gatewayDirectory, Func<string, bool> exists)
    {
        ArgumentNullException.ThrowIfNull(exists);
        var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(gatewayDirectory));
        var candidates = new List<string>
        {
            Path.Combine(dir, program),
            Path.GetFullPath(Path.Combine(dir, "..", "..", "bin", program)),
        };
        var tfm = new DirectoryInfo(dir);
        if (program == "mcp-bridge" && Projects.TryGetValue(program, out var project)
            && tfm.Parent is { Parent: { Name: "bin", Parent: { Name: "KruxOS.Gateway", Parent: { } src } } } configuration)
            candidates.Add(Path.Combine(src.FullName, project, "bin", configuration.Name, tfm.Name, program));
        return candidates.FirstOrDefault(exists) ?? Documented(program);
    }
}

/// <summary>What this node serves, as local clients should reach it (<see cref="GatewayRuntimeInfo"/>).</summary>
public sealed class GatewayEndpoints(GatewaySettings gateway, KruxOsSettings settings, BoundAddresses addresses, NodeCertificates certificates)
{
    /// <summary>The host a local client connects to: loopback for a wildcard or loopback bind, else the bound address.</summary>
    public string LocalHost => gateway.Bind switch
    {
        "0.0.0.0" or "localhost" => "127.0.0.1",
        "::" => "127.0.0.1",
        var b when b.Contains(':', StringComparison.Ordinal) => $"[{b}]",
        var b => b,
    };

    /// <summary>The facts, with the ports actually bound.</summary>
    public GatewayRuntimeInfo Current()
    {
        var host = LocalHost;
        var plain = System.Net.IPAddress.TryParse(gateway.Bind == "localhost" ? "127.0.0.1" : gateway.Bind, out var bind) && TlsRules.PlainTextAllowed(bind);
        return new GatewayRuntimeInfo(
            $"wss://{host}:{addresses.GatewayPort}/mcp",
            plain ? $"ws://{host}:{addresses.GatewayPort}/mcp" : null,
            $"http://127.0.0.1:{addresses.UserApiPort}",
            Path.GetFullPath(gateway.AuthSocketPath(settings.DataDir)),
            certificates.PublishedAuthorityPath,
            ProgramLocation.Find("mcp-bridge", AppContext.BaseDirectory, File.Exists),
            ProgramLocation.Find("cli-hook", AppContext.BaseDirectory, File.Exists),
            settings.DataDir,
            Environment.ProcessId);
    }
}
