using KruxOS.Sandbox.Isolation;

namespace KruxOS.Sandbox;

/// <summary>
/// Files and directories the sandbox host keeps for itself in the data directory: directories 0700, files 0600,
/// never reachable or readable by another uid (the agents' uids included), written atomically.
/// </summary>
public static class PrivateFiles
{
    /// <summary>Owner-only directory bits.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Owner-only file bits.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Creates a directory (and missing parents) 0700, or tightens an existing one the gateway's user owns to 0700;
    /// a symlink in its place is refused.
    /// </summary>
    public static void CreateDirectory(string path) => CreateDirectory(path, DirectoryMode);

    /// <summary>Creates a directory with <paramref name="mode"/>, or sets an existing one the gateway's user owns to it.</summary>
    public static void CreateDirectory(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows()) { Directory.CreateDirectory(path); return; }
        if (!Directory.Exists(path)) Directory.CreateDirectory(path, mode);
        Restrict(path, (uint)mode);
    }

    /// <summary>
    /// Removes group and other bits beyond <paramref name="allowed"/> (and setuid/setgid/sticky) from a path the
    /// gateway's user owns; a path owned by anyone else, and a symlink (an operator's choice of where a store lives),
    /// are left alone. Returns false when the path does not exist.
    /// </summary>
    public static bool Restrict(string path, uint allowed)
    {
        if (OperatingSystem.IsWindows()) return File.Exists(path) || Directory.Exists(path);
        if (HostPaths.Describe(path) is not { } d) return false;
        if (d.IsSymlink || d.Owner != Native.Libc.geteuid()) return true;
        var wanted = d.Mode & (0x1C0 | allowed) & ~0xE00u; // keep the owner's bits, drop setuid/setgid/sticky
        if (wanted != d.Mode) HostPaths.SetMode(path, wanted);
        return true;
    }

    /// <summary>
    /// Sets a directory the gateway's user owns to exactly <paramref name="mode"/> (adding bits as well as removing
    /// them); one owned by someone else, or a symlink, is refused.
    /// </summary>
    public static void SetDirectoryMode(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows()) return;
        if (HostPaths.Describe(path) is not { IsDirectory: true, IsSymlink: false } d)
            throw new IOException($"{path} is not a directory (a symbolic link is not accepted)");
        if (d.Owner != Native.Libc.geteuid()) throw new IOException($"{path} is owned by uid {d.Owner}, not by the gateway's user");
        if (d.Mode != (uint)mode) HostPaths.SetMode(path, (uint)mode);
    }

    /// <summary>Writes a file 0600 through a temporary file and a rename, so readers never see half of it.</summary>
    public static void WriteAtomically(string path, string text)
    {
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileMode;
            using (var fs = new FileStream(temp, options))
            using (var w = new StreamWriter(fs, new System.Text.UTF8Encoding(false)))
            {
                w.Write(text);
                w.Flush();
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
