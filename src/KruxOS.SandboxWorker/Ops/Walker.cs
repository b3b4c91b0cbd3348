namespace KruxOS.SandboxWorker.Ops;

/// <summary>Depth-first walk that never descends into symlinked directories (no loops, no escapes).</summary>
internal static class Walker
{
    private static readonly HashSet<string> DefaultExcluded = new(StringComparer.Ordinal) { ".git", "node_modules", ".venv", "__pycache__" };

    private static readonly AsyncLocal<IReadOnlySet<string>?> AllowedEntries = new();

    /// <summary>
    /// The real paths a walk of the current request may reach, or null for no restriction. Set by the host for a request
    /// whose walk the gateway decided entry by entry (ADR 0028): an entry outside the set — held back by a path rule, or
    /// one that appeared after the decision — is neither yielded nor descended into.
    /// </summary>
    public static IReadOnlySet<string>? Allowed
    {
        get => AllowedEntries.Value;
        set => AllowedEntries.Value = value;
    }

    /// <summary>Yields (entry, path relative to <paramref name="root"/>) for every descendant.</summary>
    public static IEnumerable<(FileSystemInfo Entry, string Relative)> Walk(string root, bool includeHidden, bool defaultExclusions = false) =>
        Walk(root, includeHidden, defaultExclusions, Allowed);

    /// <summary>
    /// For an operation that acts on a whole tree at once (a directory move renames everything below it): the first
    /// entry below <paramref name="root"/> that the gateway did not decide — one that appeared after the listing — or
    /// null when every entry was decided or the request carries no decision.
    /// </summary>
    public static string? FirstUndecided(string root)
    {
        var allowed = Allowed;
        if (allowed is null) return null;
        foreach (var (entry, _) in Walk(root, includeHidden: true, defaultExclusions: false, allowed: null))
            if (!allowed.Contains(entry.FullName)) return entry.FullName;
        return null;
    }

    private static IEnumerable<(FileSystemInfo Entry, string Relative)> Walk(string root, bool includeHidden, bool defaultExclusions, IReadOnlySet<string>? allowed)
    {
        var stack = new Stack<(string Dir, string Rel)>();
        stack.Push((root, string.Empty));
        while (stack.Count > 0)
        {
            var (dir, rel) = stack.Pop();
            FileSystemInfo[] entries;
            try { entries = new DirectoryInfo(dir).GetFileSystemInfos(); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { continue; }
            foreach (var entry in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                if (!includeHidden && entry.Name.StartsWith('.')) continue;
                if (defaultExclusions && DefaultExcluded.Contains(entry.Name)) continue;
                if (allowed is not null && !allowed.Contains(entry.FullName)) continue;
                var childRel = rel.Length == 0 ? entry.Name : rel + "/" + entry.Name;
                yield return (entry, childRel);
                if (entry is DirectoryInfo && entry.LinkTarget is null) stack.Push((entry.FullName, childRel));
            }
        }
    }
}
