using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using static KruxOS.Core.State.Shared.SharedQuotaCommands;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateEvents;
using static KruxOS.Core.State.Shared.SharedStateQueries;
using static KruxOS.Core.State.Shared.SharedStateReplies;

namespace KruxOS.Core.State.Shared;

/// <summary>Limits of shared state.</summary>
/// <param name="QuotaBytes">The global quota across all partitions (<see cref="StateAccounting"/>). Default 500 MiB.</param>
/// <param name="MaxValueBytes">Largest value. Default 1 MiB.</param>
/// <param name="MaxResultBytes">Largest <c>list</c> reply. Default 8 MiB.</param>
/// <param name="GrantChunkBytes">
/// Slack a partition asks for on top of what a write needs, so most writes need no ledger round trip; a
/// partition gives back slack above twice this. Near the limit up to
/// <see cref="SharedStatePartitions.Count"/> × 2 × this may sit unused in other partitions' grants, so a
/// write can be refused that much early — never late. Default 64 KiB (at most 8 MiB of 500).
/// </param>
/// <param name="MaxTombstones">Deleted keys remembered per partition for version continuity. Default 4,096.</param>
public sealed record SharedStateLimits(long QuotaBytes, int MaxValueBytes, long MaxResultBytes, long GrantChunkBytes, int MaxTombstones)
{
    /// <summary>500 MiB, 1 MiB values, 8 MiB replies, 64 KiB grant chunks, 4,096 tombstones per partition.</summary>
    public static readonly SharedStateLimits Default = new(500 * StateAccounting.MiB, (int)StateAccounting.MiB, 8 * StateAccounting.MiB, 64 * 1024, 4096);

    /// <summary>Throws when a limit is out of range.</summary>
    public SharedStateLimits Validated()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QuotaBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxValueBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxResultBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(GrantChunkBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTombstones);
        return this;
    }
}

/// <summary>A shared key's current value.</summary>
/// <param name="Key">The key.</param>
/// <param name="Version">Its version.</param>
/// <param name="Value">The value.</param>
/// <param name="Writer">The last writer (<c>owner_agent</c>).</param>
/// <param name="UpdatedAt">When this version was written.</param>
public sealed record SharedEntry(string Key, long Version, StoredJson Value, Principal Writer, DateTimeOffset UpdatedAt)
{
    /// <summary>What the key costs against the quota (key and value).</summary>
    public long Charge() => StateAccounting.KeyCharge(Key) + StateAccounting.ValueCharge(Value);
}

/// <summary>A deleted key's last version, so a re-created key continues from it (no ABA for optimistic writers).</summary>
public sealed record SharedTombstone(string Key, long LastVersion, DateTimeOffset DeletedAt);

/// <summary>A partition's snapshot (the whole state); quota use is recomputed on load.</summary>
[WireName("state.shared.snapshot.v1")]
public sealed record SharedPartitionSnapshot(int Partition, ImmutableArray<SharedEntry> Entries, ImmutableArray<SharedTombstone> Tombstones,
    long Granted, long GrantSeq) : IKruxMessage;

/// <summary>
/// One shared-state partition (entity <c>state-shared-{n}</c>): the keys that hash to it, their tombstones,
/// and the share of the global quota it holds (<see cref="Granted"/>, agreed with
/// <see cref="SharedQuotaLedger"/> under <see cref="GrantSeq"/>). Changed only through
/// <see cref="SharedPartitionExtensions.ProcessCommand"/> / <see cref="SharedPartitionExtensions.Apply"/>.
/// </summary>
public sealed class SharedPartitionState
{
    internal SharedPartitionState(int partition, ImmutableSortedDictionary<string, SharedEntry> entries,
        ImmutableSortedDictionary<string, SharedTombstone> tombstones, long usedBytes, long granted, long grantSeq)
    {
        Partition = partition;
        Entries = entries;
        Tombstones = tombstones;
        UsedBytes = usedBytes;
        Granted = granted;
        GrantSeq = grantSeq;
    }

    /// <summary>The partition number.</summary>
    public int Partition { get; }

    /// <summary>Live keys, ordinal order.</summary>
    public ImmutableSortedDictionary<string, SharedEntry> Entries { get; }

    /// <summary>Deleted keys' last versions, ordinal order.</summary>
    public ImmutableSortedDictionary<string, SharedTombstone> Tombstones { get; }

    /// <summary>Bytes charged by the live keys.</summary>
    public long UsedBytes { get; }

    /// <summary>Bytes of the global quota this partition may charge.</summary>
    public long Granted { get; }

    /// <summary>The sequence number of the grant exchange that set <see cref="Granted"/>.</summary>
    public long GrantSeq { get; }

    /// <summary>An empty partition.</summary>
    public static SharedPartitionState Empty(int partition) =>
        SharedStatePartitions.IsValid(partition)
            ? new(partition, ImmutableSortedDictionary.Create<string, SharedEntry>(StringComparer.Ordinal),
                ImmutableSortedDictionary.Create<string, SharedTombstone>(StringComparer.Ordinal), 0, 0, 0)
            : throw new ArgumentOutOfRangeException(nameof(partition));

    internal SharedPartitionState With(ImmutableSortedDictionary<string, SharedEntry>? entries = null,
        ImmutableSortedDictionary<string, SharedTombstone>? tombstones = null, long? usedBytes = null, long? granted = null, long? grantSeq = null) =>
        new(Partition, entries ?? Entries, tombstones ?? Tombstones, usedBytes ?? UsedBytes, granted ?? Granted, grantSeq ?? GrantSeq);

    /// <summary>The snapshot to store.</summary>
    public SharedPartitionSnapshot ToSnapshot() => new(Partition, [.. Entries.Values], [.. Tombstones.Values], Granted, GrantSeq);

    /// <summary>Loads a snapshot, checking every key and recomputing quota use; throws <see cref="InvalidDataException"/> when damaged.</summary>
    public static SharedPartitionState FromSnapshot(SharedPartitionSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var state = Empty(snapshot.Partition);
        var entries = state.Entries.ToBuilder();
        var tombstones = state.Tombstones.ToBuilder();
        long used = 0;
        foreach (var e in snapshot.Entries.IsDefault ? [] : snapshot.Entries)
        {
            if (StateKeys.Validate(e.Key) is not null || SharedStatePartitions.Of(e.Key) != snapshot.Partition || e.Version < 1 || !entries.TryAdd(e.Key, e))
                throw new InvalidDataException($"shared state snapshot of partition {snapshot.Partition} holds an invalid entry");
            used += e.Charge();
        }
        foreach (var t in snapshot.Tombstones.IsDefault ? [] : snapshot.Tombstones)
            if (StateKeys.Validate(t.Key) is not null || entries.ContainsKey(t.Key) || !tombstones.TryAdd(t.Key, t))
                throw new InvalidDataException($"shared state snapshot of partition {snapshot.Partition} holds an invalid tombstone");
        if (snapshot.Granted < 0 || snapshot.GrantSeq < 0)
            throw new InvalidDataException($"shared state snapshot of partition {snapshot.Partition} holds an invalid grant");
        return state.With(entries.ToImmutable(), tombstones.ToImmutable(), used, snapshot.Granted, snapshot.GrantSeq);
    }
}

/// <summary>The pure functions of a shared-state partition.</summary>
public static class SharedPartitionExtensions
{
    private const int ReplyEntryOverhead = 200;

    /// <summary>
    /// Decides a command. Besides the callers' replies, two replies are instructions to the actor:
    /// <see cref="GrantNeeded"/> (ask the ledger, then decide the command again) and
    /// <see cref="GrantReleased"/> (persist the events, then tell the ledger).
    /// </summary>
    public static (IStateReply Reply, ImmutableArray<ISharedStateEvent> Events) ProcessCommand(
        this SharedPartitionState state, ISharedStateCommand command, DateTimeOffset now, SharedStateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (command.Partition != state.Partition)
            return Refuse(Errors.Errors.InvalidInput("key", "the command was routed to the wrong shared-state partition"));
        switch (command)
        {
            case SetShared c:
            {
                if (StateKeys.Validate(c.Key) is { } bad) return Refuse(bad);
                if (c.ExpectedVersion < 0) return Refuse(Errors.Errors.InvalidInput("expected_version", "must be 0 (create) or the current version"));
                if (c.Value.ByteCount > limits.MaxValueBytes)
                    return Refuse(Errors.Errors.InvalidInput("value", $"is larger than {limits.MaxValueBytes} bytes as canonical JSON"));
                state.Entries.TryGetValue(c.Key, out var current);
                var actual = current?.Version ?? 0;
                if (c.ExpectedVersion != actual) return Refuse(StateErrors.VersionConflict(c.Key, c.ExpectedVersion, actual));
                var required = state.UsedBytes - (current?.Charge() ?? 0) + StateAccounting.KeyCharge(c.Key) + StateAccounting.ValueCharge(c.Value);
                if (required > state.Granted && required > state.UsedBytes)
                    return (new GrantNeeded(new RequestGrant(state.Partition, state.GrantSeq, required, required + limits.GrantChunkBytes)), []);
                var version = current is not null
                    ? current.Version + 1
                    : (state.Tombstones.TryGetValue(c.Key, out var tomb) ? tomb.LastVersion : 0) + 1;
                return (new SetResult(version), [new ValueSet(c.Key, version, c.Value, c.Writer, now)]);
            }
            case DeleteShared c:
            {
                if (StateKeys.Validate(c.Key) is { } bad) return Refuse(bad);
                if (!state.Entries.TryGetValue(c.Key, out var current)) return Refuse(StateErrors.KeyNotFound("shared", c.Key));
                string? evicted = null;
                if (state.Tombstones.Count >= limits.MaxTombstones)
                    evicted = state.Tombstones.Values.OrderBy(t => t.DeletedAt).ThenBy(t => t.Key, StringComparer.Ordinal).First().Key;
                return (new DeleteResult(true), [new KeyDeleted(c.Key, current.Version, c.By, evicted, now)]);
            }
            case AdoptGrant c:
            {
                var r = c.Reply;
                if (r.Partition != state.Partition) return Refuse(Errors.Errors.InvalidInput("partition", "the grant is for another partition"));
                // The ledger's record is newer: its figure is counted there, so it is safe to hold.
                if (r.Seq > state.GrantSeq) return (new GrantState(r.Granted, r.Seq), [new GrantChanged(r.Granted, r.Seq, now)]);
                // The ledger missed this partition's last release (the message was lost): tell it again.
                if (r.Seq < state.GrantSeq) return (new GrantReleased(new ReleaseGrant(state.Partition, state.GrantSeq, state.Granted)), []);
                // Same sequence, different figures: after a restart the partition released under a sequence number the
                // ledger had already used for an increase it never heard of. The lower figure is the safe one.
                if (r.Granted < state.Granted) return (new GrantState(r.Granted, r.Seq), [new GrantChanged(r.Granted, r.Seq, now)]);
                if (r.Granted > state.Granted)
                {
                    var seq = state.GrantSeq + 1;
                    return (new GrantReleased(new ReleaseGrant(state.Partition, seq, state.Granted)), [new GrantChanged(state.Granted, seq, now)]);
                }
                return (new GrantState(state.Granted, state.GrantSeq), []);
            }
            case ReleaseSlack:
            {
                var keep = state.UsedBytes + limits.GrantChunkBytes;
                if (state.Granted - state.UsedBytes <= 2 * limits.GrantChunkBytes) return (new GrantState(state.Granted, state.GrantSeq), []);
                var seq = state.GrantSeq + 1;
                return (new GrantReleased(new ReleaseGrant(state.Partition, seq, keep)), [new GrantChanged(keep, seq, now)]);
            }
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>
    /// What the partition tells the ledger after recovery: its current record. The ledger answers with its own
    /// record when that is newer (an increase this partition never heard of — the partition adopts it), or
    /// lowers its record to this one (a release whose message was lost).
    /// </summary>
    public static ReleaseGrant Reconcile(this SharedPartitionState state) => new(state.Partition, state.GrantSeq, state.Granted);

    /// <summary>Answers a query.</summary>
    public static IStateReply Query(this SharedPartitionState state, ISharedStateQuery query, SharedStateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(limits);
        if (query.Partition != state.Partition)
            return new StateRefused(Errors.Errors.InvalidInput("key", "the query was routed to the wrong shared-state partition"));
        switch (query)
        {
            case GetShared q:
                if (StateKeys.Validate(q.Key) is { } bad) return new StateRefused(bad);
                return state.Entries.TryGetValue(q.Key, out var e)
                    ? new GetResult(e.Value, e.Version, true, PrincipalText.Of(e.Writer), e.UpdatedAt)
                    : new GetResult(StoredJson.Null, 0, false, null, null);
            case ListShared q:
            {
                if (StateKeys.ValidatePrefix(q.Prefix) is { } badPrefix) return new StateRefused(badPrefix);
                var entries = ImmutableArray.CreateBuilder<ListEntry>();
                long total = 0, size = 0;
                foreach (var entry in state.Entries.Values)
                {
                    if (!StateKeys.Matches(entry.Key, q.Prefix)) continue;
                    var charge = entry.Charge();
                    entries.Add(new ListEntry(entry.Key, entry.Version, charge, PrincipalText.Of(entry.Writer), entry.UpdatedAt));
                    total += charge;
                    size += StateKeys.ByteCount(entry.Key) + ReplyEntryOverhead;
                }
                if (size > limits.MaxResultBytes)
                    return new StateRefused(StateErrors.ResultTooLarge("state.shared.list", limits.MaxResultBytes, size, "List with a longer prefix."));
                return new ListResult(entries.ToImmutable(), entries.Count, total);
            }
            case GetPartitionUsage:
                return new PartitionUsage(state.Partition, state.Entries.Count, state.UsedBytes, state.Granted, state.Tombstones.Count);
            case ExportPartition:
                return new PartitionExport(state.Partition, [.. state.Entries.Values]);
            default:
                return new StateRefused(Errors.Errors.InvalidInput("query", $"unknown query {query.GetType().Name}"));
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock or the configuration.</summary>
    public static SharedPartitionState Apply(this SharedPartitionState state, ISharedStateEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt)
        {
            case ValueSet e:
            {
                state.Entries.TryGetValue(e.Key, out var before);
                var entry = new SharedEntry(e.Key, e.Version, e.Value, e.Writer, e.At);
                return state.With(state.Entries.SetItem(e.Key, entry), state.Tombstones.Remove(e.Key),
                    state.UsedBytes - (before?.Charge() ?? 0) + entry.Charge());
            }
            case KeyDeleted e:
            {
                if (!state.Entries.TryGetValue(e.Key, out var before)) return state;
                var tombstones = e.EvictedTombstone is { } evicted ? state.Tombstones.Remove(evicted) : state.Tombstones;
                return state.With(state.Entries.Remove(e.Key), tombstones.SetItem(e.Key, new SharedTombstone(e.Key, e.LastVersion, e.At)),
                    state.UsedBytes - before.Charge());
            }
            case GrantChanged e:
                return state.With(granted: e.Granted, grantSeq: e.Seq);
            default:
                return state;
        }
    }

    /// <summary>Applies events in order.</summary>
    public static SharedPartitionState ApplyAll(this SharedPartitionState state, IEnumerable<ISharedStateEvent> events) =>
        events.Aggregate(state, (s, e) => s.Apply(e));

    private static (IStateReply, ImmutableArray<ISharedStateEvent>) Refuse(Errors.StructuredError error) => (new StateRefused(error), []);
}

/// <summary>Merges the partitions' parts of <c>state.shared.list</c> into the one reply.</summary>
public static class SharedStateListing
{
    /// <summary>Entries of every part in ordinal key order, with the count and total; refused when the merged reply would be too large.</summary>
    public static IStateReply Merge(IEnumerable<IStateReply> parts, SharedStateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentNullException.ThrowIfNull(limits);
        var all = new List<ListEntry>();
        foreach (var part in parts)
        {
            switch (part)
            {
                case StateRefused refused: return refused;
                case ListResult list: all.AddRange(list.Entries); break;
                default: return new StateRefused(Errors.Errors.Internal($"unexpected part of a shared-state listing: {part.GetType().Name}"));
            }
        }
        all.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var size = all.Sum(e => (long)StateKeys.ByteCount(e.Key) + ReplyEntryOverheadBytes);
        if (size > limits.MaxResultBytes)
            return new StateRefused(StateErrors.ResultTooLarge("state.shared.list", limits.MaxResultBytes, size, "List with a longer prefix."));
        return new ListResult([.. all], all.Count, all.Sum(e => e.SizeBytes));
    }

    private const int ReplyEntryOverheadBytes = 200;
}
