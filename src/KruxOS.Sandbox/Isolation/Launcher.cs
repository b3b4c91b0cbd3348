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

/// <summary>
/// Starts processes inside bubblewrap. The chain is <c>sh</c> (as root: writes its own pid to the
/// group's cgroup.procs files, so everything after it is confined from the first instruction) →
/// <c>setpriv</c> (drops to the agent's unprivileged host uid/gid, no supplementary groups) →
/// <c>bwrap</c> (user, mount, pid, ipc, uts and net namespaces; minimal read-only root; workspace
/// at /workspace; seccomp filter from a memfd) → the command, as uid 1000 inside.
/// </summary>
internal sealed class Launcher(SandboxOptions options)
{
    /// <summary>uid/gid the agent has inside its sandbox.</summary>
    public const int InsideUid = 1000;
    private const string Script =
        "n=$1; shift; i=0; while [ \"$i\" -lt \"$n\" ]; do echo $$ > \"$1\" || exit 97; shift; i=$((i+1)); done; " +
        "exec \"$@\"";
    private static readonly object StartGate = new();

    public string EtcDirectory => Path.Combine(options.DataDirectory, "sandbox", "etc");

    /// <summary>Writes the synthetic /etc files every sandbox sees (no host passwd/shadow/hosts).</summary>
    public void PrepareEtc()
    {
        Directory.CreateDirectory(EtcDirectory);
        File.WriteAllText(Path.Combine(EtcDirectory, "passwd"), $"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nagent:x:{InsideUid}:{InsideUid}:KruxOS agent:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        File.WriteAllText(Path.Combine(EtcDirectory, "group"), $"root:x:0:\nagent:x:{InsideUid}:\nnogroup:x:65534:\n");
        File.WriteAllText(Path.Combine(EtcDirectory, "hosts"), "127.0.0.1 localhost\n::1 localhost\n");
        File.WriteAllText(Path.Combine(EtcDirectory, "nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files\n");
    }

    public List<string> BwrapArguments(LaunchSpec spec, int seccompFd)
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
        foreach (var f in new[] { "passwd", "group", "hosts", "nsswitch.conf" })
            a.AddRange(["--ro-bind", Path.Combine(EtcDirectory, f), "/etc/" + f]);
        a.AddRange(["--proc", "/proc", "--dev", "/dev",
            "--size", options.TmpfsBytes.ToString(CultureInfo.InvariantCulture), "--tmpfs", "/tmp",
            "--bind", spec.Workspace, "/workspace"]);
        foreach (var m in spec.Mounts) a.AddRange([m.ReadOnly ? "--ro-bind" : "--bind", m.Source, m.Target]);
        foreach (var (s, t) in spec.ReadOnlyBinds) a.AddRange(["--ro-bind", s, t]);
        foreach (var (s, t) in spec.WritableBinds) a.AddRange(["--bind", s, t]);
        a.AddRange(["--chdir", spec.WorkingDirectory, "--seccomp", seccompFd.ToString(CultureInfo.InvariantCulture), "--"]);
        a.AddRange(spec.Command);
        return a;
    }

    /// <summary>Starts the spec confined. Stdio is redirected; environment is exactly <see cref="LaunchSpec.Environment"/>.</summary>
    public Process Start(LaunchSpec spec)
    {
        var fd = Seccomp.CreateMemfd(spec.Worker);
        try
        {
            var psi = new ProcessStartInfo("/bin/sh")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                // The shell exports PWD; start it in / so no host path reaches the sandbox's environment.
                WorkingDirectory = "/",
            };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(Script);
            psi.ArgumentList.Add("kruxos-launch");
            var procs = spec.Group?.ProcsFiles ?? [];
            psi.ArgumentList.Add(procs.Count.ToString(CultureInfo.InvariantCulture));
            foreach (var p in procs) psi.ArgumentList.Add(p);
            var uid = spec.HostUid.ToString(CultureInfo.InvariantCulture);
            foreach (var x in new[] { options.SetprivPath, "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--", options.BwrapPath }) psi.ArgumentList.Add(x);
            foreach (var x in BwrapArguments(spec, fd)) psi.ArgumentList.Add(x);
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
