using Akka.Actor;
using KruxOS.Audit;
using KruxOS.Core.Audit;

namespace KruxOS.Actors.Audit;

/// <summary>Registry key of the node's audit writer: inject <c>IRequiredActor&lt;AuditWriter&gt;</c>.</summary>
public sealed class AuditWriter
{
    private AuditWriter() { }
}

/// <summary>What to do when the audit log cannot be written (<c>audit.fail_mode</c>).</summary>
public enum AuditFailMode
{
    /// <summary>Keep serving: entries go to a bounded in-memory ring and are flushed when the disk is back.</summary>
    Degrade,
    /// <summary>Fail every call whose entry cannot be made durable.</summary>
    Halt,
}

/// <summary>Settings of the audit writer. Each property documents its default.</summary>
public sealed class AuditOptions
{
    /// <summary>The audit directory (<c>/data/kruxos/audit</c> on the appliance). This field is required.</summary>
    public string Directory { get; set; } = "";

    /// <summary>Behaviour when the log cannot be written. <b>Default</b>: <see cref="AuditFailMode.Degrade"/>.</summary>
    public AuditFailMode FailMode { get; set; } = AuditFailMode.Degrade;

    /// <summary>Entries that may wait in memory (ring in degraded mode, queue otherwise). <b>Default</b>: 10,000.</summary>
    public int RingCapacity { get; set; } = 10_000;

    /// <summary>How often a failed disk is retried. <b>Default</b>: 30 s.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Days of audit files kept (<c>audit.retention_days</c>). <b>Default</b>: 90.</summary>
    public int RetentionDays { get; set; } = AuditRetention.DefaultRetentionDays;

    /// <summary>How often the writer checks whether the daily 03:00 UTC retention run is due. <b>Default</b>: 10 min.</summary>
    public TimeSpan RetentionCheckInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// In a cluster, this node's id (<see cref="Cluster.NodeId.Of(KruxOS.Actors.Hosting.KruxOsSettings)"/>), sealed into every entry (schema 2, ADR 0059).
    /// <b>Default</b>: null (a single node writes schema 1).
    /// </summary>
    public string? Node { get; set; }

    /// <summary>Largest group-commit batch. <b>Default</b>: 512 entries.</summary>
    public int MaxBatch { get; set; } = 512;

    /// <summary>
    /// Wait before the first restart after the writer failed (a fault it did not foresee); each further failure within
    /// a minute of the last restart doubles it, up to <see cref="RestartBackoffMax"/>. <b>Default</b>: 500 ms.
    /// </summary>
    public TimeSpan RestartBackoffMin { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait before a restart (see <see cref="RestartBackoffMin"/>). <b>Default</b>: 30 s.</summary>
    public TimeSpan RestartBackoffMax { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Maintain the SQLite index while writing. <b>Default</b>: true.</summary>
    public bool UseIndex { get; set; } = true;

    /// <summary>The file seam (tests inject failures). <b>Default</b>: real files.</summary>
    public IAuditFileSystem? FileSystem { get; set; }

    /// <summary>Clock for day files and retention. <b>Default</b>: system clock.</summary>
    public TimeProvider? Clock { get; set; }

    /// <summary>
    /// Where the writer publishes whether it accepts new entries (the pipeline checks it before executing).
    /// <b>Default</b>: a private instance nobody reads.
    /// </summary>
    public AuditAvailability Availability { get; set; } = new();

    /// <summary>
    /// Where the writer records the work that ends after it stops (the disk loop's last batches, a late open, maintenance
    /// jobs), for the host's stop to wait for. <b>Default</b>: a private instance nobody waits for.
    /// </summary>
    public AuditLogClosure Closure { get; set; } = new();

    /// <summary>Throws when a required value is missing or out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory)) throw new ArgumentNullException(nameof(Directory));
        if (RingCapacity < 1) throw new ArgumentOutOfRangeException(nameof(RingCapacity));
        if (MaxBatch < 1) throw new ArgumentOutOfRangeException(nameof(MaxBatch));
        if (RetryInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetryInterval));
        if (RetentionDays < 1) throw new ArgumentOutOfRangeException(nameof(RetentionDays));
        if (RestartBackoffMin <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RestartBackoffMin));
        if (RestartBackoffMax < RestartBackoffMin) throw new ArgumentOutOfRangeException(nameof(RestartBackoffMax));
    }
}

/// <summary>Commands and queries of the audit writer.</summary>
public static class AuditCommands
{
    /// <summary>
    /// Append a draft entry (no hashes; the writer seals it in arrival order). The writer answers
    /// <paramref name="ReplyTo"/> with exactly one of <see cref="AuditReplies.AuditAppended"/> (durable:
    /// fsynced), <see cref="AuditReplies.AuditBuffered"/> (degraded mode: held in the ring, not yet durable)
    /// or <see cref="AuditReplies.AuditFailed"/> (the call must fail closed).
    /// </summary>
    public sealed record Append(AuditEntry Draft, IActorRef ReplyTo);

    /// <summary>Asks for <see cref="AuditReplies.AuditHealth"/>.</summary>
    public sealed class GetAuditHealth
    {
        /// <summary>The instance.</summary>
        public static readonly GetAuditHealth Instance = new();
        private GetAuditHealth() { }
    }

    /// <summary>Runs retention now (<c>kruxos audit rotate</c>); the sender gets a <see cref="RetentionResult"/>.</summary>
    public sealed class RunRetention
    {
        /// <summary>The instance.</summary>
        public static readonly RunRetention Instance = new();
        private RunRetention() { }
    }
}

/// <summary>Replies of the audit writer.</summary>
public static class AuditReplies
{
    /// <summary>The entry is on disk (fsynced) with this hash.</summary>
    public sealed record AuditAppended(Guid Id, string EntryHash);

    /// <summary>
    /// Degraded mode: the entry is held in the in-memory ring (not yet durable) and will be flushed, in
    /// chain order, when the disk accepts writes again. Under <c>fail_mode: degrade</c> the call may proceed.
    /// </summary>
    public sealed record AuditBuffered(Guid Id, int BufferedEntries);

    /// <summary>The entry could not be accepted (halt mode, restarting under halt, or ring full): the call must fail.</summary>
    public sealed record AuditFailed(Guid Id, string Reason);

    /// <summary>Health of the audit writer.</summary>
    /// <param name="Status">Starting, healthy, degraded (critical), halted (critical) or restarting after a failure (critical).</param>
    /// <param name="BufferedEntries">Entries accepted but not yet on disk.</param>
    /// <param name="LastError">The last write error, if any.</param>
    /// <param name="EntriesWritten">Entries made durable since start.</param>
    /// <param name="StartupBreak">A chain break found when the writer opened the log.</param>
    /// <param name="LastVerification">The latest background verification of the whole directory, if one finished.</param>
    public sealed record AuditHealth(AuditHealthStatus Status, int BufferedEntries, string? LastError, long EntriesWritten, ChainIssue? StartupBreak,
        AuditVerificationInfo? LastVerification = null)
    {
        /// <summary>Whether this is a critical health alert ("audit writer degraded").</summary>
        public bool IsCritical => Status is AuditHealthStatus.Degraded or AuditHealthStatus.Halted or AuditHealthStatus.Restarting;
    }
}

/// <summary>The latest background verification: when it finished, its summary, and how many have finished since the writer started.</summary>
public sealed record AuditVerificationInfo(DateTimeOffset At, string Summary, int Count);

/// <summary>State of the audit writer.</summary>
public enum AuditHealthStatus
{
    /// <summary>Opening the log (recovery and tail verification).</summary>
    Starting,
    /// <summary>Writing normally.</summary>
    Healthy,
    /// <summary>The disk failed; entries are buffered in memory (critical).</summary>
    Degraded,
    /// <summary>The disk failed and <c>fail_mode</c> is halt: calls fail (critical).</summary>
    Halted,
    /// <summary>
    /// The writer failed and waits (backing off) before it opens the log again: no call runs, entries already accepted
    /// are kept for the restarted writer (critical).
    /// </summary>
    Restarting,
}
