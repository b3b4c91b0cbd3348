using System.Diagnostics;

namespace KruxOS.Testing;

/// <summary>
/// System packages a spec needs (README: "tests that need a system package install it or are skipped with the reason
/// printed"). Missing ones are installed with apt-get when the run is root and apt-get exists (once per run; set
/// <c>KRUXOS_TEST_NO_APT=1</c> to forbid it); otherwise the spec is skipped, naming the command to run. No xunit
/// reference: the skip is xunit v3's dynamic-skip message, so the sandbox specs can link this file as it is.
/// </summary>
public static class SystemPackages
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly Dictionary<string, string?> Tried = new(StringComparer.Ordinal);

    /// <summary>Parses "program:package" pairs (e.g. <c>bwrap:bubblewrap</c>).</summary>
    public static (string Program, string Package)[] Parse(IEnumerable<string> pairs) =>
        [.. pairs.Select(p => p.Split(':', 2) is [var program, var package] ? (program, package) : throw new ArgumentException($"'{p}' is not program:package"))];

    /// <summary>Ensures every program is installed, or skips the running spec with the reason and the command.</summary>
    public static async Task RequireAsync(bool root, params (string Program, string Package)[] needed)
    {
        if (root && !Environment.IsPrivilegedProcess)
            Skip("needs root (the kernel sandbox and acting as other users)");
        var missing = needed.Where(n => !Installed(n.Program)).ToList();
        if (missing.Count == 0) return;
        var packages = string.Join(' ', missing.Select(m => m.Package).Distinct());
        var why = await InstallAsync(packages);
        missing = [.. missing.Where(n => !Installed(n.Program))];
        if (missing.Count > 0)
            Skip($"needs {string.Join(", ", missing.Select(m => $"{m.Program} ({m.Package})"))}, which is not installed{why}: apt-get install -y {packages}");
    }

    /// <summary>Skips the running spec (xunit v3 reads this message prefix as a dynamic skip, from any exception).</summary>
    private static void Skip(string reason) => throw new SystemPackageMissingException("$XunitDynamicSkip$" + reason);

    /// <summary>
    /// Whether a gateway's <c>/health</c> answer is critical only because this machine lacks the sandbox's packages
    /// (bubblewrap, setpriv): such a gateway serves everything but sandboxed capabilities, which is all most specs need;
    /// the specs that need the sandbox say so and are skipped (or get the packages installed).
    /// </summary>
    public static bool OnlySandboxPackagesMissing(string healthJson)
    {
        if (Installed("/usr/bin/bwrap") && Installed("/usr/bin/setpriv")) return false;
        try
        {
            var services = System.Text.Json.Nodes.JsonNode.Parse(healthJson)?["services"] as System.Text.Json.Nodes.JsonArray;
            if (services is null) return false;
            return services.All(s => s?["status"]?.GetValue<string>() != "critical"
                                     || s["name"]?.GetValue<string>() is "sandbox-confinement" or "host-packages");
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Whether a program (a name on PATH, or an absolute path) exists.</summary>
    public static bool Installed(string program) =>
        Path.IsPathRooted(program) ? File.Exists(program)
        : (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, program)));

    // null when installed now; else why not (for the skip reason)
    private static async Task<string?> InstallAsync(string packages)
    {
        await Gate.WaitAsync();
        try
        {
            if (Tried.TryGetValue(packages, out var earlier)) return earlier;
            string? why;
            if (Environment.GetEnvironmentVariable("KRUXOS_TEST_NO_APT") is { Length: > 0 }) why = " (KRUXOS_TEST_NO_APT forbids installing it)";
            else if (!Environment.IsPrivilegedProcess) why = " (installing it needs root)";
            else if (!Installed("apt-get")) why = " (no apt-get to install it with)";
            else
            {
                why = await AptAsync($"install -y -qq --no-install-recommends {packages}") ? null
                    : await AptAsync("update -qq") && await AptAsync($"install -y -qq --no-install-recommends {packages}") ? null
                    : " (apt-get could not install it)";
            }
            Tried[packages] = why;
            return why;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<bool> AptAsync(string arguments)
    {
        var psi = new ProcessStartInfo("apt-get", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var p = Process.Start(psi)!;
        var drain = Task.WhenAll(p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync());
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            return false;
        }
        await drain;
        return p.ExitCode == 0;
    }
}

/// <summary>A spec's system package is missing (reported by xunit as a skip with the reason).</summary>
public sealed class SystemPackageMissingException(string message) : Exception(message);
