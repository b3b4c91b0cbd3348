using KruxOS.Core.Control;

namespace KruxOS.Core.Tls;

/// <summary>A file that may hold a local gateway's CA certificate, and what pointed at it (for messages).</summary>
public sealed record TrustAnchorCandidate(string Path, string Source);

/// <summary>
/// Where a client on the gateway's own host finds that gateway's CA certificate without any setting (ADR 0025),
/// the way the CLI finds the control socket: from the same environment and operator configuration file. The
/// gateway keeps its CA in <c>{data dir}/tls/ca.crt</c> and publishes a copy, readable by the users allowed on
/// the auth socket, next to the auth socket (<c>/run/kruxos/ca.crt</c> on the appliance).
/// </summary>
public static class GatewayTrust
{
    /// <summary>An explicit CA bundle (PEM) to trust instead of any local discovery.</summary>
    public const string CaCertVariable = "KRUXOS_CA_CERT";

    /// <summary>The published copy's file name, next to the auth socket.</summary>
    public const string PublishedFileName = "ca.crt";

    /// <summary>The appliance's run directory, which holds the auth socket.</summary>
    public const string ApplianceRunDirectory = "/run/kruxos";

    /// <summary>The CA certificate inside a data directory.</summary>
    public static string AuthorityIn(string dataDir) => Path.Combine(dataDir, "tls", "ca.crt");

    /// <summary>
    /// Every place a local gateway's CA may be, in this order, without duplicates:
    /// <list type="number">
    /// <item>next to <c>KRUXOS_AUTH_SOCKET</c> (seed configs set it when the gateway's socket is not the default);</item>
    /// <item><c>{KRUXOS_DATA_DIR}/tls/ca.crt</c> (or <c>KRUXOS_KruxOS__DataDir</c>);</item>
    /// <item>from the file named by <c>KRUXOS_CONFIG_FILE</c> (the installed launchers set it to the installed
    /// <c>/etc/kruxos/gateway.json</c> when it is readable): next to <c>Gateway:AuthSocket</c>, and
    /// <c>{KruxOS:DataDir}/tls/ca.crt</c>;</item>
    /// <item>next to the control socket, found as the CLI finds it (<see cref="ControlSocketLocation"/>);</item>
    /// <item><c>/run/kruxos/ca.crt</c> (the appliance);</item>
    /// <item><c>~/.kruxos/tls/ca.crt</c> (a developer's default data directory).</item>
    /// </list>
    /// Only the paths are computed here; the caller reads and checks the files.
    /// </summary>
    public static IReadOnlyList<TrustAnchorCandidate> LocalAuthorities(Func<string, string?> environment, Func<string, string?> readFile, string home)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(readFile);
        string? Env(string name) => environment(name) is { Length: > 0 } v ? v : null;
        var list = new List<TrustAnchorCandidate>();
        void Add(string? path, string source)
        {
            if (path is null || !System.IO.Path.IsPathFullyQualified(path)) return;
            var full = System.IO.Path.GetFullPath(path);
            if (list.All(c => c.Path != full)) list.Add(new(full, source));
        }
        string? NextTo(string socket) => System.IO.Path.GetDirectoryName(socket) is { } dir ? System.IO.Path.Combine(dir, PublishedFileName) : null;

        if (Env("KRUXOS_AUTH_SOCKET") is { } authSocket) Add(NextTo(authSocket), "next to KRUXOS_AUTH_SOCKET");
        foreach (var name in new[] { "KRUXOS_DATA_DIR", "KRUXOS_KruxOS__DataDir" })
            if (Env(name) is { } dataDir) Add(AuthorityIn(dataDir), name);
        if (Env(ControlSocketLocation.ConfigFileVariable) is { } configFile)
        {
            var config = ControlSocketLocation.ReadConfig(readFile(configFile));
            if (ControlSocketLocation.Setting(config, "Gateway", "AuthSocket") is { } configured) Add(NextTo(configured), $"next to Gateway:AuthSocket in {configFile}");
            if (ControlSocketLocation.Setting(config, "KruxOS", "DataDir") is { } fileDataDir) Add(AuthorityIn(fileDataDir), $"KruxOS:DataDir in {configFile}");
        }
        var control = ControlSocketLocation.Resolve(environment, readFile, home);
        Add(NextTo(control.Path), $"next to the control socket ({control.Source})");
        Add(System.IO.Path.Combine(ApplianceRunDirectory, PublishedFileName), "the appliance's run directory");
        Add(AuthorityIn(System.IO.Path.Combine(home, ".kruxos")), "the default data directory ~/.kruxos");
        return list;
    }
}
