namespace KruxOS.Core.Control;

/// <summary>A program the gateway needs from the host, the Debian package that has it, and what fails without it.</summary>
/// <param name="Program">The program's name (or path).</param>
/// <param name="Package">The Debian package to install.</param>
/// <param name="Breaks">What does not work while it is missing.</param>
/// <param name="Critical">Whether the gateway is unusable for sandboxed work without it (health critical) or only partly (degraded).</param>
public sealed record HostRequirement(string Program, string Package, string Breaks, bool Critical);

/// <summary>
/// Which system packages a node lacks (item 8 of the integration page issue): the kernel sandbox needs bubblewrap and
/// setpriv (util-linux), git capabilities need git. The answer names the exact command, once, in one line.
/// </summary>
public static class HostPackages
{
    /// <summary>What is missing, given where the sandbox looks for its programs and a PATH lookup.</summary>
    public static IReadOnlyList<HostRequirement> Missing(bool sandboxEnabled, string bwrapPath, string setprivPath, Func<string, bool> exists, Func<string, bool> onPath)
    {
        ArgumentNullException.ThrowIfNull(exists);
        ArgumentNullException.ThrowIfNull(onPath);
        var missing = new List<HostRequirement>();
        if (sandboxEnabled && !exists(bwrapPath))
            missing.Add(new(bwrapPath, "bubblewrap", "the sandbox: filesystem, process and git capabilities are refused", true));
        if (sandboxEnabled && !exists(setprivPath))
            missing.Add(new(setprivPath, "util-linux", "the sandbox: filesystem, process and git capabilities are refused", true));
        if (!onPath("git"))
            missing.Add(new("git", "git", "git capabilities fail", false));
        return missing;
    }

    /// <summary>The install command for <paramref name="missing"/>.</summary>
    public static string InstallCommand(IEnumerable<HostRequirement> missing) =>
        "apt-get install -y " + string.Join(' ', missing.Select(m => m.Package).Distinct(StringComparer.Ordinal));

    /// <summary>The one line for the console and for health; empty when nothing is missing.</summary>
    public static string Summary(IReadOnlyList<HostRequirement> missing) =>
        missing.Count == 0 ? ""
        : $"missing system packages: {string.Join("; ", missing.GroupBy(m => m.Package).Select(g => $"{g.Key} ({g.First().Breaks})"))} — install them: {InstallCommand(missing)}";
}
