using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Proxy;

/// <summary>Routes messages to one buffered write's entity.</summary>
public interface IWithWriteId
{
    /// <summary>The write.</summary>
    WriteId WriteId { get; }
}

/// <summary>Marker for commands decided by <see cref="BufferedWriteDecisions.ProcessCommand"/>.</summary>
public interface IWriteCommand : IWithWriteId, IKruxMessage
{
    /// <summary>When the command was issued (the decision never reads the clock).</summary>
    DateTimeOffset At { get; }
}

/// <summary>Marker for the events of a buffered write.</summary>
public interface IWriteEvent : IWithWriteId, IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>What a write's rollback is and until when it can be applied.</summary>
/// <param name="Kind">The spec's rollback kind.</param>
/// <param name="Data">The adapter's data (JSON).</param>
/// <param name="CapturedAt">When captured.</param>
[WireName("proxy.rollback-point.v1")]
public sealed record WriteRollback(string Kind, JsonElement Data, DateTimeOffset CapturedAt) : IKruxMessage;

/// <summary>The outcome of one attempt as the entity records it.</summary>
public enum AttemptResult
{
    /// <summary>The provider accepted the write (or the lookup found it already there).</summary>
    Done,
    /// <summary>It may go away by itself: retried with backoff.</summary>
    Transient,
    /// <summary>The provider refused the request as such: dead letter at once.</summary>
    Permanent,
}

/// <summary>Commands of one buffered write. Times are data.</summary>
public static class WriteCommands
{
    /// <summary>Buffer a write (idempotent: the same id and marker again is answered with the stored state).</summary>
    [WireName("proxy.buffer-write.v1")]
    public sealed record BufferWrite(WriteId WriteId, ServiceName Service, CapabilityName Operation, JsonElement Arguments, WriteMarker Marker,
        AgentName Agent, string SessionId, string Description, TimeSpan Window, RollbackSpec? Rollback, DateTimeOffset At) : IWriteCommand;

    /// <summary>
    /// Cancel while buffered. <paramref name="OwnerOnly"/> set (an agent cancelling): refused as not found unless it is the
    /// write's agent, so an agent can neither cancel nor detect another agent's writes.
    /// </summary>
    [WireName("proxy.cancel-write.v1")]
    public sealed record CancelWrite(WriteId WriteId, string By, AgentName? OwnerOnly, string Reason, DateTimeOffset At) : IWriteCommand;

    /// <summary>
    /// Start an execution attempt (the window has ended, or a retry is due). Persisted before the provider is called: a
    /// write whose last attempt has no recorded outcome is looked up at the provider before it is sent again.
    /// <paramref name="ExpectedAttempts"/> is the attempt count the sender saw: a repeated or stale begin (another attempt
    /// started meanwhile) is refused, so two attempts never run at once.
    /// </summary>
    [WireName("proxy.begin-attempt.v1")]
    public sealed record BeginAttempt(WriteId WriteId, int ExpectedAttempts, DateTimeOffset At) : IWriteCommand;

    /// <summary>Store the rollback point captured for the current attempt (before the provider call).</summary>
    [WireName("proxy.record-rollback.v1")]
    public sealed record RecordRollback(WriteId WriteId, int Attempt, WriteRollback Point, DateTimeOffset At) : IWriteCommand;

    /// <summary>Record the outcome of attempt <paramref name="Attempt"/>.</summary>
    [WireName("proxy.record-outcome.v1")]
    public sealed record RecordOutcome(WriteId WriteId, int Attempt, AttemptResult Result, string? ProviderReference, string? Reason,
        TimeSpan? RetryAfter, DateTimeOffset At) : IWriteCommand;

    /// <summary>Operator: run a dead-lettered write again (a fresh backoff series; looked up first).</summary>
    [WireName("proxy.retry-write.v1")]
    public sealed record RetryWrite(WriteId WriteId, string By, DateTimeOffset At) : IWriteCommand;

    /// <summary>Operator: give up a dead-lettered write for good.</summary>
    [WireName("proxy.discard-write.v1")]
    public sealed record DiscardWrite(WriteId WriteId, string By, string Reason, DateTimeOffset At) : IWriteCommand;

    /// <summary>A service was disconnected: cancel while buffered (no owner check), leave any other state alone.</summary>
    [WireName("proxy.cancel-for-disconnect.v1")]
    public sealed record CancelForDisconnect(WriteId WriteId, string By, DateTimeOffset At) : IWriteCommand;

    /// <summary>
    /// Operator: apply the executed write's rollback point (ADR 0065). Starts a rollback attempt, persisted before the
    /// provider is called; once applied, or failed for good, the first result answers every later request.
    /// </summary>
    [WireName("proxy.apply-rollback.v1")]
    public sealed record ApplyRollback(WriteId WriteId, string By, DateTimeOffset At) : IWriteCommand;

    /// <summary>Record the outcome of rollback attempt <paramref name="Attempt"/>.</summary>
    /// <param name="WriteId">The write.</param>
    /// <param name="Attempt">The rollback attempt.</param>
    /// <param name="Applied">The provider applied it.</param>
    /// <param name="Permanent">For a failure: the provider refused it as such (no later request runs it again).</param>
    /// <param name="Detail">The provider's reference when applied, else the reason.</param>
    /// <param name="At">When the outcome was known.</param>
    [WireName("proxy.record-rollback-outcome.v1")]
    public sealed record RecordRollbackOutcome(WriteId WriteId, int Attempt, bool Applied, bool Permanent, string? Detail, DateTimeOffset At) : IWriteCommand;
}

/// <summary>Where an operator's rollback of an executed write is.</summary>
public enum RollbackApplyStatus
{
    /// <summary>An attempt was started (persisted before the provider call); its outcome is not recorded yet.</summary>
    Applying,
    /// <summary>The provider applied it: final.</summary>
    Applied,
    /// <summary>The provider refused it as such: final.</summary>
    Failed,
    /// <summary>It failed in a way that may go away (outage, timeout): may be requested again within the retention.</summary>
    FailedTransient,
}

/// <summary>Wire spellings of <see cref="RollbackApplyStatus"/>.</summary>
public static class RollbackApplyStatuses
{
    /// <summary><c>applying</c>, <c>applied</c>, <c>failed</c>, <c>failed_retryable</c>.</summary>
    public static string ToWire(this RollbackApplyStatus s) => s switch
    {
        RollbackApplyStatus.Applying => "applying",
        RollbackApplyStatus.Applied => "applied",
        RollbackApplyStatus.Failed => "failed",
        _ => "failed_retryable",
    };
}

/// <summary>An operator's rollback of an executed write: its status, attempts, who asked first and the outcome.</summary>
/// <param name="Status">Applying, applied or failed.</param>
/// <param name="Attempts">Attempts started (one unless a transient failure or a crash made the operator ask again).</param>
/// <param name="By">Who started the latest attempt (<c>user:&lt;label&gt;</c>, <c>cli:root</c>).</param>
/// <param name="RequestedAt">When the latest attempt started.</param>
/// <param name="FinishedAt">When its outcome was recorded.</param>
/// <param name="Outcome">The provider's reference, or the failure's reason.</param>
[WireName("proxy.rollback-application.v1")]
public sealed record RollbackApplication(RollbackApplyStatus Status, int Attempts, string By, DateTimeOffset RequestedAt, DateTimeOffset? FinishedAt,
    string? Outcome) : IKruxMessage;

/// <summary>Events of one buffered write.</summary>
public static class WriteEvents
{
    /// <summary>The write was buffered until <paramref name="BufferUntil"/>.</summary>
    [WireName("proxy.write-buffered.v1")]
    public sealed record WriteBuffered(WriteId WriteId, ServiceName Service, CapabilityName Operation, JsonElement Arguments, WriteMarker Marker,
        AgentName Agent, string SessionId, string Description, DateTimeOffset BufferUntil, RollbackSpec? Rollback, DateTimeOffset At) : IWriteEvent;

    /// <summary>Cancelled inside its window.</summary>
    [WireName("proxy.write-cancelled.v1")]
    public sealed record WriteCancelled(WriteId WriteId, string By, string Reason, DateTimeOffset At) : IWriteEvent;

    /// <summary>Attempt <paramref name="Attempt"/> started; <paramref name="LookupFirst"/>: an earlier attempt may have reached the provider.</summary>
    [WireName("proxy.attempt-started.v1")]
    public sealed record AttemptStarted(WriteId WriteId, int Attempt, bool LookupFirst, DateTimeOffset At) : IWriteEvent;

    /// <summary>The rollback point was stored before the provider call.</summary>
    [WireName("proxy.rollback-recorded.v1")]
    public sealed record RollbackRecorded(WriteId WriteId, int Attempt, WriteRollback Point, DateTimeOffset KeptUntil, DateTimeOffset At) : IWriteEvent;

    /// <summary>Done: the provider holds the write.</summary>
    [WireName("proxy.write-executed.v1")]
    public sealed record WriteExecuted(WriteId WriteId, int Attempt, string ProviderReference, DateTimeOffset At) : IWriteEvent;

    /// <summary>An attempt failed; the next one is due at <paramref name="NextAttemptAt"/>.</summary>
    [WireName("proxy.attempt-failed.v1")]
    public sealed record AttemptFailed(WriteId WriteId, int Attempt, string Reason, DateTimeOffset NextAttemptAt, DateTimeOffset At) : IWriteEvent;

    /// <summary>Given up: a permanent failure, or the last backoff step failed.</summary>
    [WireName("proxy.write-dead-lettered.v1")]
    public sealed record WriteDeadLettered(WriteId WriteId, int Attempt, string Reason, bool Permanent, DateTimeOffset At) : IWriteEvent;

    /// <summary>An operator put a dead letter back; its next attempt is due now.</summary>
    [WireName("proxy.write-requeued.v1")]
    public sealed record WriteRequeued(WriteId WriteId, string By, DateTimeOffset At) : IWriteEvent;

    /// <summary>An operator discarded a dead letter.</summary>
    [WireName("proxy.write-discarded.v1")]
    public sealed record WriteDiscarded(WriteId WriteId, string By, string Reason, DateTimeOffset At) : IWriteEvent;

    /// <summary>Rollback attempt <paramref name="Attempt"/> of an executed write started (before the provider call).</summary>
    [WireName("proxy.rollback-started.v1")]
    public sealed record RollbackStarted(WriteId WriteId, int Attempt, string By, DateTimeOffset At) : IWriteEvent;

    /// <summary>The provider applied the rollback.</summary>
    [WireName("proxy.rollback-succeeded.v1")]
    public sealed record RollbackSucceeded(WriteId WriteId, int Attempt, string Reference, DateTimeOffset At) : IWriteEvent;

    /// <summary>The rollback attempt failed; <paramref name="Permanent"/>: for good.</summary>
    [WireName("proxy.rollback-failed.v1")]
    public sealed record RollbackFailed(WriteId WriteId, int Attempt, string Reason, bool Permanent, DateTimeOffset At) : IWriteEvent;
}

/// <summary>How a write command was decided.</summary>
public enum WriteResultCode
{
    /// <summary>Accepted (events persisted, or an idempotent repeat).</summary>
    Ok,
    /// <summary>No such write (or not the caller's).</summary>
    NotFound,
    /// <summary>Not possible in the write's status (cancel after the window, retry of a live write).</summary>
    Conflict,
    /// <summary>Not yet (an attempt before its time): nothing changes.</summary>
    NotDue,
    /// <summary>The command itself is invalid.</summary>
    Invalid,
    /// <summary>Too late: the rollback point's retention has ended.</summary>
    Expired,
}

/// <summary>The answer to a write command: the code, a message and the state afterwards.</summary>
[WireName("proxy.write-result.v1")]
public sealed record WriteResult(WriteResultCode Code, string Message, BufferedWriteState State) : IKruxMessage
{
    /// <summary>True for <see cref="WriteResultCode.Ok"/>.</summary>
    public bool IsOk => Code == WriteResultCode.Ok;
}

/// <summary>Settings the decisions need: the backoff schedule between failed attempts.</summary>
/// <param name="Backoff">Wait after failure n (1-based) before attempt n+1; after the last entry's failure the write is dead-lettered.</param>
public sealed record WriteSettings(ImmutableArray<TimeSpan> Backoff)
{
    /// <summary>1, 2, 4, 8, 16 minutes (spec §12.5): six attempts in all.</summary>
    public static readonly WriteSettings Default = new([TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4),
        TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(16)]);

    /// <summary>Attempts before a dead letter: one more than the backoff steps.</summary>
    public int MaxAttempts => Backoff.Length + 1;
}
