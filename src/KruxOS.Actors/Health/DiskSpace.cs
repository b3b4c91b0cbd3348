namespace KruxOS.Actors.Health;

/// <summary>Disk facts of this node, for health, status and <c>system.*</c> capabilities.</summary>
public static class DiskSpace
{
    /// <summary>The drive holding a path (the mount with the longest matching prefix).</summary>
    public static DriveInfo DiskOf(string path)
    {
        var full = Path.GetFullPath(path);
        // The drive whose mount point is the longest prefix of the data directory.
        return DriveInfo.GetDrives()
            .Where(d => d.IsReady && full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
            .OrderByDescending(d => d.RootDirectory.FullName.Length)
            .First();
    }
}
