using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Policy;

/// <summary>How a capability walks a tree: the argument naming the tree, and whether the walk writes.</summary>
/// <param name="Argument">The path argument whose directory is walked (<c>path</c>, or <c>source</c> for a copy or move).</param>
/// <param name="Written">The argument the walk writes below (<c>destination</c> for a copy or move, <c>path</c> for an edit), or null for a read-only walk.</param>
public sealed record WalkShape(string Argument, string? Written);

/// <summary>
/// Path rules for operations that walk a tree (ADR 0028): a walk is decided on the directory it is given, but it opens
/// every entry below it, so each entry it reaches is decided too — as if the same call named that entry — with the
/// same pure decision (<see cref="PolicyEngine.Decide"/>, on an empty rate ledger: a walk's entries are not calls).
/// An entry is held back when that decision is stricter than the walk's own and needs a human or is blocked: a rule on
/// <c>/workspace/secret</c> then stops a walk of <c>/workspace</c> from reaching it. Notify-only differences hold
/// nothing back. Read-only walks leave such entries out; walks that write are refused before anything is written.
/// </summary>
public static class WalkPolicy
{
    /// <summary>
    /// The walk a call performs, or null when it walks nothing (a single file, a non-walking capability). A move of a
    /// directory renames every entry below it, so it walks <c>source</c> and writes each entry at its new path below
    /// <c>destination</c>; a move of a file or link walks nothing (the sandbox lists no entries for it). A delete is
    /// no walk: it removes only a file, a link or an empty directory (<c>DirectoryNotEmpty</c> otherwise).
    /// </summary>
    public static WalkShape? ShapeOf(string capability, JsonElement arguments) => capability switch
    {
        "filesystem.search" or "filesystem.search_content" or "filesystem.watch" => new WalkShape("path", null),
        "filesystem.copy" or "filesystem.move" => new WalkShape("source", "destination"),
        "filesystem.edit" when arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty("include_glob", out var g)
            && g.ValueKind == JsonValueKind.String => new WalkShape("path", "path"),
        _ => null,
    };

    /// <summary>Whether a path whose own decision has tier <paramref name="entry"/> is held back from a walk decided at <paramref name="walk"/>.</summary>
    public static bool HoldsBack(Tier walk, Tier entry) => entry > walk && entry >= Tier.ApprovalRequired;

    /// <summary>
    /// Decides <paramref name="path"/>, reached by the walk of <paramref name="arguments"/> through argument
    /// <paramref name="argument"/>: null when the walk may open it, else the refusal that names it.
    /// </summary>
    public static StructuredError? Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, string argument, string path,
        PolicySet policies, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(capability);
        ArgumentNullException.ThrowIfNull(path);
        if (arguments.ValueKind != JsonValueKind.Object) return null;
        var walk = PolicyEngine.Decide(principal, capability, arguments, policies, RateState.Empty, now).Decision;
        var entry = PolicyEngine.Decide(principal, capability, WithPath(arguments, argument, path), policies, RateState.Empty, now).Decision;
        if (!HoldsBack(walk.Tier, entry.Tier)) return null;
        var why = entry.Tier == Tier.Blocked ? entry.Reason : $"it needs approval on its own ({entry.Reason}); name it in a call of its own";
        return Errors.Errors.PolicyDenied(capability.Name, entry.RuleReference, $"'{path}' lies below the walked directory and {why}")
            .WithContext("path", path).WithContext("argument", argument);
    }

    /// <summary>The arguments with <paramref name="argument"/> set to <paramref name="path"/> (everything else as given).</summary>
    public static JsonElement WithPath(JsonElement arguments, string argument, string path)
    {
        var copy = JsonNode.Parse(arguments.GetRawText())!.AsObject();
        copy[argument] = path;
        return JsonSerializer.SerializeToElement(copy);
    }
}
