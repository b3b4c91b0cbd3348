using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;

namespace KruxOS.Core.State.Backups;

/// <summary>One write a restore makes, or the write that puts a part back (ADR 0060).</summary>
public abstract record RestoreStep
{
    /// <summary>The part it writes, as an operator reads it: <c>persistent state of a</c>, <c>shared key k</c>.</summary>
    public abstract string Part { get; }
}

/// <summary>An agent's whole persistent state becomes <paramref name="Snapshot"/> (one event of its entity).</summary>
/// <param name="Snapshot">The state to hold.</param>
/// <param name="PutBack">True when <paramref name="Snapshot"/> is the pre-image read from the entity before the restore.</param>
public sealed record ReplaceAgentState(PersistentStateSnapshot Snapshot, bool PutBack) : RestoreStep
{
    /// <inheritdoc />
    public override string Part => "persistent state of " + Snapshot.Agent.Value;
}

/// <summary>A shared key holds <paramref name="Value"/> written by <paramref name="Writer"/>, as a new version.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">Its value.</param>
/// <param name="Writer">Its owner (last writer) afterwards.</param>
/// <param name="ExpectedVersion">The version the key is believed to have (0: absent); null when unknown (read first).</param>
public sealed record WriteSharedKey(string Key, StoredJson Value, Principal Writer, long? ExpectedVersion) : RestoreStep
{
    /// <inheritdoc />
    public override string Part => "shared key " + Key;
}

/// <summary>A shared key does not exist (deleting an absent key is done already).</summary>
/// <param name="Key">The key.</param>
public sealed record DeleteSharedKey(string Key) : RestoreStep
{
    /// <inheritdoc />
    public override string Part => "shared key " + Key;
}

/// <summary>A write of a restore and the write that undoes it, from the pre-image taken before the first write.</summary>
/// <param name="Forward">What the restore writes.</param>
/// <param name="Undo">What puts the part back as it was before the restore.</param>
public sealed record PlannedWrite(RestoreStep Forward, RestoreStep Undo);

/// <summary>
/// Pure decisions of an all-or-nothing restore (ADR 0060): the writes in order, each with the write that undoes it from the
/// pre-image (each chosen agent's persistent state as its entity exported it, the shared keys as they were); which writes to
/// undo after a failure; and the errors that say what happened.
/// </summary>
public static class RestorePlans
{
    /// <summary>
    /// The writes of a restore: each chosen agent's state replaced (undo: its pre-image, put back), then, when
    /// <paramref name="shared"/> is restored, every shared key absent from the backup deleted (undo: written back with its old
    /// value and owner) and every backed-up key written (undo: its old value and owner, or deleted when it did not exist).
    /// </summary>
    /// <param name="agents">The chosen agents' states from the backup, in restore order.</param>
    /// <param name="preImages">Each chosen agent's state as its entity held it before the first write.</param>
    /// <param name="shared">Whether shared state is restored.</param>
    /// <param name="backedUp">The backup's shared keys.</param>
    /// <param name="current">Every live shared key before the first write.</param>
    public static ImmutableArray<PlannedWrite> Build(IReadOnlyList<PersistentStateSnapshot> agents,
        IReadOnlyDictionary<string, PersistentStateSnapshot> preImages, bool shared,
        IReadOnlyList<BackedUpSharedEntry> backedUp, IReadOnlyList<SharedEntry> current)
    {
        ArgumentNullException.ThrowIfNull(agents);
        ArgumentNullException.ThrowIfNull(preImages);
        ArgumentNullException.ThrowIfNull(backedUp);
        ArgumentNullException.ThrowIfNull(current);
        var plan = ImmutableArray.CreateBuilder<PlannedWrite>();
        foreach (var a in agents)
        {
            if (!preImages.TryGetValue(a.Agent.Value, out var before) || before.Agent != a.Agent)
                throw new ArgumentException($"no pre-image of the persistent state of '{a.Agent}'", nameof(preImages));
            plan.Add(new PlannedWrite(new ReplaceAgentState(a, PutBack: false), new ReplaceAgentState(before, PutBack: true)));
        }
        if (!shared) return plan.ToImmutable();
        var old = new Dictionary<string, SharedEntry>(StringComparer.Ordinal);
        foreach (var e in current) old[e.Key] = e;
        var wanted = backedUp.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in current.Where(e => !wanted.Contains(e.Key)).OrderBy(e => e.Key, StringComparer.Ordinal))
            plan.Add(new PlannedWrite(new DeleteSharedKey(gone.Key), new WriteSharedKey(gone.Key, gone.Value, gone.Writer, null)));
        foreach (var e in backedUp)
        {
            var undo = old.TryGetValue(e.Key, out var was)
                ? (RestoreStep)new WriteSharedKey(e.Key, was.Value, was.Writer, null)
                : new DeleteSharedKey(e.Key);
            plan.Add(new PlannedWrite(new WriteSharedKey(e.Key, e.Value, e.Writer, was?.Version ?? 0), undo));
        }
        return plan.ToImmutable();
    }

    /// <summary>
    /// What to put back after the restore failed at write <paramref name="failedAt"/> (0-based): every write before it and,
    /// when the failure leaves open whether that write landed (a timeout, an exception, a cancellation, an answer that is not
    /// a refusal), that write too. Newest first, so each part ends as its pre-image.
    /// </summary>
    public static ImmutableArray<RestoreStep> Undo(ImmutableArray<PlannedWrite> plan, int failedAt, bool failedWriteMayHaveLanded)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(failedAt);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(failedAt, plan.Length);
        var written = Math.Min(plan.Length, failedWriteMayHaveLanded ? failedAt + 1 : failedAt);
        return [.. plan.Take(written).Reverse().Select(p => p.Undo)];
    }

    /// <summary>
    /// Whether a refusal of a write leaves open whether it landed: a <c>Timeout</c> (the answer, not the write, may be what was
    /// lost). Every other refusal of a state entity is decided before anything is persisted.
    /// </summary>
    public static bool MayHaveLanded(StructuredError refusal)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        return refusal.ErrorType == "Timeout";
    }

    /// <summary>
    /// The restore failed and every part it had written is back as it was: one error, of the cause's type, saying nothing was
    /// restored.
    /// </summary>
    public static StructuredError NothingRestored(string backupId, StructuredError cause, string failedPart, IReadOnlyCollection<string> putBack)
    {
        ArgumentNullException.ThrowIfNull(cause);
        ArgumentNullException.ThrowIfNull(putBack);
        var back = putBack.Count == 0 ? "nothing had been written" : $"the {putBack.Count} part(s) already written were put back";
        var error = cause with
        {
            Message = $"Backup '{backupId}' was not restored: writing the {failedPart} failed ({cause.Message}). Nothing was restored: {back}.",
        };
        return error
            .WithContext("backup_id", backupId)
            .WithContext("failed_part", failedPart)
            .WithContext("restored", false)
            .WithContext("parts_put_back", putBack.ToArray());
    }

    /// <summary>
    /// The restore failed and some parts it had written could not be put back: the state is mixed. Never claimed atomic:
    /// <c>RestoreIncomplete</c> names those parts (a critical system alert says the same).
    /// </summary>
    public static StructuredError PutBackFailed(string backupId, StructuredError cause, string failedPart, IReadOnlyCollection<string> notPutBack)
    {
        ArgumentNullException.ThrowIfNull(cause);
        ArgumentNullException.ThrowIfNull(notPutBack);
        return StructuredError.Create("RestoreIncomplete",
                $"Backup '{backupId}' was not restored: writing the {failedPart} failed ({cause.Message}), and putting back what it had already " +
                $"written failed for: {string.Join(", ", notPutBack)}. Those parts may hold the backup's state; every other part is as it was before the restore.")
            .WithRecovery("retry_restore", "Restart the gateway: it puts these parts back from the undo log kept on disk (no restore starts until then); then run the restore again.")
            .WithRecovery("check_service_status", "Check the gateway's health and its critical alerts.", "system.health")
            .WithContext("backup_id", backupId)
            .WithContext("failed_part", failedPart)
            .WithContext("cause", cause.ErrorType)
            .WithContext("restored", false)
            .WithContext("parts_not_put_back", notPutBack.ToArray());
    }
}
