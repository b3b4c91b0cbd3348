namespace KruxOS.CliHook;

/// <summary>
/// Places a host path from a hook event in the gateway's path space. The client's working directory is the
/// workspace root: a path under it becomes workspace-relative (the gateway resolves relative paths against
/// <c>/workspace</c>), the directory itself becomes <c>.</c>, and any other path stays absolute (normalised),
/// so policy sees exactly where outside the project the tool would reach. Purely lexical; nothing is read
/// from the disk.
/// </summary>
public static class WorkspacePaths
{
    /// <summary>Maps <paramref name="path"/> (absolute, or relative to <paramref name="cwd"/>) to a workspace path.</summary>
    public static string ToWorkspace(string path, string cwd)
    {
        var root = Normalize(cwd);
        var full = Normalize(path.StartsWith('/') ? path : root + "/" + path);
        if (full == root) return ".";
        if (root == "/") return full[1..];
        return full.StartsWith(root + "/", StringComparison.Ordinal) ? full[(root.Length + 1)..] : full;
    }

    /// <summary>Collapses repeated <c>/</c>, drops <c>.</c> and resolves <c>..</c> (never above <c>/</c>).</summary>
    public static string Normalize(string absolute)
    {
        var parts = new List<string>();
        foreach (var segment in absolute.Split('/'))
        {
            if (segment.Length == 0 || segment == ".") continue;
            if (segment == "..")
            {
                if (parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(segment);
        }
        return "/" + string.Join('/', parts);
    }
}
