using System.Collections.Immutable;
using System.Text.Json.Serialization;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.State.Shared;

/// <summary>Every message to a shared-state partition names its partition (routing reads only this).</summary>
public interface ISharedStateMessage : IKruxMessage
{
    /// <summary>The partition entity that handles the message.</summary>
    int Partition { get; }
}

/// <summary>A change, decided by <see cref="SharedPartitionExtensions.ProcessCommand"/>.</summary>
public interface ISharedStateCommand : ISharedStateMessage;

/// <summary>A read, answered by <see cref="SharedPartitionExtensions.Query"/>.</summary>
public interface ISharedStateQuery : ISharedStateMessage;

/// <summary>Commands of a shared-state partition.</summary>
public static class SharedStateCommands
{
    /// <summary>
    /// <c>state.shared.set</c> with optimistic locking: <paramref name="ExpectedVersion"/> 0 creates (refused when
    /// the key exists), otherwise it must equal the current version.
    /// </summary>
    [WireName("state.shared.set.v1")]
    public sealed record SetShared(string Key, StoredJson Value, long ExpectedVersion, Principal Writer) : ISharedStateCommand
    {
        /// <inheritdoc />
        [JsonIgnore]
        public int Partition => SharedStatePartitions.Of(Key);
    }

    /// <summary><c>state.shared.delete</c>.</summary>
    [WireName("state.shared.delete.v1")]
    public sealed record DeleteShared(string Key, Principal By) : ISharedStateCommand
    {
        /// <inheritdoc />
        [JsonIgnore]
        public int Partition => SharedStatePartitions.Of(Key);
    }

    /// <summary>The quota ledger answered a grant request (<see cref="SharedQuotaReplies.GrantReply"/>): adopt its record when it is newer.</summary>
    [WireName("state.shared.adopt-grant.v1")]
    public sealed record AdoptGrant(SharedQuotaReplies.GrantReply Reply) : ISharedStateCommand
    {
        /// <inheritdoc />
        [JsonIgnore]
        public int Partition => Reply.Partition;
    }

    /// <summary>Give back unused grant when the partition holds more slack than it may keep (sent by the partition to itself after a change).</summary>
    [WireName("state.shared.release-slack.v1")]
    public sealed record ReleaseSlack(int Partition) : ISharedStateCommand;
}

/// <summary>Queries of a shared-state partition.</summary>
public static class SharedStateQueries
{
    /// <summary><c>state.shared.get</c>.</summary>
    [WireName("state.shared.get.v1")]
    public sealed record GetShared(string Key) : ISharedStateQuery
    {
        /// <inheritdoc />
        [JsonIgnore]
        public int Partition => SharedStatePartitions.Of(Key);
    }

    /// <summary>One partition's part of <c>state.shared.list</c> (the caller merges all partitions with <see cref="SharedStateListing.Merge"/>).</summary>
    [WireName("state.shared.list.v1")]
    public sealed record ListShared(int Partition, string? Prefix = null) : ISharedStateQuery;

    /// <summary>One partition's statistics (snapshots, health).</summary>
    [WireName("state.shared.partition-usage.v1")]
    public sealed record GetPartitionUsage(int Partition) : ISharedStateQuery;

    /// <summary>Every live key of the partition with its value, for a backup (answered with <see cref="SharedStateReplies.PartitionExport"/>).</summary>
    [WireName("state.shared.export.v1")]
    public sealed record ExportPartition(int Partition) : ISharedStateQuery;
}

/// <summary>Persisted events of a shared-state partition; each carries the time it was decided.</summary>
public interface ISharedStateEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The events.</summary>
public static class SharedStateEvents
{
    /// <summary>Version <paramref name="Version"/> of <paramref name="Key"/> was written by <paramref name="Writer"/> (the new <c>owner_agent</c>).</summary>
    [WireName("state.shared.value-set.v1")]
    public sealed record ValueSet(string Key, long Version, StoredJson Value, Principal Writer, DateTimeOffset At) : ISharedStateEvent;

    /// <summary>
    /// The key was deleted at <paramref name="LastVersion"/>; a tombstone keeps that version so a re-created key
    /// continues from it (no version is ever reused while the tombstone lives).
    /// <paramref name="EvictedTombstone"/> is the oldest tombstone dropped to keep their number bounded.
    /// </summary>
    [WireName("state.shared.key-deleted.v1")]
    public sealed record KeyDeleted(string Key, long LastVersion, Principal By, string? EvictedTombstone, DateTimeOffset At) : ISharedStateEvent;

    /// <summary>The partition now holds <paramref name="Granted"/> bytes of the global quota, as agreed with the ledger under sequence <paramref name="Seq"/>.</summary>
    [WireName("state.shared.grant-changed.v1")]
    public sealed record GrantChanged(long Granted, long Seq, DateTimeOffset At) : ISharedStateEvent;
}

/// <summary>The output records of <c>state.shared.*</c> (spec §8.15 with snake_case names), and the partition's instructions to its actor.</summary>
public static class SharedStateReplies
{
    /// <summary><c>value, version (0 if absent), found, owner_agent (last writer), updated_at</c>.</summary>
    [WireName("state.shared.get-result.v1")]
    public sealed record GetResult(StoredJson Value, long Version, bool Found, string? OwnerAgent, DateTimeOffset? UpdatedAt) : IStateReply;

    /// <summary><c>version</c>.</summary>
    [WireName("state.shared.set-result.v1")]
    public sealed record SetResult(long Version) : IStateReply;

    /// <summary><c>deleted</c>.</summary>
    [WireName("state.shared.delete-result.v1")]
    public sealed record DeleteResult(bool Deleted) : IStateReply;

    /// <summary>One key of a listing; <paramref name="SizeBytes"/> is its quota charge.</summary>
    public sealed record ListEntry(string Key, long Version, long SizeBytes, string OwnerAgent, DateTimeOffset UpdatedAt);

    /// <summary><c>entries[]{key, version, size_bytes, owner_agent, updated_at}, count, total_size_bytes</c>; keys in ordinal order.</summary>
    [WireName("state.shared.list-result.v1")]
    public sealed record ListResult(ImmutableArray<ListEntry> Entries, int Count, long TotalSizeBytes) : IStateReply;

    /// <summary><c>subscription_id</c> of <c>state.shared.watch</c>.</summary>
    [WireName("state.shared.watch-result.v1")]
    public sealed record WatchResult(string SubscriptionId) : IStateReply;

    /// <summary>A partition's statistics.</summary>
    [WireName("state.shared.partition-usage-result.v1")]
    public sealed record PartitionUsage(int Partition, int Keys, long UsedBytes, long GrantedBytes, int Tombstones) : IStateReply;

    /// <summary>A partition's live keys with their values, ordinal order (<see cref="SharedStateQueries.ExportPartition"/>).</summary>
    [WireName("state.shared.export-result.v1")]
    public sealed record PartitionExport(int Partition, ImmutableArray<SharedEntry> Entries) : IStateReply;

    /// <summary>The partition's grant after an <see cref="SharedStateCommands.AdoptGrant"/> that needed no further step.</summary>
    [WireName("state.shared.grant-state.v1")]
    public sealed record GrantState(long Granted, long Seq) : IStateReply;

    /// <summary>
    /// Not an answer for the caller: the write does not fit in the partition's grant. The actor keeps the
    /// command, sends <paramref name="Request"/> to the quota ledger, adopts the reply and decides the command
    /// again; if the ledger refused, the caller gets <see cref="SharedQuotaLedgerExtensions.QuotaRefusal"/>.
    /// </summary>
    [WireName("state.shared.grant-needed.v1")]
    public sealed record GrantNeeded(SharedQuotaCommands.RequestGrant Request) : IStateReply;

    /// <summary>
    /// Not an answer for the caller: the partition lowered its own grant (persist the events first, if any), and
    /// the actor now tells the ledger with <paramref name="Request"/> (a lost message is repaired by the next
    /// exchange or by the reconcile after recovery).
    /// </summary>
    [WireName("state.shared.grant-released.v1")]
    public sealed record GrantReleased(SharedQuotaCommands.ReleaseGrant Request) : IStateReply;
}

/// <summary>What a shared-state change looks like to watchers.</summary>
public enum SharedChangeKind
{
    /// <summary>A new version was written.</summary>
    Set,
    /// <summary>The key was deleted.</summary>
    Deleted,
}

/// <summary>
/// A change of a shared key, published by its partition after the event is persisted; every node's
/// watch registry matches it against its own sessions' watches. Carries no value (the watcher reads it
/// with <c>state.shared.get</c>; values may be large and the watcher may no longer be allowed to read).
/// </summary>
/// <param name="Key">The key.</param>
/// <param name="Version">The new version, or the last version before a delete.</param>
/// <param name="Change">What happened.</param>
/// <param name="OwnerAgent">Who did it (<see cref="PrincipalText.Of"/>).</param>
/// <param name="At">When.</param>
[WireName("state.shared.change.v1")]
public sealed record SharedStateChange(string Key, long Version, SharedChangeKind Change, string OwnerAgent, DateTimeOffset At) : IKruxMessage
{
    /// <summary>The change an event makes visible; null for events watchers do not see (grant changes).</summary>
    public static SharedStateChange? From(ISharedStateEvent evt) => evt switch
    {
        SharedStateEvents.ValueSet e => new SharedStateChange(e.Key, e.Version, SharedChangeKind.Set, PrincipalText.Of(e.Writer), e.At),
        SharedStateEvents.KeyDeleted e => new SharedStateChange(e.Key, e.LastVersion, SharedChangeKind.Deleted, PrincipalText.Of(e.By), e.At),
        _ => null,
    };
}

