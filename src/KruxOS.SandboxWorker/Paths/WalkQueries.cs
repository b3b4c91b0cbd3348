using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Policy;
using KruxOS.SandboxWorker.Ops;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Paths;

/// <summary>
/// <c>paths.walk</c>: every entry a tree-walking call would reach, as canonical agent paths, for the gateway to decide
/// entry by entry (ADR 0028). The walk is the operation's own (<see cref="Walker"/>: never into a linked directory),
/// hidden entries and default exclusions included, so what the operation then reaches is a subset. For a walk that
/// writes below another argument (a directory copy or move), the entry it would write there is listed as well. An edit lists the
/// files its glob selects, and the directories it only passes through (<c>passed_through</c>).
/// </summary>
internal static class WalkQueries
{
    /// <summary>Lists <c>{entries: [{argument, path}]}</c> for <c>{capability, arguments}</c>.</summary>
    public static JsonNode Entries(PathResolver paths, JsonElement args)
    {
        var capability = args.TryGetProperty("capability", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : string.Empty;
        if (!args.TryGetProperty("arguments", out var arguments) || arguments.ValueKind != JsonValueKind.Object)
            throw FsErrors.InvalidInput("arguments", "must be the call's arguments");
        var shape = WalkPolicy.ShapeOf(capability, arguments) ?? throw FsErrors.InvalidInput("capability", $"'{capability}' walks no tree");
        var entries = new JsonArray();
        // A move takes a final link as itself (the link is renamed, not what it points to): only a real directory is walked.
        var move = capability == "filesystem.move";
        var root = paths.Resolve(Args.Str(arguments, shape.Argument), followFinal: !move);
        if (!Directory.Exists(root.Real) || (move && new DirectoryInfo(root.Real).LinkTarget is not null)) return new JsonObject { ["entries"] = entries };
        var written = shape.Written is { } w && w != shape.Argument ? paths.Resolve(Args.Str(arguments, w), followFinal: false) : null;
        // An edit opens only the files its glob selects; the directories on the way are only passed through.
        var glob = capability == "filesystem.edit" ? Glob.Parse(Args.Str(arguments, "include_glob")) : null;
        foreach (var (entry, rel) in Walker.Walk(root.Real, includeHidden: true))
        {
            var passedThrough = glob is not null && entry is DirectoryInfo;
            if (glob is not null && !passedThrough && !(entry is FileInfo && entry.LinkTarget is null && glob.IsMatch(rel))) continue;
            entries.Add(new JsonObject { ["argument"] = shape.Argument, ["path"] = root.Virtual + "/" + rel, ["passed_through"] = passedThrough });
            if (written is not null) entries.Add(new JsonObject { ["argument"] = shape.Written, ["path"] = written.Virtual + "/" + rel, ["passed_through"] = false });
        }
        return new JsonObject { ["entries"] = entries };
    }
}
