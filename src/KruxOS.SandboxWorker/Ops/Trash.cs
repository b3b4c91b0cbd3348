using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// The agent's trash (spec §12.4, §18 row 23): each deleted entry becomes <c>&lt;trash&gt;/&lt;id&gt;/item</c>
/// plus a sidecar <c>meta.json</c> (original path, type, size, deletion time, expiry). The trash is
/// bound into the worker's sandbox only; agent paths can never reach it.
/// </summary>
internal sealed partial class Trash(string dir, PathResolver paths)
{
    /// <summary>The id format (<c>yyyyMMddTHHmmssZ-xxxxxxxx</c>); the gateway's cleaner accepts slots with this name only.</summary>
    [System.Text.RegularExpressions.GeneratedRegex("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex IdFormat();

    public const string MetaFile = "meta.json";
    public const string ItemName = "item";

    public JsonObject Delete(ResolvedPath p, CallContext ctx)
    {
        var info = new FileInfo(p.Real);
        var isLink = info.LinkTarget is not null;
        var isDir = !isLink && Directory.Exists(p.Real);
        if (!isLink && !isDir && !info.Exists) throw FsErrors.NotFound(p.Virtual);
        if (isDir && Directory.EnumerateFileSystemEntries(p.Real).Any()) throw FsErrors.DirectoryNotEmpty(p.Virtual);
        PathResolver.RequireWritable(p, "delete");

        var now = DateTimeOffset.UtcNow;
        var id = now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var until = now.AddHours(ctx.TrashRetentionHours);
        var slot = Path.Combine(dir, id);
        Directory.CreateDirectory(slot);
        var meta = new JsonObject
        {
            ["trash_id"] = id,
            ["original_path"] = p.Virtual,
            ["type"] = isLink ? "symlink" : isDir ? "directory" : "file",
            ["size"] = isLink || isDir ? 0 : info.Length,
            ["link_target"] = isLink ? info.LinkTarget : null,
            ["deleted_at"] = now.ToString("O", CultureInfo.InvariantCulture),
            ["recoverable_until"] = until.ToString("O", CultureInfo.InvariantCulture),
            ["deleted_by"] = ctx.Agent,
        };
        try
        {
            var item = Path.Combine(slot, ItemName);
            if (isLink) File.Delete(p.Real);
            else if (isDir) { Directory.CreateDirectory(item); Directory.Delete(p.Real); }
            else File.Move(p.Real, item); // copies and deletes when the trash is on another mount
            File.WriteAllText(Path.Combine(slot, MetaFile), meta.ToJsonString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(slot);
            throw FsErrors.PermissionDenied(p.Virtual, "delete");
        }
        return new JsonObject
        {
            ["deleted_path"] = p.Virtual,
            ["trash_id"] = id,
            ["trash_path"] = "trash:" + id,
            ["recoverable_until"] = until.ToString("O", CultureInfo.InvariantCulture),
        };
    }

    public JsonObject Restore(string? trashId, string? originalPath, string? destination, bool overwrite)
    {
        if (trashId is null && originalPath is null) throw FsErrors.InvalidInput("trash_id", "give trash_id or path");
        string slot;
        JsonObject meta;
        if (trashId is not null)
        {
            if (!IdFormat().IsMatch(trashId)) throw NotInTrash(trashId);
            slot = Path.Combine(dir, trashId);
            meta = ReadMeta(slot) ?? throw NotInTrash(trashId);
        }
        else
        {
            var wanted = paths.Resolve(originalPath!, followFinal: false).Virtual;
            var found = Directory.Exists(dir)
                ? Directory.EnumerateDirectories(dir).Where(s => IdFormat().IsMatch(Path.GetFileName(s))).Select(s => (Slot: s, Meta: ReadMeta(s)))
                    .Where(x => x.Meta is not null && (string?)x.Meta["original_path"] == wanted)
                    .OrderByDescending(x => (string?)x.Meta!["deleted_at"], StringComparer.Ordinal).FirstOrDefault()
                : default;
            if (found.Meta is null) throw NotInTrash(originalPath!);
            (slot, meta) = (found.Slot, found.Meta);
        }
        var id = (string)meta["trash_id"]!;
        if (DateTimeOffset.Parse((string)meta["recoverable_until"]!, CultureInfo.InvariantCulture) < DateTimeOffset.UtcNow)
            throw NotInTrash(id, "its retention has expired");

        var target = paths.Resolve(destination ?? (string)meta["original_path"]!, followFinal: false);
        PathResolver.RequireWritable(target, "restore to");
        var exists = File.Exists(target.Real) || Directory.Exists(target.Real) || new FileInfo(target.Real).LinkTarget is not null;
        if (exists && !overwrite) throw FsErrors.DestinationExists(target.Virtual);
        var parent = Path.GetDirectoryName(target.Real)!;
        if (!Directory.Exists(parent)) Directory.CreateDirectory(parent);
        var item = Path.Combine(slot, ItemName);
        var type = (string)meta["type"]!;
        switch (type)
        {
            case "symlink":
                if (exists) File.Delete(target.Real);
                File.CreateSymbolicLink(target.Real, (string)meta["link_target"]!);
                break;
            case "directory":
                if (!Directory.Exists(target.Real)) Directory.CreateDirectory(target.Real);
                break;
            default:
                File.Move(item, target.Real, overwrite);
                break;
        }
        TryDelete(slot);
        return new JsonObject { ["restored_path"] = target.Virtual, ["trash_id"] = id, ["type"] = type, ["original_path"] = (string?)meta["original_path"] };
    }

    // Only a metadata file this worker could have written: the fields restore uses, with their types.
    private static JsonObject? ReadMeta(string slot)
    {
        try
        {
            var file = new FileInfo(Path.Combine(slot, MetaFile));
            if (file.LinkTarget is not null || !file.Exists || file.Length > 16 * 1024) return null;
            if (JsonNode.Parse(File.ReadAllText(file.FullName)) is not JsonObject m) return null;
            var type = m["type"] is JsonValue t && t.TryGetValue<string>(out var ts) ? ts : null;
            var ok = type is "file" or "directory" or "symlink"
                && m["trash_id"] is JsonValue id && id.TryGetValue<string>(out var ids) && ids == Path.GetFileName(slot)
                && m["original_path"] is JsonValue op && op.TryGetValue<string>(out _)
                && m["recoverable_until"] is JsonValue ru && ru.TryGetValue<string>(out var rus) && DateTimeOffset.TryParse(rus, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _)
                && (type != "symlink" || (m["link_target"] is JsonValue lt && lt.TryGetValue<string>(out _)));
            return ok ? m : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or InvalidOperationException) { return null; }
    }

    private static WorkerException NotInTrash(string what, string why = "no such item in the trash") =>
        FsErrors.Custom("TrashItemNotFound", $"Cannot restore '{what}': {why}", "check_trash_id",
            "Use the trash_id returned by filesystem.delete; items are kept 24 h (agents) or 168 h (users).", null, ("item", what));

    private static void TryDelete(string slot)
    {
        try { Directory.Delete(slot, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
