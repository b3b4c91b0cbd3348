using System.Runtime.InteropServices;

namespace KruxOS.Sandbox.Native;

/// <summary>
/// Builds the sandbox's seccomp-bpf program through the system libseccomp (P/Invoke) and hands it to
/// bubblewrap as a memfd (<c>bwrap --seccomp FD</c>). An allowlist (<see cref="SeccompProfile"/>): the
/// default action fails the syscall with EPERM; the listed syscalls are allowed, <c>clone</c> only
/// without namespace flags, <c>ioctl</c> except TIOCSTI; <c>clone3</c> gets ENOSYS (libc then falls
/// back to the filterable <c>clone</c>); the spec's blocked syscalls are never on the allowlist, so they fail with EPERM too.
/// Mode-setting calls are allowed only without setuid/setgid bits (<see cref="SeccompProfile.ModeChecked"/>), and
/// <c>openat2</c> only in the warm worker (<see cref="SeccompProfile.WorkerOnly"/>; ENOSYS for commands).
/// libseccomp validates the architecture: a syscall made through another ABI (e.g. i386 on x86_64)
/// kills the process.
/// </summary>
internal static unsafe partial class Seccomp
{
    private const string Lib = "libseccomp.so.2";
    private const uint ActAllow = 0x7fff0000;
    private static uint ActErrno(int errno) => 0x00050000u | ((uint)errno & 0xffff);
    private const int EPERM = 1, ENOSYS = 38;

    private const ulong CLONE_NEWNS = 0x00020000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWUTS = 0x04000000,
        CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;
    private const ulong NamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
    private const ulong Tiocsti = 0x5412;
    private const ulong SetIdBits = 0xC00; // S_ISUID | S_ISGID
    private const ulong CreatingFlags = 0x40 | 0x400000; // O_CREAT | __O_TMPFILE

    /// <summary>The native syscall number of a name, or a negative value when the architecture has none.</summary>
    public static int Resolve(string name)
    {
        try { return seccomp_syscall_resolve_name(name); }
        catch (DllNotFoundException) { return -1; }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ArgCmp { public uint Arg; public int Op; public ulong DatumA; public ulong DatumB; }
    private const int CmpMaskedEq = 7; // enum scmp_compare

    [LibraryImport(Lib)] private static partial nint seccomp_init(uint defaultAction);
    [LibraryImport(Lib)] private static partial void seccomp_release(nint ctx);
    [LibraryImport(Lib)] private static partial int seccomp_rule_add_array(nint ctx, uint action, int syscall, uint count, ArgCmp* args);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] private static partial int seccomp_syscall_resolve_name(string name);
    [LibraryImport(Lib)] private static partial int seccomp_export_bpf(nint ctx, int fd);

    private static readonly Lazy<(byte[]? Program, string Detail)> Compiled = new(() => Compile(worker: false));
    private static readonly Lazy<(byte[]? Program, string Detail)> CompiledForWorker = new(() => Compile(worker: true));

    /// <summary>The compiled BPF program of process.run commands, or null with the reason when libseccomp is unusable.</summary>
    public static (byte[]? Program, string Detail) Program => Compiled.Value;

    /// <summary>The warm worker's program: the same, plus <see cref="SeccompProfile.WorkerOnly"/>.</summary>
    public static (byte[]? Program, string Detail) WorkerProgram => CompiledForWorker.Value;

    private static (byte[]?, string) Compile(bool worker)
    {
        nint ctx;
        try { ctx = seccomp_init(ActErrno(EPERM)); }
        catch (DllNotFoundException) { return (null, "libseccomp.so.2 is not installed"); }
        catch (EntryPointNotFoundException e) { return (null, "libseccomp is unusable: " + e.Message); }
        if (ctx == 0) return (null, "seccomp_init failed");
        try
        {
            // Fail closed on a profile that would allow a syscall it also lists as blocked.
            if (SeccompProfile.Allowed.Intersect(SeccompProfile.Blocked).FirstOrDefault() is { } conflict)
                return (null, $"the seccomp profile both allows and blocks '{conflict}'");
            var allowed = 0;
            var modeChecked = SeccompProfile.ModeChecked.ToDictionary(m => m.Syscall, m => (m.ModeArgument, m.FlagsArgument), StringComparer.Ordinal);
            foreach (var name in worker ? SeccompProfile.Allowed.Concat(SeccompProfile.WorkerOnly) : SeccompProfile.Allowed)
            {
                var nr = seccomp_syscall_resolve_name(name);
                if (nr < 0) continue; // not a syscall on this architecture
                int rc;
                if (name == "clone")
                {
                    // Threads and processes yes, new namespaces no: every namespace flag must be clear.
                    var cmp = new ArgCmp { Arg = 0, Op = CmpMaskedEq, DatumA = NamespaceFlags, DatumB = 0 };
                    rc = seccomp_rule_add_array(ctx, ActAllow, nr, 1, &cmp);
                }
                else if (name == "ioctl")
                {
                    // Every request but TIOCSTI (pushing input into a terminal). The kernel reads the request as
                    // 32 bits, so "low 32 bits differ from TIOCSTI" is the allow condition: one rule per bit,
                    // each allowing when that bit differs. TIOCSTI (whatever the high bits) falls to EPERM.
                    rc = 0;
                    for (var bit = 0; bit < 32 && rc == 0; bit++)
                    {
                        var mask = 1UL << bit;
                        var differs = new ArgCmp { Arg = 1, Op = CmpMaskedEq, DatumA = mask, DatumB = ~Tiocsti & mask };
                        rc = seccomp_rule_add_array(ctx, ActAllow, nr, 1, &differs);
                    }
                }
                else if (modeChecked.TryGetValue(name, out var m))
                {
                    // Allowed when the mode has no setuid/setgid bit; for open/openat also when nothing is created
                    // (the mode is then ignored). Rules are alternatives: any match allows, else the default EPERM.
                    var noSetId = new ArgCmp { Arg = (uint)m.ModeArgument, Op = CmpMaskedEq, DatumA = SetIdBits, DatumB = 0 };
                    rc = seccomp_rule_add_array(ctx, ActAllow, nr, 1, &noSetId);
                    if (rc == 0 && m.FlagsArgument >= 0)
                    {
                        var notCreating = new ArgCmp { Arg = (uint)m.FlagsArgument, Op = CmpMaskedEq, DatumA = CreatingFlags, DatumB = 0 };
                        rc = seccomp_rule_add_array(ctx, ActAllow, nr, 1, &notCreating);
                    }
                }
                else rc = seccomp_rule_add_array(ctx, ActAllow, nr, 0, null);
                if (rc != 0) return (null, $"seccomp_rule_add({name}) failed ({rc})");
                allowed++;
            }
            if (!worker)
            {
                foreach (var name in SeccompProfile.WorkerOnly)
                {
                    var nr = seccomp_syscall_resolve_name(name);
                    if (nr >= 0 && seccomp_rule_add_array(ctx, ActErrno(ENOSYS), nr, 0, null) != 0) return (null, $"seccomp_rule_add({name}) failed");
                }
            }
            // The explicit block list needs no rules of its own: libseccomp refuses a rule whose action equals
            // the default (EPERM), and none of those names is allowed (SeccompTests checks the lists are disjoint).
            var blocked = SeccompProfile.Blocked.Count(n => seccomp_syscall_resolve_name(n) >= 0);
            var clone3 = seccomp_syscall_resolve_name("clone3");
            if (clone3 >= 0 && seccomp_rule_add_array(ctx, ActErrno(ENOSYS), clone3, 0, null) != 0) return (null, "seccomp_rule_add(clone3) failed");

            var fd = Libc.memfd_create("kruxos-seccomp", 0);
            if (fd < 0) return (null, "memfd_create failed");
            try
            {
                if (seccomp_export_bpf(ctx, fd) != 0) return (null, "seccomp_export_bpf failed");
                var size = Libc.lseek(fd, 0, 2);
                Libc.lseek(fd, 0, 0);
                var program = new byte[size];
                fixed (byte* p = program)
                    if (Libc.read(fd, p, (nuint)size) != size) return (null, "reading the exported filter failed");
                return (program, $"libseccomp filter, mode {SeccompProfile.Mode}: {allowed} syscalls allowed ({SeccompProfile.ModeChecked.Length} only without setuid/setgid modes), {blocked} explicitly blocked, everything else EPERM ({program.Length / 8} BPF instructions)");
            }
            finally { Libc.close(fd); }
        }
        finally { seccomp_release(ctx); }
    }

    /// <summary>
    /// A fresh memfd (inheritable, offset 0) holding the program, for one bwrap launch. Each launch gets
    /// its own, because bwrap reads from the shared file offset.
    /// </summary>
    public static int CreateMemfd(bool worker = false)
    {
        var (program, detail) = worker ? WorkerProgram : Program;
        if (program is null) throw new InvalidOperationException("seccomp unavailable: " + detail);
        var fd = Libc.memfd_create("kruxos-seccomp", 0);
        if (fd < 0) throw new InvalidOperationException("memfd_create failed");
        fixed (byte* p = program)
            if (Libc.write(fd, p, (nuint)program.Length) != program.Length) { Libc.close(fd); throw new InvalidOperationException("writing the seccomp memfd failed"); }
        Libc.lseek(fd, 0, 0);
        return fd;
    }
}
