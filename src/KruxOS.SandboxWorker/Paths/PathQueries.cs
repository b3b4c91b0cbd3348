using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Paths;

/// <summary>
/// <c>paths.resolve</c>: the canonical paths a call's path arguments will really be opened at, for the gateway to decide
/// its policy on (ADR 0023). Each argument is resolved exactly as the operation resolves it — following a final
/// symbolic link, or not for the arguments that act on a link itself (<see cref="FollowsFinal"/>) — so the decision is
/// made on the path the operation then opens. A path that leaves the workspace and mounts is <c>PathOutOfScope</c>.
/// </summary>
internal static class PathQueries
{
    // (capability, argument) pairs whose operation acts on a final symbolic link itself instead of its target.
    private static readonly HashSet<(string, string)> OnTheLink =
    [
        ("filesystem.delete", "path"), ("filesystem.stat", "path"),
        ("filesystem.move", "source"), ("filesystem.move", "destination"),
        ("filesystem.copy", "destination"),
        ("filesystem.restore", "path"), ("filesystem.restore", "destination"),
    ];

    /// <summary>Whether the operation of <paramref name="capability"/> follows a final symbolic link in <paramref name="argument"/>.</summary>
    public static bool FollowsFinal(string capability, string argument) => !OnTheLink.Contains((capability, argument));

    /// <summary>Resolves <c>{capability, paths: {argument: path}}</c> into <c>{paths: {argument: canonical path}}</c>.</summary>
    public static JsonNode Resolve(PathResolver paths, JsonElement args)
    {
        var capability = args.TryGetProperty("capability", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
        if (!args.TryGetProperty("paths", out var requested) || requested.ValueKind != JsonValueKind.Object)
            throw FsErrors.InvalidInput("paths", "must be an object of argument names and paths");
        var resolved = new JsonObject();
        foreach (var p in requested.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw FsErrors.InvalidInput(p.Name, "must be a path");
            resolved[p.Name] = paths.Resolve(p.Value.GetString()!, FollowsFinal(capability, p.Name)).Virtual;
        }
        return new JsonObject { ["paths"] = resolved };
    }
}
