using System.Collections.Immutable;
using System.Text;

namespace KruxOS.Actors.Policy;

/// <summary>
/// Reads a node's policy directory: every <c>*.yaml</c>/<c>*.yml</c> file at the top level and in
/// <c>agents/</c>, keyed by its path relative to the directory (<c>org.yaml</c>, <c>agents/bot.yaml</c>).
/// Hidden files (editor swap files, the temporary files of atomic writes) and other names (backups such as
/// <c>org.yaml.bak-…</c>) are skipped; misplaced <c>.yaml</c> files are passed on so the compiler names them.
/// Plain blocking I/O: call it off the actor thread.
/// </summary>
public static class PolicyDirectory
{
    /// <summary>The subdirectory of per-agent files.</summary>
    public const string AgentsFolder = "agents";

    /// <summary>The files, by relative path; empty when the directory does not exist.</summary>
    public static ImmutableSortedDictionary<string, string> Read(string directory)
    {
        var files = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (!Directory.Exists(directory)) return files.ToImmutable();
        Add(files, directory, "");
        var agents = Path.Combine(directory, AgentsFolder);
        if (Directory.Exists(agents)) Add(files, agents, AgentsFolder + "/");
        return files.ToImmutable();
    }

    /// <summary>
    /// The file's text, read as UTF-8 up to one byte past <paramref name="maxBytes"/>: a larger file (or a link to
    /// <c>/dev/zero</c>) is never read whole, and what was read is still larger than the limit, so the compiler rejects
    /// it as too large (<c>limit_exceeded</c>).
    /// </summary>
    public static string ReadBounded(string path, int maxBytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        using var text = new MemoryStream();
        var chunk = new byte[16 * 1024];
        // A device or a file that grows while read reports no useful length: read in chunks up to the cap.
        while (text.Length <= maxBytes && stream.Read(chunk, 0, (int)Math.Min(chunk.Length, maxBytes + 1 - text.Length)) is var n and > 0)
            text.Write(chunk, 0, n);
        return new UTF8Encoding(false).GetString(text.GetBuffer(), 0, (int)text.Length).TrimStart('\uFEFF');
    }

    /// <summary>True for names the directory reader picks up.</summary>
    public static bool IsPolicyFileName(string name) =>
        !name.StartsWith('.') && (name.EndsWith(".yaml", StringComparison.Ordinal) || name.EndsWith(".yml", StringComparison.Ordinal));

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="text"/> atomically (write a hidden temporary file in
    /// the same directory, then rename), so the reloader never reads a half-written policy.
    /// </summary>
    public static void WriteAtomically(string path, string text)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) KruxOS.Sandbox.PrivateFiles.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.tmp-{Guid.NewGuid():N}");
        try
        {
            // Private from the first byte (0600), like every store in the data directory.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = KruxOS.Sandbox.PrivateFiles.FileMode;
            using (var stream = new FileStream(temp, options))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(false))) writer.Write(text);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static void Add(ImmutableSortedDictionary<string, string>.Builder files, string directory, string prefix)
    {
        foreach (var path in Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(path);
            if (!IsPolicyFileName(name)) continue;
            try { files[prefix + name] = ReadBounded(path, Core.Policy.YamlLimits.Policy.MaxBytes); }
            catch (FileNotFoundException) { /* removed between listing and reading: the next scan sees the final state */ }
        }
    }
}
