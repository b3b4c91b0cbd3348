namespace KruxOS.Audit;

/// <summary>
/// The audit directory is private: 0700, and every file in it (day files, index, anchors, retention state, torn-tail
/// evidence) 0600 from the first byte, since entries carry call arguments and file contents agents wrote.
/// </summary>
internal static class AuditFileModes
{
    private const UnixFileMode Directory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates the audit directory 0700, or removes group/other bits from an existing one and its files.</summary>
    public static void PrepareDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) { System.IO.Directory.CreateDirectory(directory); return; }
        if (!System.IO.Directory.Exists(directory)) System.IO.Directory.CreateDirectory(directory, Directory);
        Tighten(directory);
        foreach (var entry in System.IO.Directory.EnumerateFiles(directory)) Tighten(entry);
    }

    /// <summary>Options for a stream that may create its file: the file is created 0600.</summary>
    public static FileStreamOptions Options(FileMode mode, FileAccess access, FileShare share = FileShare.Read, int bufferSize = 4096)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share, BufferSize = bufferSize };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = File;
        return options;
    }

    /// <summary>Creates an empty 0600 file if there is none (before a library such as SQLite creates it with its own mode).</summary>
    public static void EnsureFile(string path)
    {
        if (OperatingSystem.IsWindows() || System.IO.File.Exists(path)) return;
        try { using (new FileStream(path, Options(FileMode.CreateNew, FileAccess.Write))) { } }
        catch (IOException) when (System.IO.File.Exists(path)) { }
    }

    private static void Tighten(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) return; // an operator's symlink: what it points to is theirs
        var mode = System.IO.File.GetUnixFileMode(path);
        var wanted = mode & (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (wanted != mode) System.IO.File.SetUnixFileMode(path, wanted);
    }
}
