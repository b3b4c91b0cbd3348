using System.Runtime.InteropServices;
using KruxOS.SandboxWorker.Paths;

namespace KruxOS.SandboxWorker.Native;

/// <summary>
/// Landlock as an extra layer inside the worker's sandbox: after start-up the worker (and the git
/// processes it runs) may only write under /workspace, writable mounts, /trash and /tmp, and only read
/// /usr, /opt/kruxos, /etc, /proc and read-only mounts. Applied once, irrevocably.
/// </summary>
internal static unsafe partial class Landlock
{
    private const long SysCreateRuleset = 444, SysAddRule = 445, SysRestrictSelf = 446;
    private const uint CreateRulesetVersion = 1;
    private const int RulePathBeneath = 1;
    private const ulong Execute = 1 << 0, WriteFile = 1 << 1, ReadFile = 1 << 2, ReadDir = 1 << 3, RemoveDir = 1 << 4, RemoveFile = 1 << 5,
        MakeChar = 1 << 6, MakeDir = 1 << 7, MakeReg = 1 << 8, MakeSock = 1 << 9, MakeFifo = 1 << 10, MakeBlock = 1 << 11, MakeSym = 1 << 12,
        Refer = 1 << 13, Truncate = 1 << 14;

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    private struct PathBeneath { public ulong AllowedAccess; public int ParentFd; }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, nint a, nint b, nint c);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execve(string path, nint[] argv, nint[] envp);

    /// <summary>
    /// Landlock binds to the calling thread and its future children only, and the .NET runtime already
    /// runs several threads. So the main thread restricts itself and then re-executes the worker:
    /// the new image starts single-threaded inside the domain and every thread it makes inherits it.
    /// Returns only on failure (with the reason).
    /// </summary>
    public static string RestrictAndReexec(IReadOnlyList<Root> roots, string trash, string[] args)
    {
        var state = Apply(roots, trash);
        if (!state.StartsWith("abi ", StringComparison.Ordinal)) return state;
        var dll = Environment.GetCommandLineArgs()[0];
        var argv = new List<string> { "dotnet", dll };
        argv.AddRange(args.Where(a => a != "--landlock"));
        argv.Add("--landlocked");
        argv.Add(state);
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}").ToList();
        var argvPtrs = argv.Select(a => Marshal.StringToCoTaskMemUTF8(a)).Append(0).ToArray();
        var envPtrs = env.Select(a => Marshal.StringToCoTaskMemUTF8(a)).Append(0).ToArray();
        execve("/proc/self/exe", argvPtrs, envPtrs);
        return $"not applied (re-exec failed, errno {Marshal.GetLastPInvokeError()})";
    }

    /// <summary>Restricts the calling thread; returns a description ("abi N" or why not).</summary>
    public static string Apply(IReadOnlyList<Root> roots, string trash)
    {
        var abi = syscall(SysCreateRuleset, 0, 0, (nint)CreateRulesetVersion);
        if (abi <= 0) return "unavailable (kernel without Landlock)";
        // Rights this ABI knows; the ruleset must only name those.
        var handled = (abi >= 3 ? (Truncate << 1) : abi == 2 ? (Refer << 1) : (MakeSym << 1)) - 1;
        var read = (Execute | ReadFile | ReadDir) & handled;
        var write = handled & ~(MakeChar | MakeBlock);
        var attr = handled;
        var ruleset = (int)syscall(SysCreateRuleset, (nint)(&attr), sizeof(ulong), 0);
        if (ruleset < 0) return $"not applied (create_ruleset errno {Marshal.GetLastPInvokeError()})";
        try
        {
            var rules = new List<(string Path, ulong Access)>
            {
                ("/usr", read), ("/opt/kruxos", read), ("/etc", read & ~Execute), ("/proc", ReadFile | ReadDir),
                ("/dev", (ReadFile | WriteFile | ReadDir | (abi >= 3 ? Truncate : 0)) & handled),
                ("/tmp", write), (trash, write),
            };
            foreach (var r in roots) rules.Add((r.Real, r.ReadOnly ? read : write));
            foreach (var (path, access) in rules)
            {
                var fd = Libc.open(path, Libc.O_PATH | Libc.O_CLOEXEC, 0);
                if (fd < 0) continue; // not present in this sandbox
                try
                {
                    var rule = new PathBeneath { AllowedAccess = access, ParentFd = fd };
                    if (syscall(SysAddRule, ruleset, RulePathBeneath, (nint)(&rule)) < 0)
                        return $"not applied (add_rule {path} errno {Marshal.GetLastPInvokeError()})";
                }
                finally { Libc.close(fd); }
            }
            const int PR_SET_NO_NEW_PRIVS = 38;
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if (syscall(SysRestrictSelf, ruleset, 0, 0) < 0) return $"not applied (restrict_self errno {Marshal.GetLastPInvokeError()})";
            return $"abi {abi}";
        }
        finally { Libc.close(ruleset); }
    }
}
