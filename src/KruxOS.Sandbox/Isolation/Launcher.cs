using System.Diagnostics;
using System.Globalization;
using KruxOS.Sandbox.Mounts;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Isolation;

/// <summary>What to start inside a sandbox. <paramref name="Worker"/>: the warm worker's seccomp program (<see cref="Seccomp.WorkerProgram"/>).</summary>
internal sealed record LaunchSpec(
    string Agent,
    uint HostUid,
    string Workspace,
    IReadOnlyList<MountEntry> Mounts,
    IReadOnlyList<(string Source, string Target)> ReadOnlyBinds,
    IReadOnlyList<(string Source, string Target)> WritableBinds,
    string WorkingDirectory,
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    CgroupGroup? Group,
    bool Worker = false);

/// <summary>One host directory (or, for the gateway's own read-only files, one file) bound into a sandbox, as the launcher stages it.</summary>
/// <param name="Source">Canonical host path.</param>
/// <param name="Target">Path inside the sandbox.</param>
/// <param name="ReadOnly">Bound read-only.</param>
/// <param name="Staged">Where the launch's private staging mount shows it (what bubblewrap binds from).</param>
/// <param name="Found">What was found at <paramref name="Source"/> when the launch was prepared.</param>
internal sealed record StagedBind(string Source, string Target, bool ReadOnly, string Staged, HostDirectory Found);

/// <summary>
/// Starts processes inside bubblewrap from a private data directory (ADR 0018). The chain, all one process:
/// <list type="number">
/// <item><c>unshare --mount</c> (root) gives the launch a private mount namespace;</item>
/// <item><c>sh</c>, still root, writes its own pid to the group's cgroup.procs files, so everything after it is
/// confined from its first instruction, then bind-mounts each host directory the sandbox needs (workspace, mounts,
/// trash, runtime) onto an empty mount point <c>&lt;staging&gt;/&lt;n&gt;</c> that only this namespace sees filled;
/// a source whose path someone other than root could swap is re-checked by device and inode after binding;</item>
/// <item><c>setpriv</c> drops to the agent's unprivileged host uid/gid, no supplementary groups;</item>
/// <item><c>bwrap</c> (user, mount, pid, ipc, uts and net namespaces; minimal read-only root; seccomp filter from a
/// memfd) binds from the staging paths, which the agent's uid can reach, so the data directory and its parents
/// stay private (0700) → the command, as uid 1000 inside.</item>
/// </list>
/// </summary>
internal sealed class Launcher(SandboxOptions options)
{
    /// <summary>uid/gid the agent has inside its sandbox.</summary>
    public const int InsideUid = 1000;

    /// <summary>Exit code of the launcher when joining the cgroup failed.</summary>
    public const int CgroupJoinFailed = 97;

    /// <summary>Exit code of the launcher when staging the binds failed (a source missing, changed or unmountable).</summary>
    public const int StagingFailed = 96;

    /// <summary>The synthetic /etc every sandbox sees (no host passwd/shadow/hosts).</summary>
    public static readonly IReadOnlyList<(string Name, string Content)> EtcFiles =
    [
        ("passwd", $"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nagent:x:{InsideUid}:{InsideUid}:KruxOS agent:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        ("group", $"root:x:0:\nagent:x:{InsideUid}:\nnogroup:x:65534:\n"),
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
        ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"),
    ];

    // Root, in the launch's private mount namespace: join the cgroup, bind every source onto its mount point
    // (system tools from a fixed PATH, the sandbox's own PATH restored before exec), re-check the identity of the
    // sources that need it with one stat, then setpriv → bwrap with a conventional umask (the gateway's own is 077).
    private const string Script =
        "p=$PATH; PATH=/usr/sbin:/usr/bin:/sbin:/bin; umask 022; " +
        "n=$1; shift; i=0; while [ \"$i\" -lt \"$n\" ]; do echo $$ > \"$1\" || exit 97; shift; i=$((i+1)); done; " +
        "n=$1; shift; i=0; c=; e=; while [ \"$i\" -lt \"$n\" ]; do " +
        "mount -n --bind \"$1\" \"$2\" || exit 96; " +
        "if [ \"$3\" != - ]; then c=\"$c $2\"; e=\"$e$3 \"; fi; shift 3; i=$((i+1)); done; " +
        "if [ -n \"$c\" ] && [ \"$(stat --printf '%d:%i ' $c)\" != \"$e\" ]; then echo \"kruxos-launch: a bound directory changed while the sandbox was starting\" >&2; exit 96; fi; " +
        "PATH=$p; exec \"$@\"";

    private static readonly object StartGate = new();
    private static readonly object MountPointGate = new();
    private readonly HashSet<string> _mountPoints = new(StringComparer.Ordinal);

    /// <summary>The staging directory: empty mount points <c>0</c>, <c>1</c>, … and the synthetic <c>etc/</c>.</summary>
    public string StagingDirectory => options.StagingDirectory.TrimEnd('/');

    /// <summary>
    /// Creates the staging directory: owned by root, 0711 (the agents' uids may pass through, not list it), not a
    /// symlink, holding the synthetic <c>etc/</c> files (0644; nothing secret) and empty 0700 mount points. Each
    /// launch binds the directories it needs onto the mount points in its own mount namespace only; on the host
    /// they stay empty. Returns the reason when unusable.
    /// </summary>
    public string? PrepareStagingDirectory()
    {
        var dir = StagingDirectory;
        if (OperatingSystem.IsWindows()) return "the sandbox needs Linux";
        if (!Path.IsPathRooted(dir)) return $"Sandbox:StagingDirectory '{dir}' must be an absolute path";
        foreach (var (path, mode) in new[] { (dir, 0x1C9u), (dir + "/etc", 0x1EDu) })
        {
            if (HostPaths.Describe(path) is null) Directory.CreateDirectory(path, (UnixFileMode)mode);
            if (HostPaths.Describe(path) is not { IsDirectory: true, IsSymlink: false, Owner: 0 } found)
                return $"{path} must be a directory owned by root (not a symlink)";
            if (found.Mode != mode) HostPaths.SetMode(path, mode);
        }
        foreach (var (name, content) in EtcFiles)
        {
            var file = dir + "/etc/" + name;
            if (HostPaths.Describe(file) is { IsDirectory: false, IsSymlink: false, Owner: 0, Mode: 0x1A4 } && File.ReadAllText(file) == content) continue;
            var temp = file + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            File.WriteAllText(temp, content);
            HostPaths.SetMode(temp, 0x1A4);
            File.Move(temp, file, overwrite: true);
        }
        return null;
    }

    /// <summary>Mount point of the <paramref name="index"/>th bind: <c>&lt;staging&gt;/n</c> for a directory, <c>&lt;staging&gt;/f-n</c> for a file.</summary>
    private string MountPoint(int index, bool file) =>
        StagingDirectory + "/" + (file ? "f-" : "") + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>Makes sure every bind's mount point exists: an empty directory (root, 0700) or an empty file (root, 0600).</summary>
    private void EnsureMountPoints(IReadOnlyList<StagedBind> binds)
    {
        if (OperatingSystem.IsWindows()) return;
        lock (MountPointGate)
        {
            foreach (var b in binds)
            {
                if (!_mountPoints.Add(b.Staged)) continue;
                var file = b.Found.IsFile;
                if (HostPaths.Describe(b.Staged) is null)
                {
                    if (file) File.Create(b.Staged, 0, FileOptions.None).Dispose();
                    else Directory.CreateDirectory(b.Staged, PrivateFiles.DirectoryMode);
                    if (file) HostPaths.SetMode(b.Staged, 0x180);
                }
                if (HostPaths.Describe(b.Staged) is not { IsSymlink: false, Owner: 0, IsDirectory: var isDirectory } || isDirectory == file)
                {
                    _mountPoints.Remove(b.Staged);
                    throw new IOException($"the staging mount point {b.Staged} is not {(file ? "a file" : "a directory")} owned by root");
                }
            }
        }
    }

    /// <summary>Removes the synthetic /etc files earlier versions kept in <c>&lt;data&gt;/sandbox/etc</c> (world-readable there).</summary>
    public static void RemoveLegacyEtc(string dataDirectory)
    {
        var dir = Path.Combine(dataDirectory, "sandbox", "etc");
        if (HostPaths.Describe(dir) is not { IsDirectory: true, IsSymlink: false, Owner: 0 }) return;
        foreach (var (name, _) in EtcFiles)
        {
            var file = Path.Combine(dir, name);
            if (HostPaths.Describe(file) is { IsDirectory: false }) File.Delete(file);
        }
        try { Directory.Delete(dir); } catch (IOException) { /* not empty: someone else's files, left alone */ }
    }

    /// <summary>
    /// Inspects every host directory the spec binds (workspace first, then mounts, read-only and writable binds) and
    /// assigns its staging path. Throws <see cref="IOException"/> when a source is missing, not a directory or
    /// reached through a symlink. The gateway's own read-only binds may be single files (the worker gets its
    /// assemblies one by one, not the directory they are installed in); they are staged on empty file mount points.
    /// </summary>
    public IReadOnlyList<StagedBind> Stage(LaunchSpec spec)
    {
        // The gateway's own paths (data directory, runtime) may be reached through an operator's symlink: resolve
        // them. Mount sources were canonical when the operator added them and are taken literally: a symlink that
        // appeared in one since then fails the launch rather than being followed as root.
        static string Own(string path) => Libc.RealPath(path) ?? path;
        var sources = new List<(string Source, string Target, bool ReadOnly, bool MayBeFile)> { (Own(spec.Workspace), "/workspace", false, false) };
        sources.AddRange(spec.Mounts.Select(m => (m.Source, m.Target, m.ReadOnly, false)));
        sources.AddRange(spec.ReadOnlyBinds.Select(b => (Own(b.Source), b.Target, true, true)));
        sources.AddRange(spec.WritableBinds.Select(b => (Own(b.Source), b.Target, false, false)));
        return [.. sources.Select((b, i) =>
        {
            var found = HostPaths.Inspect(b.Source, b.MayBeFile);
            return new StagedBind(b.Source, b.Target, b.ReadOnly, MountPoint(i, found.IsFile), found);
        })];
    }

    /// <summary>The bubblewrap arguments of a launch (after <c>bwrap</c>, up to and including the command).</summary>
    public List<string> BwrapArguments(LaunchSpec spec, IReadOnlyList<StagedBind> binds, int seccompFd)
    {
        var a = new List<string>
        {
            "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
            "--uid", InsideUid.ToString(CultureInfo.InvariantCulture), "--gid", InsideUid.ToString(CultureInfo.InvariantCulture),
            "--hostname", "agent-" + spec.Agent,
            // --as-pid-1: no bubblewrap init inside. With an init, every sandbox left one pid charged to the
            // agent's pids cgroup for seconds after exit (namespace teardown), so quick successive
            // process.run calls ran into the 100-pid limit. Like a container, the command is PID 1: it only
            // receives signals it handles, so process.kill relies on the SIGKILL escalation otherwise.
            "--as-pid-1",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin", "--symlink", "usr/lib", "/lib",
        };
        if (Directory.Exists("/usr/lib64")) a.AddRange(["--symlink", "usr/lib64", "/lib64"]);
        if (Directory.Exists("/usr/lib32")) a.AddRange(["--symlink", "usr/lib32", "/lib32"]);
        foreach (var etc in new[] { "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime", "/etc/mime.types" })
            a.AddRange(["--ro-bind-try", etc, etc]);
        foreach (var (name, _) in EtcFiles)
            a.AddRange(["--ro-bind", StagingDirectory + "/etc/" + name, "/etc/" + name]);
        a.AddRange(["--proc", "/proc", "--dev", "/dev",
            "--size", options.TmpfsBytes.ToString(CultureInfo.InvariantCulture), "--tmpfs", "/tmp"]);
        foreach (var b in binds) a.AddRange([b.ReadOnly ? "--ro-bind" : "--bind", b.Staged, b.Target]);
        a.AddRange(["--chdir", spec.WorkingDirectory, "--seccomp", seccompFd.ToString(CultureInfo.InvariantCulture), "--"]);
        a.AddRange(spec.Command);
        return a;
    }

    /// <summary>
    /// The whole argument vector after <c>unshare</c>: its options, the launcher script and its arguments, setpriv
    /// and bwrap. Separate from <see cref="Start"/> so diagnostics and tests can inspect exactly what runs.
    /// </summary>
    public List<string> LauncherArguments(LaunchSpec spec, IReadOnlyList<StagedBind> binds, int seccompFd)
    {
        var a = new List<string> { "--mount", "--propagation", "private", "--", "/bin/sh", "-c", Script, "kruxos-launch" };
        var procs = spec.Group?.ProcsFiles ?? [];
        a.Add(procs.Count.ToString(CultureInfo.InvariantCulture));
        a.AddRange(procs);
        a.Add(binds.Count.ToString(CultureInfo.InvariantCulture));
        foreach (var b in binds) a.AddRange([b.Source, b.Staged, b.Found.AncestorsRootOnly ? "-" : b.Found.Identity]);
        var uid = spec.HostUid.ToString(CultureInfo.InvariantCulture);
        a.AddRange([options.SetprivPath, "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--", options.BwrapPath]);
        a.AddRange(BwrapArguments(spec, binds, seccompFd));
        return a;
    }

    /// <summary>Starts the spec confined. Stdio is redirected; environment is exactly <see cref="LaunchSpec.Environment"/>.</summary>
    public Process Start(LaunchSpec spec)
    {
        var binds = Stage(spec);
        EnsureMountPoints(binds);
        var fd = Seccomp.CreateMemfd(spec.Worker);
        try
        {
            var psi = new ProcessStartInfo(options.UnsharePath)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                // The shell exports PWD; start it in / so no host path reaches the sandbox's environment.
                WorkingDirectory = "/",
            };
            foreach (var x in LauncherArguments(spec, binds, fd)) psi.ArgumentList.Add(x);
            psi.Environment.Clear();
            foreach (var (k, v) in spec.Environment) psi.Environment[k] = v;
            // The memfd is inheritable on purpose; start under a gate so no sibling launch inherits it, then close our copy.
            lock (StartGate) return Process.Start(psi) ?? throw new InvalidOperationException("the sandbox launcher did not start");
        }
        finally { Libc.close(fd); }
    }

    /// <summary>Starts the command unconfined (development mode only): same stdio contract, no isolation.</summary>
    public static Process StartUnconfined(IReadOnlyList<string> command, string workingDirectory, IReadOnlyDictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var x in command.Skip(1)) psi.ArgumentList.Add(x);
        psi.Environment.Clear();
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        return Process.Start(psi) ?? throw new InvalidOperationException("process did not start");
    }
}
