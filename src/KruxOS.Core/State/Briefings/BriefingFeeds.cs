using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Policy;

namespace KruxOS.Core.State.Briefings;

/// <summary>
/// A policy revision put in force on a node: when, and which layers (<c>system</c>, <c>org</c>, <c>user</c>,
/// <c>agent:&lt;name&gt;</c>) differ from the revision before it. <paramref name="Initial"/> marks the first revision a
/// node loaded after it started: it is what was already in force, not an update.
/// </summary>
public sealed record PolicyRevisionRecord(string Revision, DateTimeOffset AppliedAt, ImmutableArray<string> Layers, bool Initial);

/// <summary>
/// The pure rules of the briefing feeds (ADR 0057): what a successful sandboxed call changed in the agent's workspace,
/// how a process exit is named, which policy layers a reload changed and which updates concern an agent, and the
/// bounded rings every feed is kept in.
/// </summary>
public static class BriefingFeedRules
{
    /// <summary>Most file changes kept per agent (oldest dropped first).</summary>
    public const int MaxFileChangesPerAgent = 256;

    /// <summary>Most process events kept per agent (oldest dropped first).</summary>
    public const int MaxProcessEventsPerAgent = 256;

    /// <summary>Most policy revisions kept per node (oldest dropped first).</summary>
    public const int MaxPolicyRevisions = 128;

    /// <summary>Longest path recorded (longer ones are cut, with a marker): a feed entry never grows with what an agent chose.</summary>
    public const int MaxPathChars = 1024;

    /// <summary>The capabilities whose success changes the workspace, and the change each records.</summary>
    public static readonly ImmutableDictionary<string, string> ChangingCapabilities = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["filesystem.write"] = "written",
        ["filesystem.edit"] = "edited",
        ["filesystem.append"] = "appended",
        ["filesystem.delete"] = "deleted",
        ["filesystem.move"] = "moved",
        ["filesystem.copy"] = "copied",
        ["filesystem.restore"] = "restored",
    }.ToImmutableDictionary(StringComparer.Ordinal);

    /// <summary>
    /// The workspace change a <em>successful</em> call of <paramref name="capability"/> made, or null when it changed
    /// nothing (another capability, an edit preview). The path is the argument the gateway validated and the policy decided
    /// on (the destination for move and copy); only a restore names the place the sandbox reports, as its argument may be
    /// a trash id. Never read from the workspace itself.
    /// </summary>
    public static BriefingFileChange? FileChangeOf(string capability, JsonElement arguments, JsonElement result, DateTimeOffset at)
    {
        if (!ChangingCapabilities.TryGetValue(capability ?? string.Empty, out var change)) return null;
        if (capability == "filesystem.edit")
        {
            if (Flag(arguments, "dry_run")) return null;
            if (Text(result, "applied") == "preview") return null;
            if (result.ValueKind == JsonValueKind.Object && result.TryGetProperty("files_changed", out var n) && n.TryGetInt64(out var changed) && changed == 0)
                return null;
        }
        var path = capability switch
        {
            "filesystem.move" or "filesystem.copy" => Text(arguments, "destination"),
            "filesystem.restore" => Text(result, "restored_path") ?? Text(arguments, "destination") ?? Text(arguments, "path"),
            _ => Text(arguments, "path"),
        };
        return new BriefingFileChange(Bound(path ?? "(unknown)"), change, at);
    }

    /// <summary>
    /// The briefing event of a process's end, from the state the sandbox host set (never from the process):
    /// <c>completed</c> → <c>exited</c> (with its exit code), <c>killed</c>, <c>timed_out</c>. Null for a process still running.
    /// </summary>
    public static BriefingProcessEvent? ProcessEventOf(string processId, string state, int? exitCode, DateTimeOffset at) => state switch
    {
        "completed" => new BriefingProcessEvent(processId, "exited", exitCode, at),
        "killed" => new BriefingProcessEvent(processId, "killed", null, at),
        "timed_out" => new BriefingProcessEvent(processId, "timed_out", null, at),
        _ => null,
    };

    /// <summary>
    /// The layers that differ between two sets of policy files (relative path → content fingerprint): a file added,
    /// removed or changed marks its layer. Sorted, each once.
    /// </summary>
    public static ImmutableArray<string> ChangedLayers(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var layers = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (path, hash) in after)
            if (!before.TryGetValue(path, out var old) || old != hash) layers.Add(PolicyCompiler.LayerNameOf(path));
        foreach (var path in before.Keys)
            if (!after.ContainsKey(path)) layers.Add(PolicyCompiler.LayerNameOf(path));
        return [.. layers];
    }

    /// <summary>
    /// The policy updates an agent is told about: revisions put in force after the node started (not the initial load)
    /// that changed a layer applying to it — <c>system</c>, <c>org</c>, or its own <c>agent:&lt;name&gt;</c> file. A change
    /// only to another agent's file (or to <c>user.yaml</c>, which governs user tokens) is not the agent's business.
    /// </summary>
    public static ImmutableArray<BriefingPolicyUpdate> UpdatesFor(IEnumerable<PolicyRevisionRecord> revisions, string agent)
    {
        ArgumentNullException.ThrowIfNull(revisions);
        var own = "agent:" + agent;
        return [.. revisions
            .Where(r => !r.Initial && r.Layers.Any(l => l is "system" or "org" || l == own))
            .Select(r => new BriefingPolicyUpdate(r.Revision, r.AppliedAt,
                [.. r.Layers.Where(l => l is "system" or "org" || l == own)]))];
    }

    /// <summary><paramref name="ring"/> with <paramref name="item"/> appended, keeping the newest <paramref name="max"/>.</summary>
    public static ImmutableArray<T> Append<T>(ImmutableArray<T> ring, T item, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        var current = ring.IsDefault ? [] : ring;
        return current.Length < max ? current.Add(item) : current.RemoveRange(0, current.Length - max + 1).Add(item);
    }

    private static string Bound(string path) => path.Length <= MaxPathChars ? path : path[..(MaxPathChars - 1)] + "…";

    private static string? Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool Flag(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
}
