using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Trash;

/// <summary>One item in an agent's trash.</summary>
/// <param name="Agent">The agent, from the name of its trash directory (a valid agent name).</param>
/// <param name="TrashId">The slot's directory name, in the worker's id format; never read from the item's metadata.</param>
/// <param name="OriginalPath">Where the entry was (from metadata; empty when the metadata is unusable).</param>
/// <param name="Type"><c>file</c>, <c>directory</c>, <c>symlink</c>, or <c>invalid</c> when the metadata is unusable.</param>
/// <param name="Size">Bytes of a file.</param>
/// <param name="DeletedAt">When it was deleted.</param>
/// <param name="RecoverableUntil">When it expires.</param>
public sealed record TrashItem(string Agent, string TrashId, string OriginalPath, string Type, long Size, DateTimeOffset DeletedAt, DateTimeOffset RecoverableUntil);

/// <summary>
/// Lists and expires trash items (<c>&lt;data&gt;/trash/&lt;agent&gt;/&lt;id&gt;/{item,meta.json}</c>). The gateway runs
/// <see cref="Cleanup"/> hourly as root, on directories the agent's worker writes: so nothing found there is
/// trusted. Agent and slot names must have their strict formats (the id is the directory's name, never the
/// <c>trash_id</c> in <c>meta.json</c>); metadata is read without following symlinks and size-limited; and
/// deletion descends fd by fd without following a symlink or leaving the file system (<see cref="SafeTree"/>).
/// </summary>
public static partial class TrashCleaner
{
    /// <summary>Largest <c>meta.json</c> read (the worker writes a few hundred bytes).</summary>
    public const int MaxMetaBytes = 16 * 1024;

    /// <summary>How long a slot with unusable metadata is kept after the time in its id.</summary>
    public static readonly TimeSpan OrphanRetention = TimeSpan.FromDays(7);

    /// <summary>Every trash item under a data directory (agents and slots with invalid names are ignored).</summary>
    public static IReadOnlyList<TrashItem> List(string dataDirectory)
    {
        var items = new List<TrashItem>();
        using var root = SafeTree.OpenTrusted(Path.Combine(dataDirectory, "trash"));
        if (root is null) return items;
        foreach (var agent in SafeTree.Names(root.Value))
        {
            if (!Core.Agents.AgentName.TryParse(agent, out _, out _)) continue;
            using var agentDir = SafeTree.OpenDirectory(root.Value, agent, anyDevice: true);
            if (agentDir is null) continue;
            foreach (var slot in SafeTree.Names(agentDir.Value))
                if (Read(agentDir.Value, agent, slot) is { } item) items.Add(item);
        }
        return items;
    }

    /// <summary>Deletes items whose retention ended before <paramref name="now"/>; returns them. With <paramref name="dryRun"/> nothing is deleted.</summary>
    public static IReadOnlyList<TrashItem> Cleanup(string dataDirectory, DateTimeOffset now, bool dryRun = false)
    {
        var expired = new List<TrashItem>();
        using var root = SafeTree.OpenTrusted(Path.Combine(dataDirectory, "trash"));
        if (root is null) return expired;
        foreach (var agent in SafeTree.Names(root.Value))
        {
            if (!Core.Agents.AgentName.TryParse(agent, out _, out _)) continue;
            using var agentDir = SafeTree.OpenDirectory(root.Value, agent, anyDevice: true);
            if (agentDir is null) continue;
            foreach (var slot in SafeTree.Names(agentDir.Value))
            {
                if (Read(agentDir.Value, agent, slot) is not { } item || item.RecoverableUntil > now) continue;
                if (dryRun || SafeTree.Delete(agentDir.Value, slot)) expired.Add(item);
            }
        }
        return expired;
    }

    /// <summary>Whether <paramref name="id"/> has the worker's trash id format (<c>yyyyMMddTHHmmssZ-xxxxxxxx</c>).</summary>
    public static bool IsTrashId(string id) => TrashId().IsMatch(id) && IdTime(id) is not null;

    private static DateTimeOffset? IdTime(string id) =>
        DateTimeOffset.TryParseExact(id[..16], "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;

    private static TrashItem? Read(int agentFd, string agent, string slot)
    {
        if (!IsTrashId(slot) || SafeTree.Stat(agentFd, slot) is not { IsDirectory: true }) return null;
        var idTime = IdTime(slot)!.Value;
        using var slotDir = SafeTree.OpenDirectory(agentFd, slot);
        if (slotDir is null) return null;
        var bytes = SafeTree.ReadSmallFile(slotDir.Value, "meta.json", MaxMetaBytes);
        return (bytes is null ? null : Parse(agent, slot, bytes))
            ?? new TrashItem(agent, slot, string.Empty, "invalid", 0, idTime, idTime + OrphanRetention);
    }

    private static TrashItem? Parse(string agent, string slot, byte[] bytes)
    {
        try
        {
            if (JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { MaxDepth = 4 }) is not JsonObject m) return null;
            if (m["original_path"] is not JsonValue op || !op.TryGetValue<string>(out var original) || original.Length > 4096) return null;
            if (m["type"] is not JsonValue tv || !tv.TryGetValue<string>(out var type) || type is not ("file" or "directory" or "symlink")) return null;
            long size = 0;
            if (m["size"] is JsonValue sv && (!sv.TryGetValue(out size) || size < 0)) return null;
            if (!TryTime(m["deleted_at"], out var deleted) || !TryTime(m["recoverable_until"], out var until)) return null;
            return new TrashItem(agent, slot, original, type, size, deleted, until);
        }
        catch (JsonException) { return null; }
    }

    private static bool TryTime(JsonNode? node, out DateTimeOffset value)
    {
        value = default;
        return node is JsonValue v && v.TryGetValue<string>(out var s)
            && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out value);
    }

    [GeneratedRegex("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$", RegexOptions.CultureInvariant)]
    private static partial Regex TrashId();
}
