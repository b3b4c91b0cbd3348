namespace KruxOS.Sandbox.Native;

/// <summary>
/// The sandbox's seccomp profile as data (ADR 0012). Everything a sandboxed process may call is listed
/// in <see cref="Allowed"/>, one group per concern; any other syscall fails with EPERM. The spec's
/// explicitly blocked syscalls (§9.4) and further kernel surface are listed in <see cref="Blocked"/>:
/// they fail through the default action, and a test checks that the two lists never overlap, so
/// widening the allowlist can never re-enable one of them by mistake. The set was found by running the worker (.NET runtime), bash,
/// coreutils, git (local, file:// and git:// remotes) and the sandbox tests under <c>strace -f -c</c>,
/// then grouping the union and adding the close relatives of each call (the *at / 64-bit variants).
/// Names that do not exist on the running architecture are skipped when the filter is compiled.
/// </summary>
internal static class SeccompProfile
{
    /// <summary>The filter's mode, as reported by <c>kruxos sandbox diagnose</c>.</summary>
    public const string Mode = "allowlist";

    /// <summary>Groups of allowed syscalls; the key says why the group is there.</summary>
    public static readonly (string Group, string[] Syscalls)[] AllowedGroups =
    [
        // Starting, running and ending processes and threads (the runtime's thread pool, bash pipelines,
        // git's helpers). clone is further restricted (no namespace flags); clone3 gets ENOSYS instead.
        ("process lifecycle", [
            "execve", "execveat", "fork", "vfork", "clone", "exit", "exit_group", "wait4", "waitid",
            "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv",
            "futex_wake", "futex_wait", "futex_requeue", "gettid", "getpid", "getppid", "getpgid", "getpgrp",
            "getsid", "setsid", "setpgid", "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal",
            "prctl", "arch_prctl", "map_shadow_stack", "restart_syscall", "uretprobe",
        ]),
        // Scheduling, limits and accounting of the caller itself (the runtime reads its affinity and
        // cgroup limits; `nice`, `ulimit`, `time` and process.run's resource usage use the rest).
        ("scheduling and limits", [
            "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
            "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
            "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
            "getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "ioprio_get", "ioprio_set", "getcpu",
        ]),
        ("signals", [
            "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
            "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4",
            "pause", "alarm",
        ]),
        // Credentials inside the user namespace: only uid/gid 1000 is mapped, so set* can change nothing
        // that matters; tools (setpriv, su-less scripts, git) query and sometimes re-set them.
        ("credentials", [
            "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
            "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
            "capget", "capset",
        ]),
        // Memory management (the GC reserves, commits and decommits; memfd for the runtime's double mapping).
        ("memory", [
            "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock", "mlock2",
            "munlock", "mlockall", "munlockall", "membarrier", "memfd_create", "pkey_alloc", "pkey_free",
            "pkey_mprotect", "get_mempolicy", "set_mempolicy", "mbind", "mseal",
        ]),
        ("file descriptors and I/O", [
            "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
            "pwritev2", "open", "openat", "creat", "close", "close_range", "lseek", "dup", "dup2",
            "dup3", "fcntl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "truncate",
            "ftruncate", "fallocate", "fadvise64", "readahead", "sendfile", "copy_file_range", "splice",
            "tee", "vmsplice", "ioctl",
        ]),
        ("file metadata and directories", [
            "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
            "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir",
            "rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat",
            "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown",
            "fchownat", "umask", "utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat",
            "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr",
            "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
        ]),
        // filesystem.watch (inotify) and the Landlock self-restriction the warm worker applies to itself.
        ("watches and self-restriction", [
            "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
            "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp",
        ]),
        ("waiting and event notification", [
            "pipe", "pipe2", "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
            "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
        ]),
        ("clocks and timers", [
            "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
            "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
            "getitimer", "setitimer", "timerfd_create", "timerfd_settime", "timerfd_gettime",
        ]),
        // Sockets: the network namespace is empty (lo only), so these reach nothing outside; the worker
        // uses a loopback listener and a bound Unix socket for the git relay, the runtime uses socketpair.
        ("sockets", [
            "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
            "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
            "sendmmsg", "recvmmsg", "shutdown",
        ]),
        // System V and POSIX IPC, private to the sandbox's IPC namespace.
        ("ipc", [
            "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
            "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
            "mq_notify", "mq_getsetattr",
        ]),
        ("system information", ["uname", "sysinfo", "getrandom"]),
    ];

    /// <summary>
    /// Allowed calls that set a file mode are allowed only while that mode has neither setuid (04000) nor setgid
    /// (02000): an agent must never leave a set-id file or directory on the host, where it would run with the
    /// agent's uid or gid for whoever executes it (bubblewrap's mounts are nosuid, so it means nothing inside).
    /// Any other value fails with EPERM. <c>ModeArgument</c> is the index of the mode; for <c>open</c>/<c>openat</c>
    /// the mode only counts when <c>FlagsArgument</c> has O_CREAT or O_TMPFILE. <c>mkdir</c> needs no rule: the
    /// kernel ignores both bits in its mode (a directory only inherits setgid from its parent, and no agent can
    /// make one setgid). <c>openat2</c> carries its mode in a struct the filter cannot read: see <see cref="WorkerOnly"/>.
    /// </summary>
    public static readonly (string Syscall, int ModeArgument, int FlagsArgument)[] ModeChecked =
    [
        ("chmod", 1, -1), ("fchmod", 1, -1), ("fchmodat", 2, -1), ("fchmodat2", 2, -1),
        ("creat", 1, -1), ("mknod", 1, -1), ("mknodat", 2, -1),
        ("open", 2, 1), ("openat", 3, 2),
    ];

    /// <summary>
    /// Allowed in the warm worker only, where the caller is the worker's own code (its path handling needs
    /// <c>openat2</c>'s RESOLVE_BENEATH, and the modes it passes are fixed); process.run commands get ENOSYS,
    /// which tools treat as "use openat", because the filter cannot check the mode inside <c>struct open_how</c>.
    /// </summary>
    public static readonly string[] WorkerOnly = ["openat2"];

    /// <summary>Syscalls that must never be allowed (EPERM): spec §9.4's explicit list first, then additions.</summary>
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

    /// <summary>Every allowed syscall name, in group order.</summary>
    public static IEnumerable<string> Allowed => AllowedGroups.SelectMany(g => g.Syscalls);
}
