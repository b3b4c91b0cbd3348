using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.State.Persistent;

/// <summary>Every message to an agent's persistent state names the agent (routing reads only this).</summary>
public interface IPersistentStateMessage : IWithAgentName, IKruxMessage;

/// <summary>A change, decided by <see cref="PersistentStateExtensions.ProcessCommand"/>.</summary>
public interface IPersistentStateCommand : IPersistentStateMessage;

/// <summary>A read, answered by <see cref="PersistentStateExtensions.Query"/> (never persisted).</summary>
public interface IPersistentStateQuery : IPersistentStateMessage;

/// <summary>Commands of <c>state.persistent.*</c>. Values arrive already canonical (<see cref="StoredJson.TryCreate"/>); the time is the caller's clock passed to <c>ProcessCommand</c>.</summary>
public static class PersistentStateCommands
{
    /// <summary><c>state.persistent.set</c>: a new version of <paramref name="Key"/>.</summary>
    [WireName("state.persistent.set.v1")]
    public sealed record SetValue(AgentName Agent, string Key, StoredJson Value) : IPersistentStateCommand;

    /// <summary><c>state.persistent.delete</c>: the key and every retained version.</summary>
    [WireName("state.persistent.delete.v1")]
    public sealed record DeleteKey(AgentName Agent, string Key) : IPersistentStateCommand;

    /// <summary>
    /// A backup restore (<c>state.backup.restore</c>): the agent's whole state becomes <paramref name="Snapshot"/> (every key
    /// with its retained versions, as backed up), atomically, or nothing changes (invalid, another agent's, over the quota).
    /// <paramref name="PutBack"/>: the snapshot is the state this entity exported before a restore that then failed elsewhere
    /// (ADR 0060); it goes back as it was, so the limits in force (a quota lowered since it was written) do not refuse it.
    /// Only the gateway's backup service sends it, with a snapshot it read from this entity; it is still checked as a snapshot.
    /// </summary>
    [WireName("state.persistent.restore.v1")]
    public sealed record RestoreState(AgentName Agent, PersistentStateSnapshot Snapshot, bool PutBack = false) : IPersistentStateCommand;
}

/// <summary>Queries of <c>state.persistent.*</c>.</summary>
public static class PersistentStateQueries
{
    /// <summary><c>state.persistent.get</c>: the latest version, or <paramref name="Version"/>.</summary>
    [WireName("state.persistent.get.v1")]
    public sealed record GetValue(AgentName Agent, string Key, long? Version = null) : IPersistentStateQuery;

    /// <summary><c>state.persistent.list</c>: keys, versions and sizes (no values).</summary>
    [WireName("state.persistent.list.v1")]
    public sealed record ListKeys(AgentName Agent, string? Prefix = null) : IPersistentStateQuery;

    /// <summary><c>state.persistent.query</c>: latest values of every key with the prefix.</summary>
    [WireName("state.persistent.query.v1")]
    public sealed record QueryPrefix(AgentName Agent, string Prefix) : IPersistentStateQuery;

    /// <summary><c>state.persistent.history</c>: retained versions, newest first, at most <paramref name="Limit"/>.</summary>
    [WireName("state.persistent.history.v1")]
    public sealed record GetHistory(AgentName Agent, string Key, int? Limit = null) : IPersistentStateQuery;

    /// <summary>The agent's quota use (<c>agent.session</c>'s <c>state_quota</c>, the operator's <c>kruxos state quota</c>).</summary>
    [WireName("state.persistent.usage.v1")]
    public sealed record GetUsage(AgentName Agent) : IPersistentStateQuery;

    /// <summary>The whole state as stored, for a backup (answered with <see cref="PersistentStateReplies.ExportResult"/>).</summary>
    [WireName("state.persistent.export.v1")]
    public sealed record ExportState(AgentName Agent) : IPersistentStateQuery;
}

/// <summary>Persisted events of an agent's persistent state. Each carries the time it was decided.</summary>
public interface IPersistentStateEvent : IKruxMessage
{
    /// <summary>The key concerned.</summary>
    string Key { get; }

    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The events.</summary>
public static class PersistentStateEvents
{
    /// <summary>
    /// Version <paramref name="Version"/> of <paramref name="Key"/> was written. Versions older than
    /// <paramref name="OldestRetained"/> are dropped (decided when the command was processed, so replay does
    /// not depend on the configured retention).
    /// </summary>
    [WireName("state.persistent.value-set.v1")]
    public sealed record ValueSet(string Key, long Version, StoredJson Value, long OldestRetained, DateTimeOffset At) : IPersistentStateEvent;

    /// <summary>The key and all its versions were deleted; <paramref name="LastVersion"/> was the latest.</summary>
    [WireName("state.persistent.key-deleted.v1")]
    public sealed record KeyDeleted(string Key, long LastVersion, DateTimeOffset At) : IPersistentStateEvent;

    /// <summary>
    /// The whole state was replaced by a backup's (<see cref="PersistentStateCommands.RestoreState"/>); checked when it was
    /// decided. <see cref="IPersistentStateEvent.Key"/> is empty: it concerns every key.
    /// </summary>
    [WireName("state.persistent.restored.v1")]
    public sealed record StateRestored(PersistentStateSnapshot Snapshot, DateTimeOffset At) : IPersistentStateEvent
    {
        /// <inheritdoc />
        [System.Text.Json.Serialization.JsonIgnore]
        public string Key => string.Empty;
    }
}

/// <summary>The output records of <c>state.persistent.*</c>, shaped exactly as spec §8.15 once written with snake_case names.</summary>
public static class PersistentStateReplies
{
    /// <summary><c>value, version, found, created_at, updated_at</c>. An absent key reads as <c>null</c>, version 0, not found.</summary>
    [WireName("state.persistent.get-result.v1")]
    public sealed record GetResult(StoredJson Value, long Version, bool Found, DateTimeOffset? CreatedAt, DateTimeOffset? UpdatedAt) : IStateReply;

    /// <summary><c>version, previous_version</c> (0 when the key was new).</summary>
    [WireName("state.persistent.set-result.v1")]
    public sealed record SetResult(long Version, long PreviousVersion) : IStateReply;

    /// <summary><c>deleted</c>.</summary>
    [WireName("state.persistent.delete-result.v1")]
    public sealed record DeleteResult(bool Deleted) : IStateReply;

    /// <summary>One key of a listing. <paramref name="SizeBytes"/> is what the key is charged against the quota (<see cref="StateAccounting"/>: the key and every retained version).</summary>
    public sealed record ListEntry(string Key, long Version, long SizeBytes, DateTimeOffset UpdatedAt);

    /// <summary><c>entries[]{key, version, size_bytes, updated_at}, count, total_size_bytes</c>; keys in ordinal order.</summary>
    [WireName("state.persistent.list-result.v1")]
    public sealed record ListResult(ImmutableArray<ListEntry> Entries, int Count, long TotalSizeBytes) : IStateReply;

    /// <summary>One key of a query with its latest value.</summary>
    public sealed record QueryEntry(string Key, StoredJson Value, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

    /// <summary><c>entries[]{key, value, version, created_at, updated_at}, count</c>; keys in ordinal order.</summary>
    [WireName("state.persistent.query-result.v1")]
    public sealed record QueryResult(ImmutableArray<QueryEntry> Entries, int Count) : IStateReply;

    /// <summary>One retained version. <c>created_at</c> is when the key was created, <c>updated_at</c> when this version was written.</summary>
    public sealed record HistoryEntry(StoredJson Value, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

    /// <summary><c>versions[]{value, version, created_at, updated_at}</c> newest first, <c>count</c>.</summary>
    [WireName("state.persistent.history-result.v1")]
    public sealed record HistoryResult(ImmutableArray<HistoryEntry> Versions, int Count) : IStateReply;

    /// <summary>Quota use: <c>used_bytes, limit_bytes, percent</c> (as <c>agent.session</c>'s <c>state_quota</c>) and the number of keys.</summary>
    [WireName("state.persistent.usage-result.v1")]
    public sealed record UsageResult(long UsedBytes, long LimitBytes, double Percent, int Keys) : IStateReply;

    /// <summary>The state as stored (<see cref="PersistentStateQueries.ExportState"/>).</summary>
    [WireName("state.persistent.export-result.v1")]
    public sealed record ExportResult(PersistentStateSnapshot Snapshot) : IStateReply;

    /// <summary>A restore was applied: the keys and the bytes now charged.</summary>
    [WireName("state.persistent.restore-result.v1")]
    public sealed record RestoreResult(int Keys, long UsedBytes) : IStateReply;
}
