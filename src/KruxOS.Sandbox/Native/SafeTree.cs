using System.Runtime.InteropServices;

namespace KruxOS.Sandbox.Native;

/// <summary>
/// Root-side operations on trees an agent can write (its workspace, its trash). Everything in such a tree
/// is hostile input: names, types, symlinks and hard links can change at any moment. So these walks never
/// build a path from what they find: they descend with <c>openat(dirfd, name, O_NOFOLLOW | O_DIRECTORY)</c>,
/// act with fd-relative calls (<c>unlinkat</c>, <c>fchownat(AT_SYMLINK_NOFOLLOW)</c>, <c>fchmod</c> on an
/// fd they opened), never follow a symlink, never cross into another file system (a mount point), and
/// stop at a fixed depth. A swapped-in symlink or directory can at worst make an operation fail.
/// </summary>
internal static unsafe partial class SafeTree
{
    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    private const uint STATX_BASIC = 0x7FF;
    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000, S_IFCHR = 0x2000, S_IFBLK = 0x6000;
    public const uint S_ISUID = 0x800, S_ISGID = 0x400;

    /// <summary>Deepest directory level a walk descends to; deeper entries are left alone.</summary>
    public const int MaxDepth = 256;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchownat(int dirfd, string path, uint owner, uint group, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fchmod(int fd, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint getdents64(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buffer, nuint count);

    /// <summary>What <c>statx</c> says about an entry (never following a final symlink).</summary>
    public readonly record struct Entry(uint Mode, uint Nlink, uint Uid, ulong Ino, ulong Size, uint DevMajor, uint DevMinor)
    {
        public uint Type => Mode & S_IFMT;
        public bool IsDirectory => Type == S_IFDIR;
        public bool IsRegular => Type == S_IFREG;
        public bool SameDevice(Entry other) => DevMajor == other.DevMajor && DevMinor == other.DevMinor;
    }

    /// <summary>An open fd that closes itself.</summary>
    public sealed class Fd(int value) : IDisposable
    {
        public int Value { get; private set; } = value;

        public void Dispose()
        {
            if (Value >= 0) Libc.close(Value);
            Value = -1;
        }
    }

    /// <summary>Opens an operator-chosen directory (e.g. the data directory's <c>trash</c>); symlinks in it are the operator's.</summary>
    public static Fd? OpenTrusted(string path)
    {
        var fd = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        return fd < 0 ? null : new Fd(fd);
    }

    /// <summary>
    /// Opens the directory <paramref name="name"/> below <paramref name="dirfd"/> without following a symlink and,
    /// unless <paramref name="anyDevice"/> (for an agent's top directory, whose parent is root's), on the same file system.
    /// </summary>
    public static Fd? OpenDirectory(int dirfd, string name, bool anyDevice = false)
    {
        if (!IsPlainName(name)) return null;
        var fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) return null;
        var opened = new Fd(fd);
        if (anyDevice) return opened;
        if (Stat(dirfd, null) is not { } parent || Stat(fd, null) is not { } self || !parent.SameDevice(self))
        {
            opened.Dispose();
            return null;
        }
        return opened;
    }

    /// <summary>statx of <paramref name="name"/> below <paramref name="dirfd"/> (or of the fd itself when null), without following it.</summary>
    public static Entry? Stat(int dirfd, string? name)
    {
        var b = stackalloc byte[256];
        var rc = name is null ? statx(dirfd, string.Empty, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC, b)
            : statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC, b);
        if (rc != 0) return null;
        // struct statx: nlink@16 u32, uid@20 u32, mode@28 u16, ino@32 u64, size@40 u64, dev_major@136 u32, dev_minor@140 u32.
        return new Entry(*(ushort*)(b + 28), *(uint*)(b + 16), *(uint*)(b + 20), *(ulong*)(b + 32), *(ulong*)(b + 40), *(uint*)(b + 136), *(uint*)(b + 140));
    }

    /// <summary>The names in a directory fd (without "." and ".."), read with getdents64.</summary>
    public static List<string> Names(int dirfd)
    {
        var names = new List<string>();
        // A separate open file description, so reading it does not move the caller's offset.
        var fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) return names;
        try
        {
            var buffer = stackalloc byte[32 * 1024];
            while (true)
            {
                var n = getdents64(fd, buffer, 32 * 1024);
                if (n <= 0) break;
                for (nint pos = 0; pos < n;)
                {
                    var reclen = *(ushort*)(buffer + pos + 16);
                    var name = Marshal.PtrToStringUTF8((nint)(buffer + pos + 19));
                    if (name is not (null or "." or "..")) names.Add(name);
                    pos += reclen;
                }
            }
        }
        finally { Libc.close(fd); }
        return names;
    }

    /// <summary>
    /// Reads a small regular file below <paramref name="dirfd"/> without following a symlink, blocking on a FIFO
    /// or opening a device; null when it is anything else or larger than <paramref name="maxBytes"/>.
    /// </summary>
    public static byte[]? ReadSmallFile(int dirfd, string name, int maxBytes)
    {
        if (!IsPlainName(name)) return null;
        var fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) return null;
        try
        {
            if (Stat(fd, null) is not { IsRegular: true } st || st.Size > (ulong)maxBytes) return null;
            // Re-open the very inode through the O_PATH fd's magic link (it names the open file, not a path).
            var data = openat(AT_FDCWD, $"/proc/self/fd/{fd}", O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
            if (data < 0) return null;
            try
            {
                if (Stat(data, null) is not { IsRegular: true } again || again.Ino != st.Ino) return null;
                var buffer = new byte[maxBytes + 1];
                var total = 0;
                fixed (byte* p = buffer)
                {
                    while (total < buffer.Length)
                    {
                        var n = read(data, p + total, (nuint)(buffer.Length - total));
                        if (n <= 0) break;
                        total += (int)n;
                    }
                }
                return total > maxBytes ? null : buffer[..total];
            }
            finally { Libc.close(data); }
        }
        finally { Libc.close(fd); }
    }

    /// <summary>
    /// Removes <paramref name="name"/> below <paramref name="dirfd"/> and everything under it, as itself: a
    /// symlink is unlinked, never followed; a directory on another file system is left alone. Returns
    /// false when something could not be removed (it stays for the next attempt).
    /// </summary>
    public static bool Delete(int dirfd, string name, int depth = 0)
    {
        if (!IsPlainName(name)) return false;
        if (Stat(dirfd, name) is not { } entry) return false;
        if (!entry.IsDirectory) return unlinkat(dirfd, name, 0) == 0;
        if (depth >= MaxDepth) return false;
        var complete = true;
        using (var child = OpenDirectory(dirfd, name))
        {
            if (child is null) return false; // replaced meanwhile, or another file system: not ours to empty
            foreach (var n in Names(child.Value)) complete &= Delete(child.Value, n, depth + 1);
        }
        return complete && unlinkat(dirfd, name, AT_REMOVEDIR) == 0;
    }

    /// <summary>Counts of a <see cref="Chown"/> walk.</summary>
    public sealed record ChownResult(int Changed, int Skipped);

    /// <summary>
    /// Gives <paramref name="dirfd"/> and everything below it (same file system, up to <see cref="MaxDepth"/>) to
    /// <paramref name="uid"/>:<paramref name="gid"/>, and clears setuid/setgid bits on the way: symlinks are
    /// changed as links, directories through an fd opened with O_NOFOLLOW, regular files only when they have one
    /// link (a hard link could be a name for a file outside the tree). Device files are skipped.
    /// </summary>
    public static ChownResult Chown(int dirfd, uint uid, uint gid)
    {
        var changed = 0;
        var skipped = 0;
        if (fchownat(dirfd, string.Empty, uid, gid, AT_EMPTY_PATH) == 0) changed++; else skipped++;
        StripSpecialBits(dirfd);
        Walk(dirfd, 0);
        return new ChownResult(changed, skipped);

        void Walk(int fd, int depth)
        {
            foreach (var name in Names(fd))
            {
                if (Stat(fd, name) is not { } e) { skipped++; continue; }
                switch (e.Type)
                {
                    case S_IFDIR:
                        if (depth + 1 >= MaxDepth) { skipped++; continue; }
                        using (var child = OpenDirectory(fd, name))
                        {
                            if (child is null) { skipped++; continue; }
                            if (fchownat(child.Value, string.Empty, uid, gid, AT_EMPTY_PATH) == 0) changed++; else skipped++;
                            StripSpecialBits(child.Value);
                            Walk(child.Value, depth + 1);
                        }
                        break;
                    default:
                        if (ChownLeaf(fd, name, uid, gid)) changed++; else skipped++;
                        break;
                }
            }
        }
    }

    // Anything but a directory, through an O_PATH fd of the entry itself (a symlink is changed as a link; a
    // FIFO or device is never opened): skipped when it is a device, or a regular file with other names.
    // The kernel clears setuid (and setgid with group-execute) when a regular file's owner is set.
    private static bool ChownLeaf(int dirfd, string name, uint uid, uint gid)
    {
        var fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) return false;
        try
        {
            if (Stat(fd, null) is not { } e || e.IsDirectory || e.Type is S_IFCHR or S_IFBLK || (e.IsRegular && e.Nlink > 1)) return false;
            return fchownat(fd, string.Empty, uid, gid, AT_EMPTY_PATH) == 0;
        }
        finally { Libc.close(fd); }
    }

    /// <summary>Sets the permission bits of an open directory (and nothing else: no setuid/setgid/sticky).</summary>
    public static bool ChmodDirectory(int dirfd, uint mode) => fchmod(dirfd, mode & 0x1FF) == 0;

    /// <summary>Clears setuid and setgid on an open directory (chown leaves them on directories).</summary>
    private static void StripSpecialBits(int dirfd)
    {
        if (Stat(dirfd, null) is { } st && (st.Mode & (S_ISUID | S_ISGID)) != 0) fchmod(dirfd, st.Mode & 0xFFF & ~(S_ISUID | S_ISGID));
    }

    /// <summary>A single path component (no '/', not "." or "..", no NUL).</summary>
    public static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 255 && name is not ("." or "..") && !name.Contains('/') && !name.Contains('\0');
}
