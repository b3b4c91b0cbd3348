using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.State.Persistent;

namespace KruxOS.Core.State.Backups;

/// <summary>The first line of a restore's undo log: what it belongs to and how many parts follow.</summary>
/// <param name="Format">Always <see cref="RestoreUndoLog.Format"/>.</param>
/// <param name="BackupId">The backup being restored.</param>
/// <param name="StartedAt">When the restore began writing.</param>
/// <param name="Parts">How many part lines follow.</param>
public sealed record RestoreUndoHeader(string Format, string BackupId, DateTimeOffset StartedAt, int Parts);

/// <summary>
/// One part of a restore's undo log: the write that puts one part back as it was before the restore (its pre-image).
/// Exactly the fields of its <paramref name="Op"/> are set.
/// </summary>
/// <param name="Index">Its 0-based position, in the order of the restore's writes.</param>
/// <param name="Op"><c>replace_agent_state</c>, <c>write_shared_key</c> or <c>delete_shared_key</c>.</param>
/// <param name="State">For <c>replace_agent_state</c>: the agent's persistent state as its entity held it.</param>
/// <param name="Key">For the shared operations: the key.</param>
/// <param name="Value">For <c>write_shared_key</c>: the old value.</param>
/// <param name="Writer">For <c>write_shared_key</c>: the old owner.</param>
public sealed record RestoreUndoPart(int Index, string Op, PersistentStateSnapshot? State, string? Key, StoredJson? Value, Principal? Writer);

/// <summary>The last line of a restore's undo log: the log is whole.</summary>
/// <param name="End">Always <see cref="RestoreUndoLog.EndMark"/>.</param>
/// <param name="Parts">How many part lines came before it.</param>
public sealed record RestoreUndoEnd(string End, int Parts);

/// <summary>
/// Pure rules of the undo log a restore makes durable before its first write (ADR 0060, "Crash during a restore"): the
/// lines it is written as, and the strict reading of a log found at start-up. The log is the gateway's own private file,
/// but it is still read as untrusted: every line must be exactly what <see cref="ToPart"/> writes, in order, with the
/// header first and the end mark last, or the whole log is refused (nothing is put back from a log that is not whole).
/// </summary>
public static class RestoreUndoLog
{
    /// <summary>The header's format tag.</summary>
    public const string Format = "kruxos.restore-undo.v1";

    /// <summary>The end line's mark.</summary>
    public const string EndMark = "end";

    /// <summary>The most parts one log may name (each agent is one part, each shared key at most one).</summary>
    public const int MaxParts = 1_000_000;

    /// <summary>Operation names.</summary>
    public const string ReplaceAgent = "replace_agent_state", WriteShared = "write_shared_key", DeleteShared = "delete_shared_key";

    /// <summary>The header of a log of <paramref name="parts"/> parts.</summary>
    public static RestoreUndoHeader Header(string backupId, DateTimeOffset startedAt, int parts) => new(Format, backupId, startedAt, parts);

    /// <summary>The line of the undo step at <paramref name="index"/>.</summary>
    public static RestoreUndoPart ToPart(int index, RestoreStep undo) => undo switch
    {
        ReplaceAgentState r => new RestoreUndoPart(index, ReplaceAgent, r.Snapshot, null, null, null),
        WriteSharedKey w => new RestoreUndoPart(index, WriteShared, null, w.Key, w.Value, w.Writer),
        DeleteSharedKey d => new RestoreUndoPart(index, DeleteShared, null, d.Key, null, null),
        _ => throw new ArgumentOutOfRangeException(nameof(undo), undo?.GetType().Name, "not a restore step"),
    };

    /// <summary>Null when <paramref name="header"/> is one this gateway writes; else why not.</summary>
    public static string? CheckHeader(RestoreUndoHeader? header)
    {
        if (header is null) return "the first line is not a header";
        if (!string.Equals(header.Format, Format, StringComparison.Ordinal)) return $"unknown format '{Clip(header.Format)}'";
        if (!BackupIds.TryParse(header.BackupId, out _)) return "the header's backup id does not parse";
        if (header.Parts is < 0 or > MaxParts) return $"the header names {header.Parts} parts (0 to {MaxParts})";
        return null;
    }

    /// <summary>
    /// The undo step of a part line expected at <paramref name="index"/>; or why the line is refused. A put-back snapshot is
    /// still checked by its entity as a snapshot (keys, sizes, agent).
    /// </summary>
    public static (RestoreStep? Step, string? Error) FromPart(int index, RestoreUndoPart? part)
    {
        if (part is null) return (null, $"line {index + 2} is not a part");
        if (part.Index != index) return (null, $"part {index} carries index {part.Index}");
        switch (part.Op)
        {
            case ReplaceAgent:
                if (part.State is not { } snapshot || string.IsNullOrEmpty(snapshot.Agent.Value) || snapshot.Keys.IsDefault) return (null, $"part {index}: no agent state");
                if (part.Key is not null || part.Value is not null || part.Writer is not null) return (null, $"part {index}: fields of another operation");
                return (new ReplaceAgentState(snapshot, PutBack: true), null);
            case WriteShared:
                if (StateKeys.Validate(part.Key) is { } badKey) return (null, $"part {index}: {badKey.Message}");
                if (part.Value is null || part.Writer is null || string.IsNullOrEmpty(part.Writer.Name)) return (null, $"part {index}: no value or owner");
                if (part.State is not null) return (null, $"part {index}: fields of another operation");
                return (new WriteSharedKey(part.Key!, part.Value, part.Writer, null), null);
            case DeleteShared:
                if (StateKeys.Validate(part.Key) is { } badDelete) return (null, $"part {index}: {badDelete.Message}");
                if (part.State is not null || part.Value is not null || part.Writer is not null) return (null, $"part {index}: fields of another operation");
                return (new DeleteSharedKey(part.Key!), null);
            default:
                return (null, $"part {index}: unknown operation '{Clip(part.Op)}'");
        }
    }

    /// <summary>Null when <paramref name="end"/> closes a log of <paramref name="parts"/> parts; else why not.</summary>
    public static string? CheckEnd(RestoreUndoEnd? end, int parts)
    {
        if (end is null || !string.Equals(end.End, EndMark, StringComparison.Ordinal)) return "the log has no end line (it is not whole)";
        return end.Parts == parts ? null : $"the end line counts {end.Parts} parts, the header {parts}";
    }

    /// <summary>
    /// What a start-up puts back from a whole log: every part, newest first — the same order <see cref="RestorePlans.Undo"/>
    /// gives when every write may have landed. Parts the interrupted restore had not reached already hold their pre-image;
    /// writing it again leaves them as they are (an agent's state is replaced by itself; a shared key gets its own value and
    /// owner as a new version; deleting an absent key is done already).
    /// </summary>
    public static ImmutableArray<RestoreStep> PutBackOrder(IReadOnlyList<RestoreStep> undo)
    {
        ArgumentNullException.ThrowIfNull(undo);
        return [.. undo.Reverse()];
    }

    private static string Clip(string? text) => text is null ? "" : text.Length <= 64 ? text : text[..64];
}
