using System.Globalization;
using System.Runtime.InteropServices;

namespace KruxOS.Sandbox.Isolation;

/// <summary>What <see cref="HostPaths.Inspect"/> found at a host directory (or file), opened without following any symlink.</summary>
/// <param name="Identity">Device and inode as <c>stat -c %d:%i</c> prints them.</param>
/// <param name="OwnerUid">Owner of the directory itself.</param>
/// <param name="Mode">Permission bits of the directory itself.</param>
/// <param name="AncestorsRootOnly">
/// True when every directory above it is owned by root and writable by nobody else: only root can then
/// replace the path between the check and the bind. Otherwise the launcher re-checks the identity after binding.
/// </param>
/// <param name="IsFile">A regular file (only where the caller allowed one) rather than a directory.</param>
internal sealed record HostDirectory(string Identity, uint OwnerUid, uint Mode, bool AncestorsRootOnly, bool IsFile = false);

/// <summary>
/// Root-side inspection of host directories the sandbox binds. Every component is opened with
/// <c>O_PATH | O_NOFOLLOW | O_DIRECTORY</c> relative to its parent's descriptor, so a symlink anywhere in
/// the path fails the lookup instead of being followed (callers pass canonical paths), and the identity
/// returned is the one of the directory really found there.
/// </summary>
internal static unsafe partial class HostPaths
{
    private const int OPath = 0x200000, ONoFollow = 0x20000, ODirectory = 0x10000, OCloexec = 0x80000;
    private const int AtEmptyPath = 0x1000, AtSymlinkNoFollow = 0x100;
    private const uint StatxBasic = 0x7ff;
    private const ushort DirectoryType = 0x4000, RegularType = 0x8000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dirfd, string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchmodat(int dirfd, string path, uint mode, int flags);

    /// <summary>
    /// Opens <paramref name="path"/> (absolute) component by component without following symlinks and
    /// reports what is there; throws <see cref="IOException"/> when a component is missing, is a symlink or
    /// is not a directory — the last one may be a regular file when <paramref name="allowFile"/>.
    /// </summary>
    public static HostDirectory Inspect(string path, bool allowFile = false)
    {
        if (!Path.IsPathRooted(path)) throw new IOException($"'{path}' is not an absolute path");
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var fd = openat(-100, "/", OPath | ODirectory | OCloexec);
        if (fd < 0) throw Error("/", "open");
        var rootOnly = true;
        try
        {
            var walked = "";
            for (var i = 0; i < parts.Length; i++)
            {
                var part = parts[i];
                if (part is "." or "..") throw new IOException($"'{path}' is not canonical");
                var (_, owner, mode, _) = Stat(fd, walked.Length == 0 ? "/" : walked);
                // A parent that someone other than root owns or may write to lets them swap what follows.
                rootOnly &= owner == 0 && (mode & 0x12) == 0;
                walked += "/" + part;
                // O_PATH | O_NOFOLLOW on a final symlink opens the link itself: its type is refused below.
                var last = i == parts.Length - 1 && allowFile;
                var next = openat(fd, part, OPath | ONoFollow | (last ? 0 : ODirectory) | OCloexec);
                if (next < 0) throw Error(walked, "open (symlinks are not followed)");
                close(fd);
                fd = next;
            }
            var (identity, uid, bits, type) = Stat(fd, path);
            if (type is not (DirectoryType or RegularType)) throw new IOException($"{path} is neither a directory nor a regular file (symlinks are not followed)");
            return new HostDirectory(identity, uid, bits, rootOnly, type == RegularType);
        }
        finally { close(fd); }
    }

    /// <summary>Sets the permission bits of a path without following a final symlink (chmod of a symlink is refused).</summary>
    public static void SetMode(string path, uint mode)
    {
        if (fchmodat(-100, path, mode, 0) != 0) throw Error(path, "chmod");
    }

    /// <summary>Owner and permission bits of a path without following a final symlink; null when it does not exist.</summary>
    public static (uint Owner, uint Mode, bool IsDirectory, bool IsSymlink)? Describe(string path)
    {
        var buffer = stackalloc byte[256];
        if (statx(-100, path, AtSymlinkNoFollow, StatxBasic, buffer) != 0) return null;
        var type = *(ushort*)(buffer + 28) & 0xF000;
        return (*(uint*)(buffer + 20), (uint)(*(ushort*)(buffer + 28) & 0xFFF), type == 0x4000, type == 0xA000);
    }

    private static (string Identity, uint Owner, uint Mode, ushort Type) Stat(int fd, string label)
    {
        var buffer = stackalloc byte[256];
        if (statx(fd, "", AtEmptyPath, StatxBasic, buffer) != 0) throw Error(label, "stat");
        var owner = *(uint*)(buffer + 20);
        var mode = *(ushort*)(buffer + 28);
        var ino = *(ulong*)(buffer + 32);
        var major = *(uint*)(buffer + 136);
        var minor = *(uint*)(buffer + 140);
        return (Device(major, minor).ToString(CultureInfo.InvariantCulture) + ":" + ino.ToString(CultureInfo.InvariantCulture), owner, (uint)(mode & 0xFFF), (ushort)(mode & 0xF000));
    }

    /// <summary>glibc's <c>makedev</c>: the st_dev number <c>stat(1)</c> prints for a major/minor pair.</summary>
    internal static ulong Device(uint major, uint minor) =>
        ((ulong)(major & 0x00000fffu) << 8) | ((ulong)(major & 0xfffff000u) << 32) | (minor & 0x000000ffu) | ((ulong)(minor & 0xffffff00u) << 12);

    private static IOException Error(string path, string op) =>
        new($"{op} {path} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
}
