using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateEvents;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;
using static KruxOS.Core.State.Persistent.PersistentStateReplies;

namespace KruxOS.Core.State.Persistent;

/// <summary>Limits of one agent's persistent state.</summary>
/// <param name="QuotaBytes">Quota (<see cref="StateAccounting"/>); <c>state.persistent.quota_mb</c>, default 100 MiB.</param>
/// <param name="MaxVersions">Versions kept per key; the oldest is dropped when one more is written. Default 100.</param>
/// <param name="MaxValueBytes">Largest value (canonical JSON). Default 1 MiB.</param>
/// <param name="MaxResultBytes">Largest reply of <c>list</c>, <c>query</c> and <c>history</c>; below the 16 MiB WebSocket frame. Default 8 MiB.</param>
public sealed record PersistentStateLimits(long QuotaBytes, int MaxVersions, int MaxValueBytes, long MaxResultBytes)
{
    /// <summary>100 MiB, 100 versions, 1 MiB values, 8 MiB replies.</summary>
    public static readonly PersistentStateLimits Default = new(100 * StateAccounting.MiB, 100, (int)StateAccounting.MiB, 8 * StateAccounting.MiB);

    /// <summary>Throws when a limit is out of range (configuration is checked at start-up).</summary>
    public PersistentStateLimits Validated()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QuotaBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxVersions);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxValueBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxResultBytes);
        return this;
    }
}

/// <summary>One retained version of a key.</summary>
/// <param name="Version">1 for the first write after the key was created, then +1 per write.</param>
/// <param name="Value">The value.</param>
/// <param name="At">When it was written.</param>
public sealed record PersistentVersion(long Version, StoredJson Value, DateTimeOffset At);

/// <summary>A key and its retained versions, oldest first (never empty).</summary>
/// <param name="Key">The key.</param>
/// <param name="CreatedAt">When the key was created (its first version since it last did not exist).</param>
/// <param name="Versions">Retained versions, oldest first.</param>
public sealed record PersistentKey(string Key, DateTimeOffset CreatedAt, ImmutableArray<PersistentVersion> Versions)
{
    /// <summary>The newest version.</summary>
    public PersistentVersion Latest => Versions[^1];

    /// <summary>What the key costs against the quota: the key and every retained version.</summary>
    public long Charge() => StateAccounting.KeyCharge(Key) + Versions.Sum(v => StateAccounting.ValueCharge(v.Value));
}

/// <summary>
/// The snapshot of an agent's persistent state, as stored (the whole state: keys in ordinal order with
/// their retained versions). Quota use is recomputed when it is loaded, never trusted from storage.
/// </summary>
[WireName("state.persistent.snapshot.v1")]
public sealed record PersistentStateSnapshot(AgentName Agent, ImmutableArray<PersistentKey> Keys) : IKruxMessage;

/// <summary>
/// One agent's persistent state (entity per agent). Changed only through
/// <see cref="PersistentStateExtensions.ProcessCommand"/> / <see cref="PersistentStateExtensions.Apply"/>;
/// keys are kept in ordinal order.
/// </summary>
public sealed class PersistentState
{
    internal PersistentState(AgentName agent, ImmutableSortedDictionary<string, PersistentKey> keys, long usedBytes)
    {
        Agent = agent;
        Keys = keys;
        UsedBytes = usedBytes;
    }

    /// <summary>The owner.</summary>
    public AgentName Agent { get; }

    /// <summary>Keys, ordinal order.</summary>
    public ImmutableSortedDictionary<string, PersistentKey> Keys { get; }

    /// <summary>Bytes charged against the quota (<see cref="StateAccounting"/>).</summary>
    public long UsedBytes { get; }

    /// <summary>An agent with no state.</summary>
    public static PersistentState Empty(AgentName agent) =>
        new(agent, ImmutableSortedDictionary.Create<string, PersistentKey>(StringComparer.Ordinal), 0);

    /// <summary>The snapshot to store.</summary>
    public PersistentStateSnapshot ToSnapshot() => new(Agent, [.. Keys.Values]);

    /// <summary>
    /// Loads a snapshot, checking it as if it came from outside (keys valid and unique, versions present and
    /// increasing) and recomputing quota use. Throws <see cref="InvalidDataException"/> on a damaged snapshot:
    /// recovery fails loudly rather than serve half a state.
    /// </summary>
    public static PersistentState FromSnapshot(PersistentStateSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var keys = ImmutableSortedDictionary.CreateBuilder<string, PersistentKey>(StringComparer.Ordinal);
        long used = 0;
        foreach (var k in snapshot.Keys.IsDefault ? [] : snapshot.Keys)
        {
            if (StateKeys.Validate(k.Key) is not null || k.Versions.IsDefaultOrEmpty)
                throw new InvalidDataException($"persistent state snapshot of '{snapshot.Agent}' holds an invalid key");
            for (var i = 1; i < k.Versions.Length; i++)
                if (k.Versions[i].Version <= k.Versions[i - 1].Version)
                    throw new InvalidDataException($"persistent state snapshot of '{snapshot.Agent}' holds versions out of order");
            if (k.Versions[0].Version < 1 || !keys.TryAdd(k.Key, k))
                throw new InvalidDataException($"persistent state snapshot of '{snapshot.Agent}' holds a key twice or a version below 1");
            used += k.Charge();
        }
        return new PersistentState(snapshot.Agent, keys.ToImmutable(), used);
    }
}

/// <summary>The pure command, query and event functions of persistent state.</summary>
public static class PersistentStateExtensions
{
    private const string Scope = "persistent";

    // A conservative per-entry cost of the JSON framing in a reply (names, numbers, times).
    private const int ReplyEntryOverhead = 160;

    /// <summary>Decides a command: the reply and the events to persist (none when refused).</summary>
    public static (IStateReply Reply, ImmutableArray<IPersistentStateEvent> Events) ProcessCommand(
        this PersistentState state, IPersistentStateCommand command, DateTimeOffset now, PersistentStateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (command.Agent != state.Agent) return Refuse(Errors.Errors.InvalidInput("agent", "the command is for another agent's state"));
        switch (command)
        {
            case SetValue c:
            {
                if (StateKeys.Validate(c.Key) is { } bad) return Refuse(bad);
                if (c.Value.ByteCount > limits.MaxValueBytes)
                    return Refuse(Errors.Errors.InvalidInput("value", $"is larger than {limits.MaxValueBytes} bytes as canonical JSON"));
                state.Keys.TryGetValue(c.Key, out var existing);
                var previous = existing?.Latest.Version ?? 0;
                var version = previous + 1;
                var retained = existing?.Versions ?? [];
                var drop = Math.Max(0, retained.Length + 1 - limits.MaxVersions);
                var oldestRetained = drop < retained.Length ? retained[drop].Version : version;
                var required = state.UsedBytes
                               + StateAccounting.ValueCharge(c.Value)
                               + (existing is null ? StateAccounting.KeyCharge(c.Key) : 0)
                               - retained.Take(drop).Sum(v => StateAccounting.ValueCharge(v.Value));
                // Over the quota is refused; a quota lowered below current use still lets writes through that do not grow it.
                if (required > limits.QuotaBytes && required > state.UsedBytes)
                    return Refuse(StateErrors.QuotaExceeded(Scope, limits.QuotaBytes, state.UsedBytes, required));
                return (new SetResult(version, previous), [new ValueSet(c.Key, version, c.Value, oldestRetained, now)]);
            }
            case DeleteKey c:
            {
                if (StateKeys.Validate(c.Key) is { } bad) return Refuse(bad);
                if (!state.Keys.TryGetValue(c.Key, out var existing)) return Refuse(StateErrors.KeyNotFound(Scope, c.Key));
                return (new DeleteResult(true), [new KeyDeleted(c.Key, existing.Latest.Version, now)]);
            }
            case RestoreState c:
            {
                if (c.Snapshot is null || c.Snapshot.Agent != state.Agent)
                    return Refuse(Errors.Errors.InvalidInput("snapshot", "the restored state is another agent's"));
                PersistentState restored;
                try { restored = PersistentState.FromSnapshot(c.Snapshot); }
                catch (InvalidDataException e) { return Refuse(Errors.Errors.InvalidInput("snapshot", e.Message)); }
                // A put-back returns the state this entity held before a failed restore: what it held is never refused.
                if (c.PutBack) return (new RestoreResult(restored.Keys.Count, restored.UsedBytes), [new StateRestored(restored.ToSnapshot(), now)]);
                if (restored.Keys.Values.Any(k => k.Versions.Any(v => v.Value.ByteCount > limits.MaxValueBytes)))
                    return Refuse(Errors.Errors.InvalidInput("snapshot", $"holds a value larger than {limits.MaxValueBytes} bytes"));
                // A restore is refused as a whole when it does not fit the quota in force; the current state stays.
                if (restored.UsedBytes > limits.QuotaBytes)
                    return Refuse(StateErrors.QuotaExceeded(Scope, limits.QuotaBytes, state.UsedBytes, restored.UsedBytes));
                return (new RestoreResult(restored.Keys.Count, restored.UsedBytes), [new StateRestored(restored.ToSnapshot(), now)]);
            }
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>Answers a query from the current state.</summary>
    public static IStateReply Query(this PersistentState state, IPersistentStateQuery query, PersistentStateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(limits);
        if (query.Agent != state.Agent) return new StateRefused(Errors.Errors.InvalidInput("agent", "the query is for another agent's state"));
        switch (query)
        {
            case GetValue q:
            {
                if (StateKeys.Validate(q.Key) is { } bad) return new StateRefused(bad);
                if (q.Version is < 1) return new StateRefused(Errors.Errors.InvalidInput("version", "must be at least 1"));
                if (!state.Keys.TryGetValue(q.Key, out var key))
                    return new GetResult(StoredJson.Null, 0, false, null, null);
                var v = q.Version is { } wanted ? key.Versions.FirstOrDefault(x => x.Version == wanted) : key.Latest;
                return v is null
                    ? new StateRefused(StateErrors.KeyNotFound(Scope, q.Key, q.Version))
                    : new GetResult(v.Value, v.Version, true, key.CreatedAt, v.At);
            }
            case ListKeys q:
            {
                if (StateKeys.ValidatePrefix(q.Prefix) is { } bad) return new StateRefused(bad);
                var entries = ImmutableArray.CreateBuilder<ListEntry>();
                long total = 0, size = 0;
                foreach (var key in Matching(state, q.Prefix))
                {
                    var charge = key.Charge();
                    entries.Add(new ListEntry(key.Key, key.Latest.Version, charge, key.Latest.At));
                    total += charge;
                    size += StateKeys.ByteCount(key.Key) + ReplyEntryOverhead;
                }
                if (size > limits.MaxResultBytes)
                    return new StateRefused(StateErrors.ResultTooLarge("state.persistent.list", limits.MaxResultBytes, size, "List with a longer prefix."));
                return new ListResult(entries.ToImmutable(), entries.Count, total);
            }
            case QueryPrefix q:
            {
                if (q.Prefix is null) return new StateRefused(Errors.Errors.InvalidInput("prefix", "is required"));
                if (StateKeys.ValidatePrefix(q.Prefix) is { } bad) return new StateRefused(bad);
                var entries = ImmutableArray.CreateBuilder<QueryEntry>();
                long size = 0;
                foreach (var key in Matching(state, q.Prefix))
                {
                    var latest = key.Latest;
                    size += StateKeys.ByteCount(key.Key) + latest.Value.ByteCount + ReplyEntryOverhead;
                    if (size > limits.MaxResultBytes)
                        return new StateRefused(StateErrors.ResultTooLarge("state.persistent.query", limits.MaxResultBytes,
                            SizeOfQuery(state, q.Prefix), "Query a longer prefix, or list the keys and get them one by one."));
                    entries.Add(new QueryEntry(key.Key, latest.Value, latest.Version, key.CreatedAt, latest.At));
                }
                return new QueryResult(entries.ToImmutable(), entries.Count);
            }
            case GetHistory q:
            {
                if (StateKeys.Validate(q.Key) is { } bad) return new StateRefused(bad);
                if (q.Limit is < 1) return new StateRefused(Errors.Errors.InvalidInput("limit", "must be at least 1"));
                if (!state.Keys.TryGetValue(q.Key, out var key)) return new StateRefused(StateErrors.KeyNotFound(Scope, q.Key));
                var take = Math.Min(q.Limit ?? int.MaxValue, key.Versions.Length);
                var versions = ImmutableArray.CreateBuilder<HistoryEntry>(take);
                long size = 0;
                for (var i = key.Versions.Length - 1; i >= key.Versions.Length - take; i--)
                {
                    var v = key.Versions[i];
                    size += v.Value.ByteCount + ReplyEntryOverhead;
                    versions.Add(new HistoryEntry(v.Value, v.Version, key.CreatedAt, v.At));
                }
                if (size > limits.MaxResultBytes)
                    return new StateRefused(StateErrors.ResultTooLarge("state.persistent.history", limits.MaxResultBytes, size, "Pass a smaller limit, or get single versions."));
                return new HistoryResult(versions.MoveToImmutable(), take);
            }
            case GetUsage:
                return new UsageResult(state.UsedBytes, limits.QuotaBytes, Percent(state.UsedBytes, limits.QuotaBytes), state.Keys.Count);
            case ExportState:
                return new ExportResult(state.ToSnapshot());
            default:
                return new StateRefused(Errors.Errors.InvalidInput("query", $"unknown query {query.GetType().Name}"));
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock or the configuration.</summary>
    public static PersistentState Apply(this PersistentState state, IPersistentStateEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt)
        {
            case ValueSet e:
            {
                var version = new PersistentVersion(e.Version, e.Value, e.At);
                if (!state.Keys.TryGetValue(e.Key, out var existing))
                {
                    var created = new PersistentKey(e.Key, e.At, [version]);
                    return new PersistentState(state.Agent, state.Keys.SetItem(e.Key, created), state.UsedBytes + created.Charge());
                }
                var kept = existing.Versions.Add(version).RemoveAll(v => v.Version < e.OldestRetained);
                var updated = existing with { Versions = kept };
                return new PersistentState(state.Agent, state.Keys.SetItem(e.Key, updated), state.UsedBytes - existing.Charge() + updated.Charge());
            }
            case KeyDeleted e:
                return state.Keys.TryGetValue(e.Key, out var gone)
                    ? new PersistentState(state.Agent, state.Keys.Remove(e.Key), state.UsedBytes - gone.Charge())
                    : state;
            case StateRestored e:
                // Checked when decided; a journal that fails the check again fails recovery loudly (FromSnapshot throws).
                return e.Snapshot.Agent == state.Agent ? PersistentState.FromSnapshot(e.Snapshot) : state;
            default:
                return state;
        }
    }

    /// <summary>Applies events in order.</summary>
    public static PersistentState ApplyAll(this PersistentState state, IEnumerable<IPersistentStateEvent> events) =>
        events.Aggregate(state, (s, e) => s.Apply(e));

    /// <summary>The bytes an event adds to the journal's replay cost (for <see cref="SnapshotCadence"/>).</summary>
    public static long ReplayBytes(IPersistentStateEvent evt) => evt switch
    {
        ValueSet e => StateKeys.ByteCount(e.Key) + e.Value.ByteCount,
        StateRestored e => e.Snapshot.Keys.IsDefault ? 0 : e.Snapshot.Keys.Sum(k => k.Charge()),
        _ => StateKeys.ByteCount(evt.Key),
    };

    internal static double Percent(long used, long limit) => limit <= 0 ? 0 : Math.Round(used * 100.0 / limit, 2);

    private static IEnumerable<PersistentKey> Matching(PersistentState state, string? prefix) =>
        state.Keys.Values.Where(k => StateKeys.Matches(k.Key, prefix));

    private static long SizeOfQuery(PersistentState state, string prefix) =>
        Matching(state, prefix).Sum(k => (long)StateKeys.ByteCount(k.Key) + k.Latest.Value.ByteCount + ReplyEntryOverhead);

    private static (IStateReply, ImmutableArray<IPersistentStateEvent>) Refuse(Errors.StructuredError error) => (new StateRefused(error), []);
}
