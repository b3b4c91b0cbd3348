using System.Collections.Immutable;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using static KruxOS.Core.State.Shared.SharedQuotaCommands;
using static KruxOS.Core.State.Shared.SharedQuotaEvents;
using static KruxOS.Core.State.Shared.SharedQuotaReplies;

namespace KruxOS.Core.State.Shared;

/// <summary>Messages to the shared-state quota ledger (one entity, persistence id <see cref="SharedQuotaLedger.PersistenceId"/>).</summary>
public interface ISharedQuotaMessage : IKruxMessage;

/// <summary>Commands of the ledger.</summary>
public static class SharedQuotaCommands
{
    /// <summary>
    /// A partition asks for more: its grant to become <paramref name="Desired"/> bytes (at least
    /// <paramref name="Minimum"/>), on the condition that the ledger's record is still the one the partition
    /// holds, <paramref name="BaseSeq"/> (compare-and-set). The ledger records it under <c>BaseSeq + 1</c>. A
    /// duplicate, a retry or a delayed copy finds the record moved on and changes nothing: an increase is
    /// applied at most once. <paramref name="Correlation"/> is stamped by the partition's actor and echoed in
    /// the reply, so the actor tells the answer to its request from a late answer to an earlier one.
    /// </summary>
    [WireName("state.shared-quota.request-grant.v1")]
    public sealed record RequestGrant(int Partition, long BaseSeq, long Minimum, long Desired, long Correlation = 0) : ISharedQuotaMessage;

    /// <summary>
    /// A partition tells the ledger the lower grant it has already recorded itself, under its own new sequence
    /// <paramref name="Seq"/> (a release, or the reconcile after a restart). Never raises a record: a release
    /// whose sequence is not newer than the ledger's record is answered with that record.
    /// </summary>
    [WireName("state.shared-quota.release-grant.v1")]
    public sealed record ReleaseGrant(int Partition, long Seq, long Granted) : ISharedQuotaMessage;

    /// <summary>The ledger's totals (statistics, health).</summary>
    [WireName("state.shared-quota.get-usage.v1")]
    public sealed record GetLedgerUsage : ISharedQuotaMessage
    {
        /// <summary>The one instance.</summary>
        public static readonly GetLedgerUsage Instance = new();
    }
}

/// <summary>Persisted events of the ledger.</summary>
public interface ISharedQuotaEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The ledger's events.</summary>
public static class SharedQuotaEvents
{
    /// <summary>Partition <paramref name="Partition"/> now holds <paramref name="Granted"/> bytes, agreed under its sequence <paramref name="Seq"/>.</summary>
    [WireName("state.shared-quota.grant-recorded.v1")]
    public sealed record GrantRecorded(int Partition, long Granted, long Seq, DateTimeOffset At) : ISharedQuotaEvent;
}

/// <summary>The ledger's replies.</summary>
public static class SharedQuotaReplies
{
    /// <summary>
    /// The ledger's record for a partition after a request: <paramref name="Granted"/> under <paramref name="Seq"/>.
    /// <paramref name="Refused"/> when an increase did not fit; <paramref name="TotalGranted"/> and
    /// <paramref name="LimitBytes"/> are the ledger's totals at that moment. <paramref name="Correlation"/> echoes
    /// the request's (0 for a release).
    /// </summary>
    [WireName("state.shared-quota.grant-reply.v1")]
    public sealed record GrantReply(int Partition, long Granted, long Seq, bool Refused, long TotalGranted, long LimitBytes, long Correlation = 0) : IKruxMessage;

    /// <summary>The totals: bytes granted to partitions and the limit.</summary>
    [WireName("state.shared-quota.usage.v1")]
    public sealed record LedgerUsage(long TotalGranted, long LimitBytes, int Partitions) : IKruxMessage;
}

/// <summary>One partition's record in the ledger.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Granted">Bytes it may charge.</param>
/// <param name="Seq">The partition's sequence number of the request that set it.</param>
public sealed record PartitionGrant(int Partition, long Granted, long Seq);

/// <summary>The ledger's snapshot (the whole state); totals are recomputed on load.</summary>
[WireName("state.shared-quota.snapshot.v1")]
public sealed record SharedQuotaLedgerSnapshot(ImmutableArray<PartitionGrant> Grants) : IKruxMessage;

/// <summary>
/// The global quota of shared state, held as grants to partitions (ADR 0035). Invariants: the sum of
/// grants never exceeds the limit when an increase is recorded; a record's sequence number only grows;
/// and a partition never believes it holds more than the ledger recorded for it — partitions raise their
/// grant only by adopting a ledger record, and lower it themselves before telling the ledger. So the sum of
/// what all partitions store never exceeds the quota, whatever messages are lost, repeated, delayed or
/// reordered and whichever entity restarts.
/// </summary>
public sealed class SharedQuotaLedger
{
    /// <summary>The persistence id; never changes.</summary>
    public const string PersistenceId = "state-shared-quota";

    internal SharedQuotaLedger(ImmutableDictionary<int, PartitionGrant> grants, long totalGranted)
    {
        Grants = grants;
        TotalGranted = totalGranted;
    }

    /// <summary>No grants.</summary>
    public static readonly SharedQuotaLedger Empty = new(ImmutableDictionary<int, PartitionGrant>.Empty, 0);

    /// <summary>Grants by partition.</summary>
    public ImmutableDictionary<int, PartitionGrant> Grants { get; }

    /// <summary>The sum of grants.</summary>
    public long TotalGranted { get; }

    /// <summary>A partition's record (0 under sequence 0 when it never asked).</summary>
    public PartitionGrant GrantOf(int partition) => Grants.TryGetValue(partition, out var g) ? g : new PartitionGrant(partition, 0, 0);

    /// <summary>The snapshot to store.</summary>
    public SharedQuotaLedgerSnapshot ToSnapshot() => new([.. Grants.Values.OrderBy(g => g.Partition)]);

    /// <summary>Loads a snapshot; throws <see cref="InvalidDataException"/> when it is damaged.</summary>
    public static SharedQuotaLedger FromSnapshot(SharedQuotaLedgerSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var grants = ImmutableDictionary.CreateBuilder<int, PartitionGrant>();
        long total = 0;
        foreach (var g in snapshot.Grants.IsDefault ? [] : snapshot.Grants)
        {
            if (!SharedStatePartitions.IsValid(g.Partition) || g.Granted < 0 || g.Seq < 0 || !grants.TryAdd(g.Partition, g))
                throw new InvalidDataException("the shared quota ledger snapshot is damaged");
            total += g.Granted;
        }
        return new SharedQuotaLedger(grants.ToImmutable(), total);
    }
}

/// <summary>The ledger's pure functions.</summary>
public static class SharedQuotaLedgerExtensions
{
    /// <summary>
    /// Decides a request against <paramref name="limitBytes"/>:
    /// <list type="bullet">
    /// <item><see cref="RequestGrant"/> whose base is not the record → the record, nothing persisted;
    /// otherwise <c>Desired</c> when it fits, else <c>Minimum</c> when that fits, else refused with the record;</item>
    /// <item><see cref="ReleaseGrant"/> newer than the record → recorded (capped at the record, so it never
    /// raises it); otherwise the record.</item>
    /// </list>
    /// </summary>
    public static (GrantReply Reply, ImmutableArray<ISharedQuotaEvent> Events) ProcessCommand(
        this SharedQuotaLedger ledger, ISharedQuotaMessage request, DateTimeOffset now, long limitBytes)
    {
        ArgumentNullException.ThrowIfNull(request);
        switch (request)
        {
            case RequestGrant r:
            {
                var current = ledger.GrantOf(r.Partition);
                if (!SharedStatePartitions.IsValid(r.Partition) || r.Minimum < 0 || r.Desired < r.Minimum)
                    return (Reply(ledger, current, refused: true, limitBytes, r.Correlation), []);
                if (r.BaseSeq != current.Seq) return (Reply(ledger, current, refused: false, limitBytes, r.Correlation), []);
                var available = limitBytes - (ledger.TotalGranted - current.Granted);
                long? granted = r.Desired <= Math.Max(available, current.Granted) ? r.Desired
                    : r.Minimum <= Math.Max(available, current.Granted) ? r.Minimum
                    : null;
                if (granted is not { } g) return (Reply(ledger, current, refused: true, limitBytes, r.Correlation), []);
                var (reply, events) = Record(ledger, r.Partition, g, current.Seq + 1, now, limitBytes);
                return (reply with { Correlation = r.Correlation }, events);
            }
            case ReleaseGrant r:
            {
                var current = ledger.GrantOf(r.Partition);
                if (!SharedStatePartitions.IsValid(r.Partition) || r.Granted < 0 || r.Seq <= current.Seq)
                    return (Reply(ledger, current, refused: false, limitBytes), []);
                return Record(ledger, r.Partition, Math.Min(r.Granted, current.Granted), r.Seq, now, limitBytes);
            }
            default:
                return (new GrantReply(-1, 0, 0, true, ledger.TotalGranted, limitBytes), []);
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock or the configuration.</summary>
    public static SharedQuotaLedger Apply(this SharedQuotaLedger ledger, ISharedQuotaEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt is not GrantRecorded e) return ledger;
        var before = ledger.GrantOf(e.Partition).Granted;
        return new SharedQuotaLedger(ledger.Grants.SetItem(e.Partition, new PartitionGrant(e.Partition, e.Granted, e.Seq)),
            ledger.TotalGranted - before + e.Granted);
    }

    /// <summary>Applies events in order.</summary>
    public static SharedQuotaLedger ApplyAll(this SharedQuotaLedger ledger, IEnumerable<ISharedQuotaEvent> events) =>
        events.Aggregate(ledger, (l, e) => l.Apply(e));

    /// <summary>The totals.</summary>
    public static LedgerUsage Usage(this SharedQuotaLedger ledger, long limitBytes) => new(ledger.TotalGranted, limitBytes, ledger.Grants.Count);

    /// <summary>
    /// The caller's error when the ledger refused the grant a write needed: the limit, what is granted
    /// across partitions (an upper bound of what is stored), and what the write would have brought it to.
    /// </summary>
    public static StructuredError QuotaRefusal(GrantReply reply, RequestGrant asked)
    {
        ArgumentNullException.ThrowIfNull(reply);
        ArgumentNullException.ThrowIfNull(asked);
        var required = reply.TotalGranted - reply.Granted + asked.Minimum;
        return StateErrors.QuotaExceeded("shared", reply.LimitBytes, reply.TotalGranted, required);
    }

    private static (GrantReply, ImmutableArray<ISharedQuotaEvent>) Record(SharedQuotaLedger ledger, int partition, long granted, long seq,
        DateTimeOffset now, long limitBytes)
    {
        var evt = new GrantRecorded(partition, granted, seq, now);
        var after = ledger.Apply(evt);
        return (Reply(after, after.GrantOf(partition), refused: false, limitBytes), [evt]);
    }

    private static GrantReply Reply(SharedQuotaLedger ledger, PartitionGrant record, bool refused, long limitBytes, long correlation = 0) =>
        new(record.Partition, record.Granted, record.Seq, refused, ledger.TotalGranted, limitBytes, correlation);
}
