using System.Runtime.InteropServices;

namespace KruxOS.Sandbox.Tests;

internal static unsafe partial class NativeTest
{
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, uint owner, uint group);

    [LibraryImport("libc")]
    private static partial long syscall(long number, nint a, nint b, nint c);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string existing, string created);

    /// <summary>link(2): a hard link; 0 on success.</summary>
    public static int Link(string existing, string created) => link(existing, created);

    /// <summary>landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION).</summary>
    public static long LandlockAbi() => syscall(444, 0, 0, 1);

    public static uint? OwnerUid(string path)
    {
        var b = stackalloc byte[256];
        return statx(-100, path, 0x100, 0x8, b) == 0 ? *(uint*)(b + 20) : null;
    }

    public static void ChownOne(string path, uint uid) => chown(path, uid, uid);

    public static void Chown(string path, uint uid)
    {
        foreach (var p in Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories).Append(path)) chown(p, uid, uid);
    }
}
