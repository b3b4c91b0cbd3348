using System.Runtime.InteropServices;

namespace KruxOS.SandboxWorker.Native;

/// <summary>The few libc calls the worker needs for race-free path handling (openat2, renameat, realpath).</summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200,
        O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08;
    public const int EXDEV = 18, ENOTEMPTY = 39, ELOOP = 40, ENOENT = 2, EEXIST = 17, ENOTDIR = 20, ENOSPC = 28, EROFS = 30, EACCES = 13, EPERM = 1, ENOSYS = 38, EISDIR = 21;
    private const long SYS_openat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow { public ulong Flags; public ulong Mode; public ulong Resolve; }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat(int olddirfd, string oldpath, int newdirfd, string newpath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlinkat(int dirfd, string path, int flags);

    /// <summary>renameat2(2) flag: fail with EEXIST instead of replacing the destination.</summary>
    public const uint RENAME_NOREPLACE = 1;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdirat(int dirfd, string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint realpath(string path, nint resolved);

    [LibraryImport("libc")]
    private static partial void free(nint p);

    [LibraryImport("libc")]
    public static partial uint geteuid();

    /// <summary>access(2) mode: search (directories) or execute (files).</summary>
    public const int X_OK = 1;

    /// <summary>access(2): checked with this process's own (real) uid and gid, so inside the sandbox as the agent.</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    /// <summary>prctl(PR_SET_DUMPABLE, 0): /proc/&lt;pid&gt; of this process becomes root's, so no process of the same uid
    /// (git, or anything else in the sandbox) can open its fds, memory or environment through /proc.</summary>
    public static bool MakeNonDumpable() => prctl(4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0) == 0;

    /// <summary>Whether an open fd (O_PATH is enough) refers to a directory.</summary>
    public static bool IsDirectory(int fd) => FileType(fd) == 0x4000;

    /// <summary>Whether an open fd refers to a regular file.</summary>
    public static bool IsRegularFile(int fd) => FileType(fd) == 0x8000;

    // S_IFMT bits of an open fd (stx_mode at offset 28), or 0.
    private static int FileType(int fd)
    {
        const int AT_EMPTY_PATH = 0x1000;
        const uint STATX_TYPE = 0x1;
        var buffer = stackalloc byte[256];
        if (statx(fd, string.Empty, AT_EMPTY_PATH, STATX_TYPE, buffer) != 0) return 0;
        return *(ushort*)(buffer + 28) & 0xF000;
    }

    /// <summary>The owner uid of a path (not following a final symlink), via statx whose layout is the same on every architecture.</summary>
    public static uint? OwnerUid(string path)
    {
        const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;
        const uint STATX_UID = 0x8;
        var buffer = stackalloc byte[256];
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_UID, buffer) != 0) return null;
        return *(uint*)(buffer + 20); // stx_mask u32, stx_blksize u32, stx_attributes u64, stx_nlink u32, stx_uid u32
    }

    /// <summary>openat2(2); returns the fd or -errno.</summary>
    public static int OpenAt2(int dirfd, string relativePath, int flags, int mode, ulong resolve)
    {
        var how = new OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Mode = (ulong)((flags & O_CREAT) != 0 ? mode : 0), Resolve = resolve };
        var bytes = System.Text.Encoding.UTF8.GetBytes(relativePath + "\0");
        fixed (byte* p = bytes)
        {
            var fd = syscall(SYS_openat2, dirfd, p, &how, (nuint)sizeof(OpenHow));
            return fd < 0 ? -Marshal.GetLastPInvokeError() : (int)fd;
        }
    }

    /// <summary>realpath(3): the canonical path with every symlink resolved, or null.</summary>
    public static string? RealPath(string path)
    {
        var p = realpath(path, 0);
        if (p == 0) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { free(p); }
    }
}
