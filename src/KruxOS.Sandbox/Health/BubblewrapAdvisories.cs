using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;

namespace KruxOS.Sandbox.Health;

/// <summary>How an advisory applies to this host.</summary>
public enum AdvisoryVerdict
{
    /// <summary>The installed version is outside the affected range.</summary>
    NotAffected,
    /// <summary>In the affected range, and the condition the advisory needs is shown absent from our configuration.</summary>
    NotExposed,
    /// <summary>In the affected range and our configuration meets the advisory's condition: the sandbox must not be used.</summary>
    Exposed,
    /// <summary>In the affected range; whether our configuration is exposed has not been analysed.</summary>
    NotAnalysed,
    /// <summary>The installed version could not be read.</summary>
    Unknown,
}

/// <summary>One advisory checked against the installed bubblewrap and our launch configuration.</summary>
/// <param name="Id">The CVE id.</param>
/// <param name="Alias">Other ids (GHSA), or null.</param>
/// <param name="Installed">The installed upstream version, as <c>bwrap --version</c> reports it.</param>
/// <param name="AffectedRange">The affected versions, in words.</param>
/// <param name="FixedIn">The first fixed upstream version.</param>
/// <param name="Verdict">How it applies here.</param>
/// <param name="Reason">Why, in one sentence or two.</param>
public sealed record AdvisoryFinding(string Id, string? Alias, string Installed, string AffectedRange, string FixedIn, AdvisoryVerdict Verdict, string Reason)
{
    /// <summary>The verdict as printed: <c>not affected</c>, <c>not exposed</c>, <c>EXPOSED</c>, <c>not analysed</c>, <c>unknown</c>.</summary>
    public string VerdictText => Verdict switch
    {
        AdvisoryVerdict.NotAffected => "not affected",
        AdvisoryVerdict.NotExposed => "not exposed",
        AdvisoryVerdict.Exposed => "EXPOSED",
        AdvisoryVerdict.NotAnalysed => "not analysed",
        _ => "unknown",
    };
}

/// <summary>What an advisory's exposure check may look at.</summary>
/// <param name="Launches">The bubblewrap argument vectors of representative launches (everything after <c>bwrap</c>).</param>
/// <param name="AgentControlled">Sandbox paths bound from directories whose content the agent controls.</param>
/// <param name="BwrapSetuid">Whether the bwrap binary is installed setuid root.</param>
public sealed record AdvisoryContext(IReadOnlyList<IReadOnlyList<string>> Launches, IReadOnlySet<string> AgentControlled, bool BwrapSetuid);

/// <summary>A bubblewrap advisory as data: ids, affected range, fix, and how to decide whether we are exposed.</summary>
/// <param name="Id">CVE id.</param>
/// <param name="Alias">GHSA id, or null.</param>
/// <param name="Concerns">What the advisory is about, as its public text describes it.</param>
/// <param name="IntroducedIn">First affected upstream version (null: all earlier versions).</param>
/// <param name="FixedIn">First fixed upstream version.</param>
/// <param name="Source">Where its text was read.</param>
/// <param name="Exposure">Given the context, null when not exposed (with the reason) or the exposing condition; see <see cref="Check"/>.</param>
public sealed record BubblewrapAdvisory(string Id, string? Alias, string Concerns, Version? IntroducedIn, Version FixedIn, string Source,
    Func<AdvisoryContext, (bool? Exposed, string Reason)> Exposure)
{
    /// <summary>The affected range in words.</summary>
    public string AffectedRange => IntroducedIn is { } from ? $">= {from}, < {FixedIn}" : $"< {FixedIn}";

    /// <summary>Decides the advisory for an installed version and context.</summary>
    public AdvisoryFinding Check(Version? installed, AdvisoryContext context)
    {
        if (installed is null) return new(Id, Alias, "unknown", AffectedRange, FixedIn.ToString(), AdvisoryVerdict.Unknown, "the bubblewrap version could not be read");
        var inRange = installed < FixedIn && (IntroducedIn is null || installed >= IntroducedIn);
        if (!inRange) return new(Id, Alias, installed.ToString(), AffectedRange, FixedIn.ToString(), AdvisoryVerdict.NotAffected, "the installed version is outside the affected range");
        var (exposed, reason) = Exposure(context);
        var verdict = exposed switch { true => AdvisoryVerdict.Exposed, false => AdvisoryVerdict.NotExposed, null => AdvisoryVerdict.NotAnalysed };
        return new(Id, Alias, installed.ToString(), AffectedRange, FixedIn.ToString(), verdict, reason);
    }
}

/// <summary>
/// The bubblewrap advisories <c>kruxos sandbox diagnose</c> checks the installed version against (docs/security.md,
/// "bubblewrap advisories"). Distribution packages can carry fixes under an older upstream version; the verdict
/// is based on the upstream version bubblewrap reports, so a backported fix still shows as in range.
/// </summary>
public static partial class BubblewrapAdvisories
{
    /// <summary>Options of bubblewrap 0.8–0.12 that create something at their destination during setup.</summary>
    private static readonly ImmutableDictionary<string, int> CreatingOptions = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        // option → index of the destination argument (1-based after the option)
        ["--bind"] = 2, ["--bind-try"] = 2, ["--ro-bind"] = 2, ["--ro-bind-try"] = 2, ["--dev-bind"] = 2, ["--dev-bind-try"] = 2,
        ["--bind-fd"] = 2, ["--ro-bind-fd"] = 2, ["--symlink"] = 2, ["--file"] = 2, ["--bind-data"] = 2, ["--ro-bind-data"] = 2,
        ["--dir"] = 1, ["--tmpfs"] = 1, ["--proc"] = 1, ["--dev"] = 1, ["--mqueue"] = 1, ["--remount-ro"] = 1,
        ["--overlay"] = 3, ["--tmp-overlay"] = 1, ["--ro-overlay"] = 1, ["--chmod"] = 2,
    }.ToImmutableDictionary();

    /// <summary>bubblewrap options with arguments that create nothing (skipped when reading a vector).</summary>
    private static readonly ImmutableDictionary<string, int> OtherOptions = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["--uid"] = 1, ["--gid"] = 1, ["--hostname"] = 1, ["--chdir"] = 1, ["--setenv"] = 2, ["--unsetenv"] = 1, ["--lock-file"] = 1,
        ["--sync-fd"] = 1, ["--seccomp"] = 1, ["--add-seccomp-fd"] = 1, ["--block-fd"] = 1, ["--userns-block-fd"] = 1, ["--info-fd"] = 1,
        ["--json-status-fd"] = 1, ["--cap-add"] = 1, ["--cap-drop"] = 1, ["--perms"] = 1, ["--size"] = 1, ["--exec-label"] = 1,
        ["--file-label"] = 1, ["--userns"] = 1, ["--userns2"] = 1, ["--pidns"] = 1, ["--args"] = 1, ["--argv0"] = 1, ["--overlay-src"] = 1,
    }.ToImmutableDictionary();

    /// <summary>The table.</summary>
    public static readonly ImmutableArray<BubblewrapAdvisory> All =
    [
        new("CVE-2026-87766", "GHSA-pxhw-h44j-8pfx",
            "During sandbox setup, creating a file or directory under the new root can follow a parent symlink onto the host through /oldroot, "
            + "writing attacker-chosen paths outside the sandbox as the launching user, before the sandboxed process starts; 0.12.0 resolves setup paths "
            + "inside the new root (openat2 RESOLVE_IN_ROOT).",
            null, new Version(0, 12, 0),
            "bubblewrap 0.12.0 release notes; CVE description as quoted in flatcar/Flatcar#2417",
            c => CreationBelowControlledContent(c) is var (exposed, reason) ? (exposed, reason) : default),
        new("CVE-2026-41163", null,
            "With bubblewrap installed setuid root, a user can ptrace the unprivileged half of the setup and use its privileged operations, "
            + "notably overlay mounts (added in 0.11.0), which setuid mode otherwise refuses.",
            new Version(0, 11, 0), new Version(0, 11, 2),
            "CVE description as quoted in flatcar/Flatcar#2120; Debian 13 changelog 0.11.0-2+deb13u1",
            c => c.BwrapSetuid
                ? (true, "bwrap is installed setuid root, the configuration the advisory needs")
                : (false, "bwrap is not setuid: the gateway runs it as the agent's unprivileged uid with user namespaces, so there is no privileged half to attach to")),
        new("CVE-2019-12439", "GHSA-hj8h-43q8-g8vp",
            "Misuse of temporary directories in /tmp as a mount point; in some configurations (related to XDG_RUNTIME_DIR) a local attacker may "
            + "prevent other users from running bubblewrap or potentially execute code.",
            null, new Version(0, 3, 3),
            "GitHub advisory GHSA-hj8h-43q8-g8vp",
            _ => (null, "our exposure to this advisory has not been analysed; install bubblewrap 0.3.3 or newer")),
    ];

    /// <summary>Reads <c>bubblewrap X.Y.Z</c> as printed by <c>bwrap --version</c>.</summary>
    public static Version? ParseVersion(string? text) =>
        text is not null && VersionPattern().Match(text) is { Success: true } m
            ? new Version(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
                m.Groups[3].Success ? int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) : 0)
            : null;

    /// <summary>Checks every advisory.</summary>
    public static ImmutableArray<AdvisoryFinding> Check(Version? installed, AdvisoryContext context) => [.. All.Select(a => a.Check(installed, context))];

    /// <summary>
    /// The condition of CVE-2026-87766 on bubblewrap argument vectors: a setup operation that creates something at a
    /// destination strictly below the destination of an earlier bind whose content the agent controls. Such a creation
    /// walks through the agent's files, where a symlink can lead it onto the host. Returns whether any vector has one.
    /// </summary>
    public static (bool Exposed, string Reason) CreationBelowControlledContent(AdvisoryContext context)
    {
        var creating = 0;
        foreach (var args in context.Launches)
        {
            var controlled = new List<string>();
            foreach (var (option, destination) in SetupOperations(args))
            {
                creating++;
                var under = controlled.FirstOrDefault(c => destination.StartsWith(c.TrimEnd('/') + "/", StringComparison.Ordinal));
                if (under is not null)
                    return (true, $"'{option} … {destination}' creates its destination below '{under}', whose content the agent controls");
                if (option.Contains("bind", StringComparison.Ordinal) && context.AgentControlled.Contains(destination)) controlled.Add(destination);
            }
        }
        return (false, $"no setup operation creates anything below a directory whose content the agent controls ({string.Join(", ", context.AgentControlled.Order(StringComparer.Ordinal))}); "
            + $"checked on {context.Launches.Count} launch layout(s), {creating} creating operations; every destination is fixed by the gateway and lies in bubblewrap's own new root, "
            + "and bwrap runs as the agent's unprivileged uid, not root");
    }

    /// <summary>The (option, destination) of every creating setup operation of a bubblewrap argument vector, in order.</summary>
    public static IEnumerable<(string Option, string Destination)> SetupOperations(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--") yield break;
            if (CreatingOptions.TryGetValue(a, out var at))
            {
                if (i + at < args.Count) yield return (a, args[i + at]);
                i += at;
            }
            else if (OtherOptions.TryGetValue(a, out var skip)) i += skip;
            else if (!a.StartsWith("--", StringComparison.Ordinal)) yield break; // the command
        }
    }

    [GeneratedRegex(@"(\d+)\.(\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex VersionPattern();
}
