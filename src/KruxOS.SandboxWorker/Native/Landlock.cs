using System.Runtime.InteropServices;
using KruxOS.SandboxWorker.Paths;

namespace KruxOS.SandboxWorker.Native;

/// <summary>
/// Landlock inside the worker's sandbox, in two layers (docs/sandbox.md, "Landlock").
/// <list type="number">
/// <item><b>The worker process</b> (<see cref="RestrictAndReexec"/>): reads only /usr, /opt/kruxos, /etc, /proc,
/// /dev and its roots; writes only its writable roots, /trash, /tmp and device files; executes only the
/// .NET host (needed once, for the re-exec), git and the ELF interpreter.</item>
/// <item><b>Every git process</b> (<see cref="RestrictGitThread"/>, applied to the one thread that starts git):
/// executes only git and the ELF interpreter, and writes only the writable roots, /tmp and device files — no
/// trash, no .NET host, no shell. A repository configuration that names a command therefore cannot run it
/// even if it slipped past the configuration check (<see cref="KruxOS.SandboxWorker.Ops.GitConfigPolicy"/>).</item>
/// </list>
/// Both layers also scope signals and abstract Unix sockets to the domain (ABI 6+), so a git process can
/// neither signal the worker nor reach it through /proc (Landlock's ptrace rule: a nested domain cannot
/// inspect its parent's).
/// </summary>
internal static unsafe partial class Landlock
{
    private const long SysCreateRuleset = 444, SysAddRule = 445, SysRestrictSelf = 446;
    private const uint CreateRulesetVersion = 1;
    private const int RulePathBeneath = 1;

    internal const ulong Execute = 1UL << 0, WriteFile = 1UL << 1, ReadFile = 1UL << 2, ReadDir = 1UL << 3, RemoveDir = 1UL << 4,
        RemoveFile = 1UL << 5, MakeChar = 1UL << 6, MakeDir = 1UL << 7, MakeReg = 1UL << 8, MakeSock = 1UL << 9, MakeFifo = 1UL << 10,
        MakeBlock = 1UL << 11, MakeSym = 1UL << 12, Refer = 1UL << 13, Truncate = 1UL << 14, IoctlDev = 1UL << 15;

    private const ulong ScopeAbstractUnixSocket = 1UL << 0, ScopeSignal = 1UL << 1;

    /// <summary>Rights a rule on a regular file (rather than a directory) may carry.</summary>
    private const ulong FileRights = Execute | WriteFile | ReadFile | Truncate | IoctlDev;

    private const ulong Read = ReadFile | ReadDir;
    private const ulong Write = WriteFile | RemoveDir | RemoveFile | MakeDir | MakeReg | MakeSock | MakeFifo | MakeSym | Refer | Truncate;

    [StructLayout(LayoutKind.Sequential)]
    private struct RulesetAttr { public ulong HandledAccessFs; public ulong HandledAccessNet; public ulong Scoped; }

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    private struct PathBeneath { public ulong AllowedAccess; public int ParentFd; }

    // One declaration per syscall with its exact arity. A shared declaration with fewer arguments left the
    // last register (landlock_add_rule's flags) holding whatever the caller had there: zero in Debug builds,
    // garbage in Release, where every add_rule failed with EINVAL.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long SyscallCreateRuleset(long number, RulesetAttr* attr, nuint size, uint flags);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long SyscallAddRule(long number, int rulesetFd, int ruleType, PathBeneath* attr, uint flags);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long SyscallRestrictSelf(long number, int rulesetFd, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execve(string path, nint[] argv, nint[] envp);

    /// <summary>The kernel's Landlock ABI version, or 0 when it has none.</summary>
    public static int Abi()
    {
        var abi = SyscallCreateRuleset(SysCreateRuleset, null, 0, CreateRulesetVersion);
        return abi > 0 ? (int)abi : 0;
    }

    /// <summary>Every file-system right the ABI knows (the ruleset must name only those).</summary>
    private static ulong HandledFs(int abi) => abi switch
    {
        <= 0 => 0,
        1 => (MakeSym << 1) - 1,
        2 => (Refer << 1) - 1,
        3 or 4 => (Truncate << 1) - 1,
        _ => (IoctlDev << 1) - 1,
    };

    private static ulong Scopes(int abi) => abi >= 6 ? ScopeAbstractUnixSocket | ScopeSignal : 0;

    /// <summary>
    /// Landlock binds to the calling thread and its future children only, and the .NET runtime already
    /// runs several threads. So the main thread restricts itself and then re-executes the worker:
    /// the new image starts single-threaded inside the domain and every thread it makes inherits it.
    /// Returns only on failure (with the reason).
    /// </summary>
    public static string RestrictAndReexec(IReadOnlyList<Root> roots, string trash, GitBinaries git, string[] args)
    {
        var host = Libc.RealPath("/proc/self/exe");
        if (host is null) return "not applied (cannot resolve the .NET host)";
        var state = ApplyWorkerLayer(roots, trash, git, host);
        if (state is not null) return state;
        var dll = Environment.GetCommandLineArgs()[0];
        var argv = new List<string> { "dotnet", dll };
        argv.AddRange(args.Where(a => a != "--landlock"));
        argv.Add("--landlocked");
        argv.Add(Abi().ToString(System.Globalization.CultureInfo.InvariantCulture));
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}").ToList();
        var argvPtrs = argv.Select(a => Marshal.StringToCoTaskMemUTF8(a)).Append(0).ToArray();
        var envPtrs = env.Select(a => Marshal.StringToCoTaskMemUTF8(a)).Append(0).ToArray();
        execve(host, argvPtrs, envPtrs);
        return $"not applied (re-exec failed, errno {Marshal.GetLastPInvokeError()})";
    }

    /// <summary>The worker layer on the calling thread; null when it is in force, else why not.</summary>
    private static string? ApplyWorkerLayer(IReadOnlyList<Root> roots, string trash, GitBinaries git, string dotnetHost)
    {
        var abi = Abi();
        if (abi <= 0) return "not applied (kernel without Landlock)";
        var rules = new List<(string Path, ulong Access)>
        {
            ("/usr", Read), ("/opt/kruxos", Read), ("/etc", Read), ("/proc", Read),
            ("/dev", Read | WriteFile | Truncate),
            ("/tmp", Read | Write), (trash, Read | Write),
            (dotnetHost, Execute | ReadFile),
        };
        foreach (var r in roots) rules.Add((r.Real, r.ReadOnly ? Read : Read | Write));
        rules.AddRange(git.ExecuteRules().Select(x => (x.Path, x.Access | ReadFile | (x.Directory ? ReadDir : 0))));
        return Restrict(abi, HandledFs(abi), rules);
    }

    /// <summary>
    /// The git layer, on the calling thread only (the thread that starts git processes; they inherit it).
    /// Returns "applied …" when it is in force (checked: a write to the trash is refused), else "not applied (…)".
    /// </summary>
    public static string RestrictGitThread(IReadOnlyList<Root> roots, string trash, GitBinaries git)
    {
        var abi = Abi();
        if (abi <= 0) return "not applied (kernel without Landlock)";
        var rules = new List<(string Path, ulong Access)> { ("/tmp", Write), ("/dev", WriteFile | Truncate) };
        foreach (var r in roots.Where(r => !r.ReadOnly)) rules.Add((r.Real, Write));
        rules.AddRange(git.ExecuteRules().Select(x => (x.Path, x.Access)));
        // Reads are left to the worker layer; this one handles execution and every kind of write.
        var failure = Restrict(abi, HandledFs(abi) & ~Read, rules);
        if (failure is not null) return failure;
        var probe = Path.Combine(trash, ".kruxos-landlock-probe-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var fd = Libc.open(probe, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x180);
        if (fd >= 0)
        {
            Libc.close(fd);
            return "not applied (a write to the trash was not refused)";
        }
        var errno = Marshal.GetLastPInvokeError();
        return errno == Libc.EACCES ? "applied" : $"not verified (trash probe errno {errno})";
    }

    private static string? Restrict(int abi, ulong handled, List<(string Path, ulong Access)> rules)
    {
        var attr = new RulesetAttr { HandledAccessFs = handled, Scoped = Scopes(abi) };
        // Kernels before ABI 4/6 know only the first field(s); the rest is zero, which they accept.
        var ruleset = (int)SyscallCreateRuleset(SysCreateRuleset, &attr, (nuint)(abi >= 6 ? 24 : abi >= 4 ? 16 : 8), 0);
        if (ruleset < 0) return $"not applied (create_ruleset errno {Marshal.GetLastPInvokeError()})";
        try
        {
            foreach (var (path, wanted) in rules)
            {
                var fd = Libc.open(path, Libc.O_PATH | Libc.O_CLOEXEC, 0);
                if (fd < 0) continue; // not present in this sandbox
                try
                {
                    var access = wanted & handled;
                    if (!Libc.IsDirectory(fd)) access &= FileRights;
                    if (access == 0) continue;
                    var rule = new PathBeneath { AllowedAccess = access, ParentFd = fd };
                    if (SyscallAddRule(SysAddRule, ruleset, RulePathBeneath, &rule, 0) < 0)
                        return $"not applied (add_rule {path} errno {Marshal.GetLastPInvokeError()})";
                }
                finally { Libc.close(fd); }
            }
            const int PR_SET_NO_NEW_PRIVS = 38;
            if (Libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return $"not applied (no_new_privs errno {Marshal.GetLastPInvokeError()})";
            if (SyscallRestrictSelf(SysRestrictSelf, ruleset, 0) < 0) return $"not applied (restrict_self errno {Marshal.GetLastPInvokeError()})";
            return null;
        }
        finally { Libc.close(ruleset); }
    }

    /// <summary>
    /// Whether the worker layer is really in force in this (re-executed) process: listing "/" is allowed by
    /// the file permissions to everyone but by no Landlock rule, so it must fail with EACCES.
    /// </summary>
    public static string VerifyWorkerLayer(string abi)
    {
        var fd = Libc.open("/", Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            Libc.close(fd);
            return "not applied (the re-executed worker can still list /)";
        }
        var errno = Marshal.GetLastPInvokeError();
        return errno == Libc.EACCES ? $"applied (abi {abi})" : $"not verified (probe errno {errno})";
    }
}
