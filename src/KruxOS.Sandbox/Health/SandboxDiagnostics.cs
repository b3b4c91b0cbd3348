using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using KruxOS.Core;
using KruxOS.Sandbox.Isolation;
using KruxOS.Sandbox.Mounts;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Health;

/// <summary>The state of one isolation mechanism.</summary>
/// <param name="Name">Mechanism, e.g. <c>user_ns</c>, <c>seccomp</c>, <c>cgroups</c>.</param>
/// <param name="Active">Whether it is active on this machine (measured, not assumed).</param>
/// <param name="Detail">What was observed.</param>
/// <param name="Required">Whether it counts towards the exit code (informational lines do not).</param>
public sealed record MechanismStatus(string Name, bool Active, string Detail, bool Required = true);

/// <summary>Result of <see cref="SandboxDiagnostics.Run(SandboxOptions)"/>; rendered by <c>kruxos sandbox diagnose [--json]</c>.</summary>
/// <param name="Mechanisms">One line per isolation mechanism.</param>
/// <param name="Advisories">The installed bubblewrap against the known advisories (<see cref="BubblewrapAdvisories"/>).</param>
public sealed record DiagnosticsReport(ImmutableArray<MechanismStatus> Mechanisms, ImmutableArray<AdvisoryFinding> Advisories = default)
{
    /// <summary>True when every required mechanism is active and no advisory finds our configuration exposed.</summary>
    public bool AllActive => Mechanisms.Where(m => m.Required).All(m => m.Active) && !AdvisoryList.Any(a => a.Verdict == AdvisoryVerdict.Exposed);

    private ImmutableArray<AdvisoryFinding> AdvisoryList => Advisories.IsDefault ? [] : Advisories;

    /// <summary>One line for the health check: the advisories the installed version is in range of, with their verdicts.</summary>
    public string AdvisorySummary => AdvisoryList.Where(a => a.Verdict != AdvisoryVerdict.NotAffected) is var inRange && inRange.Any()
        ? $"bubblewrap {inRange.First().Installed}: " + string.Join("; ", inRange.Select(a => $"{a.Id} in affected range ({a.AffectedRange}), {a.VerdictText}"))
        : "bubblewrap outside the affected range of every known advisory";

    /// <summary>Process exit code for the CLI: 0 only when all required mechanisms are active.</summary>
    public int ExitCode => AllActive ? 0 : 1;

    /// <summary>One line per mechanism: <c>name  active|MISSING  detail</c>.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        var width = Mechanisms.Max(m => m.Name.Length);
        foreach (var m in Mechanisms)
            sb.Append(m.Name.PadRight(width)).Append("  ").Append((m.Active ? "active" : m.Required ? "MISSING" : "inactive").PadRight(8)).Append("  ").Append(m.Detail).Append('\n');
        foreach (var a in AdvisoryList)
            sb.Append("advisory ").Append(a.Id).Append(a.Alias is null ? "" : " (" + a.Alias + ")").Append(": ").Append(a.VerdictText)
                .Append(" - installed ").Append(a.Installed).Append(", affected ").Append(a.AffectedRange).Append(", fixed in ").Append(a.FixedIn)
                .Append(". ").Append(a.Reason).Append('\n');
        sb.Append(AllActive ? "sandbox: all mechanisms active\n" : "sandbox: NOT fully confined\n");
        return sb.ToString();
    }

    /// <summary><c>{"all_active":…, "mechanisms":[{name, active, required, detail}]}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        all_active = AllActive,
        mechanisms = Mechanisms.Select(m => new { name = m.Name, active = m.Active, required = m.Required, detail = m.Detail }),
        advisories = AdvisoryList.Select(a => new
        {
            id = a.Id, alias = a.Alias, installed = a.Installed, affected = a.AffectedRange, fixed_in = a.FixedIn,
            verdict = a.Verdict switch
            {
                AdvisoryVerdict.NotAffected => "not_affected", AdvisoryVerdict.NotExposed => "not_exposed", AdvisoryVerdict.Exposed => "exposed",
                AdvisoryVerdict.NotAnalysed => "not_analysed", _ => "unknown",
            },
            reason = a.Reason,
        }),
    }, CoreJson.Options);
}

/// <summary>
/// Measures each isolation mechanism by starting a real probe sandbox (same launcher, seccomp filter
/// and cgroup path as capability calls) and comparing what it sees with the host.
/// </summary>
public static partial class SandboxDiagnostics
{
    private const string ProbeScript =
        "echo uid=$(id -u); for n in user mnt pid net uts ipc; do echo ns_$n=$(readlink /proc/self/ns/$n); done; " +
        "echo hostname=$(cat /proc/sys/kernel/hostname); echo pid=$$; grep '^Seccomp:' /proc/self/status | tr -d '\\t ' ; " +
        "echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ','); " +
        "if unshare -U true 2>/dev/null; then echo unshare=allowed; else echo unshare=blocked; fi; " +
        // A syscall outside the allowlist (io_setup, harmless and allowed to anyone unfiltered): errno 1 = EPERM.
        "if [ -n \"$KRUXOS_OFFLIST_NR\" ] && command -v perl >/dev/null; then echo offlist=$(perl -e '$!=0; my $c = pack(q(Q), 0); print syscall($ARGV[0] + 0, 1, $c) < 0 ? $!+0 : 0' \"$KRUXOS_OFFLIST_NR\"); fi; " +
        "if [ -e /etc/shadow ]; then echo shadow=visible; else echo shadow=hidden; fi; " +
        "touch /workspace/probe && echo wrote=yes";

    private static string OffListSyscall() =>
        Seccomp.Resolve("io_setup") is var nr and >= 0 ? nr.ToString(CultureInfo.InvariantCulture) : string.Empty;

    /// <summary>
    /// Runs every check for the data directory of <paramref name="options"/> (claiming its sandbox instance and uid
    /// range like the gateway does); never throws for a missing mechanism.
    /// </summary>
    public static DiagnosticsReport Run(SandboxOptions options)
    {
        SandboxInstance? instance = null;
        string? claimError = null;
        if (!options.Disabled)
        {
            try
            {
                if (!Directory.Exists(options.DataDirectory)) PrivateFiles.CreateDirectory(options.DataDirectory);
                instance = SandboxInstance.Claim(options, TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException) { claimError = e.Message; }
        }
        return Run(options, instance, claimError);
    }

    /// <summary>Runs every check with an instance already claimed (the gateway's start-up probe).</summary>
    internal static DiagnosticsReport Run(SandboxOptions options, SandboxInstance? instance, string? claimError = null)
    {
        var result = ImmutableArray.CreateBuilder<MechanismStatus>();
        if (options.Disabled) result.Add(new MechanismStatus("enforcement", false, "Sandbox:Disabled=true: capabilities run unconfined (development setting)"));

        var bwrapOk = File.Exists(options.BwrapPath);
        var bwrapVersion = bwrapOk ? Version(options.BwrapPath) : null;
        var package = bwrapOk ? PackageVersion() : null;
        result.Add(new MechanismStatus("bubblewrap", bwrapOk, bwrapOk ? bwrapVersion + (package is null ? "" : $" (Debian package {package})") : $"{options.BwrapPath} not found (apt-get install bubblewrap)"));
        if (!options.Disabled)
            result.Add(new MechanismStatus("instance", instance is not null, instance is { } i
                ? $"{i.Id}: host uids {i.Uids} (registry {options.UidRangeRegistry}), cgroup subtree {options.CgroupName}/{i.Id}"
                : "no host uid range could be claimed: " + claimError));
        result.Add(PrivateDataDirectory(options));
        var (program, seccompDetail) = Seccomp.Program;
        var cgroups = Cgroups.Detect(out var cgroupDetail);
        Dictionary<string, string>? probe = null;
        string probeError = "not run";
        uint? ownerUid = null;
        var probeUid = instance?.ProbeUid ?? options.HostUidBase + options.HostUidCount - 1; // reserved for diagnostics
        var dir = Path.Combine(options.DataDirectory, "sandbox", "diagnose-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        // A top-level group of its own, so removing it leaves nothing behind.
        var group = cgroups is null ? null : options.CgroupName + "-diagnose-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        string cgroupProbe = cgroupDetail;
        var cgroupOk = false;
        var launcher = new Launcher(options);
        if (bwrapOk && program is not null && File.Exists(options.SetprivPath) && File.Exists(options.UnsharePath) && (instance is not null || options.Disabled))
        {
            try
            {
                PrivateFiles.CreateDirectory(Path.Combine(options.DataDirectory, "sandbox"));
                PrivateFiles.CreateDirectory(dir);
                Libc.chown(dir, probeUid, probeUid);
                if (launcher.PrepareStagingDirectory() is { } staging) throw new IOException(staging);
                CgroupGroup? g = null;
                if (cgroups is not null)
                {
                    try
                    {
                        g = cgroups.Create(group!, new SandboxLimits(64L * 1024 * 1024, 0.5, 32));
                        cgroupOk = true;
                        cgroupProbe = $"{cgroups.Version}: created a group with memory/cpu/pids limits ({cgroups.Describe()})";
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { cgroupProbe = $"{cgroups.Version} present but a limited group could not be created: {e.Message}"; }
                }
                var spec = new LaunchSpec("diagnose", probeUid, dir, [], [], [], "/workspace", ["/bin/sh", "-c", ProbeScript],
                    new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["KRUXOS_OFFLIST_NR"] = OffListSyscall() }, g);
                using var p = launcher.Start(spec);
                p.StandardInput.Close();
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(15_000)) { p.Kill(true); probeError = "the probe sandbox did not finish within 15 s"; }
                else
                {
                    probe = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(new[] { '=', ':' }, 2))
                        .Where(kv => kv.Length == 2).GroupBy(kv => kv[0]).ToDictionary(g2 => g2.Key, g2 => g2.First()[1]);
                    probeError = p.ExitCode == 0 ? string.Empty : $"probe exited {p.ExitCode}: {stderr.Result.Trim()}";
                    ownerUid = Libc.OwnerUid(Path.Combine(dir, "probe"));
                }
                if (g is not null) { cgroupOk &= g.PidsLimitHits() >= 0; g.Remove(); }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                probeError = e.Message;
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                if (group is not null) cgroups?.RemoveTree(group);
            }
        }
        else probeError = program is null ? "seccomp unavailable" : !bwrapOk ? "bubblewrap missing" : !File.Exists(options.SetprivPath) ? "setpriv missing"
            : !File.Exists(options.UnsharePath) ? "unshare missing" : "no host uid range: " + claimError;

        foreach (var (name, ns) in new[] { ("user_ns", "user"), ("mount_ns", "mnt"), ("pid_ns", "pid"), ("net_ns", "net"), ("uts_ns", "uts"), ("ipc_ns", "ipc") })
        {
            var host = new FileInfo("/proc/self/ns/" + ns).LinkTarget;
            var inside = probe?.GetValueOrDefault("ns_" + ns);
            var active = inside is { Length: > 0 } && inside != host;
            var extra = ns switch
            {
                "pid" when probe?.GetValueOrDefault("pid") is { } pid => $", shell is pid {pid} inside",
                "uts" when probe?.GetValueOrDefault("hostname") is { } h => $", hostname '{h}'",
                _ => string.Empty,
            };
            if (ns == "uts") active &= probe?.GetValueOrDefault("hostname") == "agent-diagnose";
            result.Add(new MechanismStatus(name, active, inside is null ? "probe failed: " + probeError : $"{(active ? "separate" : "SHARED with host")} ({inside} vs host {host}){extra}"));
        }
        var filterMode = probe?.GetValueOrDefault("Seccomp");
        var unshare = probe?.GetValueOrDefault("unshare");
        // The off-list probe needs perl inside the sandbox; without it the line says so and the
        // mechanism is judged on the filter mode and the blocked unshare(2) alone.
        var offList = probe?.GetValueOrDefault("offlist") switch { "1" => "refused (EPERM)", null => "not measured (no perl)", var e => "NOT refused (" + e + ")" };
        var offListOk = probe?.GetValueOrDefault("offlist") is null or "1";
        result.Add(new MechanismStatus("seccomp", program is not null && filterMode == "2" && unshare == "blocked" && offListOk,
            program is null ? seccompDetail : $"mode {SeccompProfile.Mode}; {seccompDetail}; probe: Seccomp mode {filterMode ?? "?"}, unshare(2) {unshare ?? "?"}, io_setup(2) outside the allowlist {offList}"));
        result.Add(new MechanismStatus("cgroups", cgroups is not null && cgroupOk, cgroupProbe));
        var ifaces = probe?.GetValueOrDefault("ifaces")?.TrimEnd(',');
        result.Add(new MechanismStatus("no_network", ifaces == "lo", ifaces is null ? "probe failed: " + probeError : $"interfaces inside: {ifaces} (loopback only, not connected to the host)"));
        var insideUid = probe?.GetValueOrDefault("uid");
        result.Add(new MechanismStatus("non_root", insideUid is not null && insideUid != "0" && ownerUid is not null && ownerUid != 0,
            insideUid is null ? "probe failed: " + probeError : $"uid {insideUid} inside; files it writes are owned by host uid {ownerUid?.ToString(CultureInfo.InvariantCulture) ?? "?"}"));
        result.Add(new MechanismStatus("minimal_root", probe?.GetValueOrDefault("shadow") == "hidden",
            probe is null ? "probe failed: " + probeError : "host /etc (passwd, shadow, hosts) not visible; /usr read-only, private /tmp, /proc and /dev"));
        // Measured in a real worker, never assumed from the kernel's ABI or the option.
        result.Add(bwrapOk && program is not null && File.Exists(options.SetprivPath) && !options.Disabled
            ? LandlockReport.Probe(options, launcher, probeUid, options.DotnetRoot ?? SandboxHost.DetectDotnetRoot())
            : new MechanismStatus("landlock", false, "not measured: " + (options.Disabled ? "the sandbox is disabled" : probeError), Required: false));
                var advisories = bwrapOk
            ? BubblewrapAdvisories.Check(BubblewrapAdvisories.ParseVersion(bwrapVersion), AdvisoryContextFor(launcher, options))
            : ImmutableArray<AdvisoryFinding>.Empty;
        return new DiagnosticsReport(result.ToImmutable(), advisories);
    }

    /// <summary>
    /// What the advisory checks look at: the bubblewrap arguments of the launch layouts the gateway uses (a
    /// process.run sandbox with a read-write and a read-only mount, and the warm worker with its runtime, relay and
    /// trash), built by the same code as real launches, and whether bwrap is installed setuid.
    /// </summary>
    internal static AdvisoryContext AdvisoryContextFor(Launcher launcher, SandboxOptions options)
    {
        var mounts = new List<MountEntry> { new("layout", "rw", "/srv/rw", false), new("layout", "ro", "/srv/ro", true) };
        var process = new LaunchSpec("layout", 1, "/data/workspace/layout", mounts, [], [], "/workspace", ["true"], new Dictionary<string, string>(), null);
        var worker = process with
        {
            ReadOnlyBinds = [("/dotnet", "/opt/kruxos/dotnet"), ("/worker", "/opt/kruxos/worker"), ("/relay", Worker.GitRelay.InsideDirectory)],
            WritableBinds = [("/data/trash/layout", "/trash")],
        };
        var found = new HostDirectory("0:0", 0, 0x1C0, AncestorsRootOnly: true);
        IReadOnlyList<string> Args(LaunchSpec spec)
        {
            var sources = new List<(string, string, bool)> { (spec.Workspace, "/workspace", false) };
            sources.AddRange(spec.Mounts.Select(m => (m.Source, m.Target, m.ReadOnly)));
            sources.AddRange(spec.ReadOnlyBinds.Select(b => (b.Source, b.Target, true)));
            sources.AddRange(spec.WritableBinds.Select(b => (b.Source, b.Target, false)));
            return launcher.BwrapArguments(spec, [.. sources.Select((b, n) => new StagedBind(b.Item1, b.Item2, b.Item3, launcher.StagingDirectory + "/" + n.ToString(CultureInfo.InvariantCulture), found))], 3);
        }
        // Everything bound from a host directory an agent can write to (or that the operator chose) counts as agent content.
        var controlled = new HashSet<string>(StringComparer.Ordinal) { "/workspace", "/trash", Worker.GitRelay.InsideDirectory };
        foreach (var m in mounts) controlled.Add(m.Target);
        var setuid = HostPaths.Describe(options.BwrapPath) is { } d && (d.Mode & 0x800) != 0 && d.Owner == 0;
        return new AdvisoryContext([Args(process), Args(worker)], controlled, setuid);
    }

    private static MechanismStatus PrivateDataDirectory(SandboxOptions options)
    {
        if (HostPaths.Describe(options.DataDirectory) is not { } d) return new MechanismStatus("private_data", false, $"{options.DataDirectory} does not exist", Required: false);
        var others = d.Mode & 0x3F;
        var text = Convert.ToString(d.Mode, 8).PadLeft(4, '0');
        return others == 0
            ? new MechanismStatus("private_data", true, $"{options.DataDirectory} is {text}: no other user (agents included) can enter it; sandboxes get their directories from a per-launch staging mount at {options.StagingDirectory}", Required: false)
            : new MechanismStatus("private_data", (others & 0x24) == 0, $"{options.DataDirectory} is {text}: " + ((others & 0x24) == 0
                ? "others may traverse it (a shared auth socket inside) but not list it; every store in it is 0600/0700"
                : "other users can list it; the gateway tightens it to 0700 at start"), Required: false);
    }

    private static string? PackageVersion()
    {
        if (!File.Exists("/usr/bin/dpkg-query")) return null;
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/dpkg-query", ["-W", "-f=${Version}", "bubblewrap"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            var v = p!.StandardOutput.ReadToEnd().Trim();
            return p.WaitForExit(5000) && p.ExitCode == 0 && v.Length > 0 ? v : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { return null; }
    }

    private static string Version(string bwrap)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(bwrap, "--version") { RedirectStandardOutput = true, UseShellExecute = false });
            var v = p!.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(5000);
            return v;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { return "present"; }
    }
}
