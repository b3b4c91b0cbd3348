using System.Runtime.InteropServices;

namespace KruxOS.Sandbox.Native;

/// <summary>
/// Builds the sandbox's seccomp-bpf program through the system libseccomp (P/Invoke) and hands it to
/// bubblewrap as a memfd (<c>bwrap --seccomp FD</c>). Default allow with an explicit deny list: the
/// spec's 23 blocked syscalls plus other kernel-surface calls, namespace creation through clone flags,
/// clone3 (ENOSYS, so libc falls back to the filterable clone) and TIOCSTI.
/// </summary>
internal static unsafe partial class Seccomp
{
    private const string Lib = "libseccomp.so.2";
    private const uint ActAllow = 0x7fff0000;
    private static uint ActErrno(int errno) => 0x00050000u | ((uint)errno & 0xffff);
    private const int EPERM = 1, ENOSYS = 38;

    /// <summary>Syscalls refused with EPERM (spec §9.4 explicit list first, then additions).</summary>
    public static readonly string[] Blocked =
    [
        "mount", "umount2", "pivot_root", "ptrace", "init_module", "finit_module", "delete_module", "kexec_load",
        "kexec_file_load", "reboot", "sethostname", "setdomainname", "swapon", "swapoff", "syslog", "settimeofday",
        "perf_event_open", "bpf", "userfaultfd", "keyctl", "request_key", "add_key", "unshare", "setns",
        // additions: more kernel attack surface an agent never needs
        "open_by_handle_at", "name_to_handle_at", "acct", "quotactl", "lookup_dcookie", "clock_settime", "clock_adjtime",
        "adjtimex", "iopl", "ioperm", "uselib", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
        "mount_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register", "process_vm_readv", "process_vm_writev",
        "kcmp", "personality", "vhangup", "nfsservctl", "get_kernel_syms", "query_module", "create_module",
    ];

    private const ulong CLONE_NEWNS = 0x00020000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWUTS = 0x04000000,
        CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

    [StructLayout(LayoutKind.Sequential)]
    private struct ArgCmp { public uint Arg; public int Op; public ulong DatumA; public ulong DatumB; }
    private const int CmpMaskedEq = 7;

    [LibraryImport(Lib)] private static partial nint seccomp_init(uint defaultAction);
    [LibraryImport(Lib)] private static partial void seccomp_release(nint ctx);
    [LibraryImport(Lib)] private static partial int seccomp_rule_add_array(nint ctx, uint action, int syscall, uint count, ArgCmp* args);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] private static partial int seccomp_syscall_resolve_name(string name);
    [LibraryImport(Lib)] private static partial int seccomp_export_bpf(nint ctx, int fd);

    private static readonly Lazy<(byte[]? Program, string Detail)> Compiled = new(Compile);

    /// <summary>The compiled BPF program, or null with the reason when libseccomp is unusable.</summary>
    public static (byte[]? Program, string Detail) Program => Compiled.Value;

    private static (byte[]?, string) Compile()
    {
        nint ctx;
        try { ctx = seccomp_init(ActAllow); }
        catch (DllNotFoundException) { return (null, "libseccomp.so.2 is not installed"); }
        catch (EntryPointNotFoundException e) { return (null, "libseccomp is unusable: " + e.Message); }
        if (ctx == 0) return (null, "seccomp_init failed");
        try
        {
            var rules = 0;
            foreach (var name in Blocked)
            {
                var nr = seccomp_syscall_resolve_name(name);
                if (nr < 0) continue; // not a syscall on this architecture
                if (seccomp_rule_add_array(ctx, ActErrno(EPERM), nr, 0, null) != 0) return (null, $"seccomp_rule_add({name}) failed");
                rules++;
            }
            var clone = seccomp_syscall_resolve_name("clone");
            foreach (var flag in new[] { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP })
            {
                var cmp = new ArgCmp { Arg = 0, Op = CmpMaskedEq, DatumA = flag, DatumB = flag };
                if (seccomp_rule_add_array(ctx, ActErrno(EPERM), clone, 1, &cmp) != 0) return (null, "seccomp_rule_add(clone flags) failed");
                rules++;
            }
            var clone3 = seccomp_syscall_resolve_name("clone3");
            if (clone3 >= 0 && seccomp_rule_add_array(ctx, ActErrno(ENOSYS), clone3, 0, null) == 0) rules++;
            var ioctl = seccomp_syscall_resolve_name("ioctl");
            var tiocsti = new ArgCmp { Arg = 1, Op = CmpMaskedEq, DatumA = 0xffffffff, DatumB = 0x5412 };
            if (seccomp_rule_add_array(ctx, ActErrno(EPERM), ioctl, 1, &tiocsti) == 0) rules++;

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
                return (program, $"libseccomp filter: {rules} rules, {program.Length / 8} BPF instructions, default allow, blocked → EPERM");
            }
            finally { Libc.close(fd); }
        }
        finally { seccomp_release(ctx); }
    }

    /// <summary>
    /// A fresh memfd (inheritable, offset 0) holding the program, for one bwrap launch. Each launch gets
    /// its own, because bwrap reads from the shared file offset.
    /// </summary>
    public static int CreateMemfd()
    {
        var program = Program.Program ?? throw new InvalidOperationException("seccomp unavailable: " + Program.Detail);
        var fd = Libc.memfd_create("kruxos-seccomp", 0);
        if (fd < 0) throw new InvalidOperationException("memfd_create failed");
        fixed (byte* p = program)
            if (Libc.write(fd, p, (nuint)program.Length) != program.Length) { Libc.close(fd); throw new InvalidOperationException("writing the seccomp memfd failed"); }
        Libc.lseek(fd, 0, 0);
        return fd;
    }
}
