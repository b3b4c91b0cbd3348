using System.Globalization;
using System.Text.Json.Nodes;

namespace KruxOS.Sandbox.Trash;

/// <summary>One item in an agent's trash, read from its sidecar <c>meta.json</c>.</summary>
public sealed record TrashItem(string Agent, string TrashId, string OriginalPath, string Type, long Size, DateTimeOffset DeletedAt, DateTimeOffset RecoverableUntil);

/// <summary>
/// Lists and expires trash items (<c>&lt;data&gt;/trash/&lt;agent&gt;/&lt;id&gt;/{item,meta.json}</c>).
/// The gateway runs <see cref="Cleanup"/> hourly; <c>kruxos trash list / cleanup --dry-run</c> use the same functions.
/// </summary>
public static class TrashCleaner
{
    /// <summary>Every readable trash item under a data directory.</summary>
    public static IReadOnlyList<TrashItem> List(string dataDirectory)
    {
        var root = Path.Combine(dataDirectory, "trash");
        var items = new List<TrashItem>();
        if (!Directory.Exists(root)) return items;
        foreach (var agentDir in Directory.EnumerateDirectories(root))
            foreach (var slot in Directory.EnumerateDirectories(agentDir))
            {
                try
                {
                    if (JsonNode.Parse(File.ReadAllText(Path.Combine(slot, "meta.json"))) is not JsonObject m) continue;
                    items.Add(new TrashItem(Path.GetFileName(agentDir), (string)m["trash_id"]!, (string)m["original_path"]!, (string)m["type"]!,
                        (long?)m["size"] ?? 0,
                        DateTimeOffset.Parse((string)m["deleted_at"]!, CultureInfo.InvariantCulture),
                        DateTimeOffset.Parse((string)m["recoverable_until"]!, CultureInfo.InvariantCulture)));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or FormatException or InvalidOperationException) { }
            }
        return items;
    }

    /// <summary>Deletes items whose retention ended before <paramref name="now"/>; returns them. With <paramref name="dryRun"/> nothing is deleted.</summary>
    public static IReadOnlyList<TrashItem> Cleanup(string dataDirectory, DateTimeOffset now, bool dryRun = false)
    {
        var expired = List(dataDirectory).Where(i => i.RecoverableUntil <= now).ToList();
        if (dryRun) return expired;
        foreach (var item in expired)
        {
            // Directory.Delete removes symlinks as links and never follows them.
            try { Directory.Delete(Path.Combine(dataDirectory, "trash", item.Agent, item.TrashId), recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return expired;
    }
}
