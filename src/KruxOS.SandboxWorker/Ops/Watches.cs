using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// filesystem.watch: inotify watches (through FileSystemWatcher) whose events are pushed to the
/// gateway as unsolicited <c>watch</c> frames. Watches live as long as the worker. The worker's own atomic
/// writes (temp file + rename) are reported as one <c>create</c> (new file) or <c>modify</c> (replaced file)
/// of the target: the temp file is an implementation detail no watcher sees.
/// </summary>
internal sealed class Watches(PathResolver paths, AtomicWrites atomicWrites, Func<JsonObject, Task> publish)
{
    /// <summary>The capability this class executes (ending a watch, <c>filesystem.unwatch</c>, is the gateway's own operation).</summary>
    public const string Capability = "filesystem.watch";

    public const int MaxWatches = 32;
    private static readonly string[] AllTypes = ["create", "modify", "delete", "rename"];
    private readonly ConcurrentDictionary<string, FileSystemWatcher> _watches = new();

    public JsonObject Add(JsonElement a)
    {
        var p = paths.Resolve(Args.Str(a, "path"));
        if (File.Exists(p.Real)) throw FsErrors.NotADirectory(p.Virtual);
        if (!Directory.Exists(p.Real)) throw FsErrors.DirectoryNotFound(p.Virtual);
        if (_watches.Count >= MaxWatches)
            throw FsErrors.Custom("TooManyWatches", $"At most {MaxWatches} watches may be active per agent", "remove_watch",
                "Stop a watch you no longer need, or watch a common parent recursively.", null, ("limit", MaxWatches));
        var types = Args.StrArray(a, "event_types");
        if (types.Length == 0) types = AllTypes;
        foreach (var t in types)
            if (!AllTypes.Contains(t)) throw FsErrors.InvalidInput("event_types", "each must be create, modify, delete or rename");
        var glob = Args.OptStr(a, "pattern") is { } g ? Glob.Parse(g) : null;
        var recursive = Args.Bool(a, "recursive");
        var id = "w-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var watcher = new FileSystemWatcher(p.Real)
        {
            IncludeSubdirectories = recursive,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        void Emit(string type, string fullPath, string? oldPath)
        {
            if (!types.Contains(type)) return;
            var rel = Path.GetRelativePath(p.Real, fullPath).Replace('\\', '/');
            if (glob is not null && !glob.IsMatch(rel)) return;
            var evt = new JsonObject
            {
                ["watch_id"] = id,
                ["event_type"] = type,
                ["path"] = p.Virtual + "/" + rel,
                ["old_path"] = oldPath is null ? null : p.Virtual + "/" + Path.GetRelativePath(p.Real, oldPath).Replace('\\', '/'),
                ["timestamp"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            };
            _ = publish(evt);
        }
        static bool Internal(string fullPath) => AtomicWrites.IsTempName(Path.GetFileName(fullPath));
        watcher.Created += (_, e) => { if (!Internal(e.FullPath)) Emit("create", e.FullPath, null); };
        watcher.Changed += (_, e) => { if (!Internal(e.FullPath)) Emit("modify", e.FullPath, null); };
        watcher.Deleted += (_, e) => { if (!Internal(e.FullPath)) Emit("delete", e.FullPath, null); };
        watcher.Renamed += (_, e) =>
        {
            if (Internal(e.FullPath)) return;
            if (Internal(e.OldFullPath)) Emit(atomicWrites.Replaced(e.OldFullPath) ? "modify" : "create", e.FullPath, null);
            else Emit("rename", e.FullPath, e.OldFullPath);
        };
        watcher.EnableRaisingEvents = true;
        _watches[id] = watcher;
        return new JsonObject { ["watch_id"] = id, ["path"] = p.Virtual, ["recursive"] = recursive, ["event_types"] = new JsonArray([.. types.Select(t => (JsonNode)t!)]) };
    }

    public JsonObject Remove(JsonElement a)
    {
        var id = Args.Str(a, "watch_id");
        if (!_watches.TryRemove(id, out var w))
            throw FsErrors.Custom("WatchNotFound", $"No active watch '{id}'", "list_watches", "Watches end when the sandbox restarts; create it again.", "filesystem.watch", ("watch_id", id));
        w.Dispose();
        return new JsonObject { ["watch_id"] = id, ["removed"] = true };
    }
}
