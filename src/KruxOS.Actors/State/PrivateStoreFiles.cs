namespace KruxOS.Actors.State;

/// <summary>
/// The file rules the gateway's own stores under its data directory share (system snapshots, backups): a directory only
/// the gateway user can enter, files created new (never over an existing name) and readable by that user only, and only
/// regular files — never a link, directory or device — counted as kept.
/// </summary>
internal static class PrivateStoreFiles
{
    /// <summary>Creates <paramref name="directory"/> (0700) when it does not exist.</summary>
    public static void EnsureDirectory(string directory)
    {
        if (Directory.Exists(directory)) return;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Options for a new 0600 file with <paramref name="access"/>; fails if the name exists.</summary>
    public static FileStreamOptions NewFile(FileAccess access)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = access, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return options;
    }

    /// <summary>A kept file is a regular file, never a link (the directory is the gateway's own; this is defence in depth).</summary>
    public static bool IsRegularFile(FileInfo info) =>
        info.Exists && info.LinkTarget is null && (info.Attributes & (FileAttributes.ReparsePoint | FileAttributes.Directory | FileAttributes.Device)) == 0;
}
