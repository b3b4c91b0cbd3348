using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Serialization;
using static KruxOS.Core.Proxy.WriteCommands;
using static KruxOS.Core.Proxy.WriteEvents;

namespace KruxOS.Core.Proxy;

/// <summary>Where a buffered write is.</summary>
public enum WriteStatus
{
    /// <summary>Nothing buffered under this id.</summary>
    None,
    /// <summary>In its cancellation window.</summary>
    Buffered,
    /// <summary>Executing: an attempt runs, or the next one waits for its backoff.</summary>
    Executing,
    /// <summary>The provider holds it.</summary>
    Done,
    /// <summary>Cancelled in its window; never executed.</summary>
    Cancelled,
    /// <summary>Given up after its retries (or a permanent failure); waits for the operator.</summary>
    DeadLettered,
    /// <summary>A dead letter the operator discarded.</summary>
    Discarded,
}

/// <summary>Wire spellings of <see cref="WriteStatus"/>.</summary>
public static class WriteStatuses
{
    /// <summary><c>buffered</c>, <c>executing</c>, <c>done</c>, <c>cancelled</c>, <c>dead_lettered</c>, <c>discarded</c>.</summary>
    public static string ToWire(this WriteStatus s) => s switch
    {
        WriteStatus.Buffered => "buffered",
        WriteStatus.Executing => "executing",
        WriteStatus.Done => "done",
        WriteStatus.Cancelled => "cancelled",
        WriteStatus.DeadLettered => "dead_lettered",
        WriteStatus.Discarded => "discarded",
        _ => "none",
    };

    /// <summary>True for the states a write never leaves.</summary>
    public static bool IsFinal(this WriteStatus s) => s is WriteStatus.Done or WriteStatus.Cancelled or WriteStatus.Discarded;
}

/// <summary>
/// One buffered write (spec §12.5): buffered → executing → done | cancelled | dead-lettered (→ executing again on an
/// operator retry, or discarded). Pure: <see cref="BufferedWriteDecisions.ProcessCommand"/> decides, <see cref="Apply"/>
/// folds events, neither reads the clock.
/// </summary>
[WireName("proxy.buffered-write-state.v1")]
public sealed record BufferedWriteState(
    WriteId Id,
    WriteStatus Status,
    ServiceName Service,
    CapabilityName? Operation,
    JsonElement? Arguments,
    WriteMarker Marker,
    AgentName? Agent,
    string SessionId,
    string Description,
    DateTimeOffset BufferedAt,
    DateTimeOffset BufferUntil,
    RollbackSpec? RollbackSpec,
    int Attempts,
    bool AttemptOpen,
    bool LookupFirst,
    DateTimeOffset? NextAttemptAt,
    string? LastError,
    WriteRollback? Rollback,
    DateTimeOffset? RollbackKeptUntil,
    string? ProviderReference,
    DateTimeOffset? FinishedAt,
    string? FinishedBy,
    DateTimeOffset? DeadLetteredAt,
    RollbackApplication? RollbackApplied = null) : IKruxMessage
{
    /// <summary>Nothing buffered yet.</summary>
    public static BufferedWriteState Empty(WriteId id) => new(id, WriteStatus.None, default, null, null, default, null, string.Empty, string.Empty,
        default, default, null, 0, false, false, null, null, null, null, null, null, null, null, null);

    /// <summary>When the entity must act next: the window's end, a due retry; null when it waits for nobody.</summary>
    public DateTimeOffset? DueAt => Status switch
    {
        WriteStatus.Buffered => BufferUntil,
        WriteStatus.Executing => NextAttemptAt,
        _ => null,
    };

    /// <summary>
    /// True while the rollback point can still be applied: the write executed, left a point, its retention has not ended and
    /// no rollback of it has been applied (or failed for good).
    /// </summary>
    public bool HasLiveRollback(DateTimeOffset now) => Status == WriteStatus.Done && Rollback is not null && RollbackKeptUntil is { } k && now < k
        && RollbackApplied?.Status is not (RollbackApplyStatus.Applied or RollbackApplyStatus.Failed);

    // The rollback attempt an outcome event closes (a journal is never trusted to hold its start).
    private RollbackApplication Running(int attempt, DateTimeOffset at) =>
        RollbackApplied ?? new RollbackApplication(RollbackApplyStatus.Applying, attempt, string.Empty, at, null, null);

    /// <summary>Folds one event.</summary>
    public BufferedWriteState Apply(IWriteEvent e) => e switch
    {
        WriteBuffered b => this with
        {
            Status = WriteStatus.Buffered, Service = b.Service, Operation = b.Operation, Arguments = b.Arguments, Marker = b.Marker, Agent = b.Agent,
            SessionId = b.SessionId, Description = b.Description, BufferedAt = b.At, BufferUntil = b.BufferUntil, RollbackSpec = b.Rollback,
        },
        WriteCancelled c => this with { Status = WriteStatus.Cancelled, FinishedAt = c.At, FinishedBy = c.By, LastError = null },
        AttemptStarted s => this with
        {
            Status = WriteStatus.Executing, Attempts = s.Attempt, AttemptOpen = true, LookupFirst = s.LookupFirst, NextAttemptAt = null,
        },
        RollbackRecorded r => this with { Rollback = r.Point, RollbackKeptUntil = r.KeptUntil },
        WriteExecuted x => this with
        {
            Status = WriteStatus.Done, AttemptOpen = false, ProviderReference = x.ProviderReference, FinishedAt = x.At, LastError = null,
            NextAttemptAt = null,
        },
        AttemptFailed f => this with { Status = WriteStatus.Executing, AttemptOpen = false, LastError = f.Reason, NextAttemptAt = f.NextAttemptAt },
        WriteDeadLettered d => this with
        {
            Status = WriteStatus.DeadLettered, AttemptOpen = false, LastError = d.Reason, NextAttemptAt = null, DeadLetteredAt = d.At,
        },
        // A fresh backoff series: attempts count from zero again, but the next attempt looks up first (an earlier one may have landed).
        WriteRequeued q => this with { Status = WriteStatus.Executing, Attempts = 0, AttemptOpen = false, LookupFirst = true, NextAttemptAt = q.At },
        WriteDiscarded d => this with { Status = WriteStatus.Discarded, FinishedAt = d.At, FinishedBy = d.By },
        RollbackStarted r => this with { RollbackApplied = new RollbackApplication(RollbackApplyStatus.Applying, r.Attempt, r.By, r.At, null, null) },
        RollbackSucceeded r => this with { RollbackApplied = Running(r.Attempt, r.At) with { Status = RollbackApplyStatus.Applied, FinishedAt = r.At, Outcome = r.Reference } },
        RollbackFailed r => this with
        {
            RollbackApplied = Running(r.Attempt, r.At) with
            {
                Status = r.Permanent ? RollbackApplyStatus.Failed : RollbackApplyStatus.FailedTransient, FinishedAt = r.At, Outcome = r.Reason,
            },
        },
        _ => this,
    };
}

/// <summary>The pure decisions of a buffered write.</summary>
public static class BufferedWriteDecisions
{
    /// <summary>The longest description kept.</summary>
    public const int MaxDescription = 200;

    /// <summary>The longest provider reference or failure reason kept.</summary>
    public const int MaxText = 500;

    /// <summary>The longest window accepted (a week; the spec's longest is 24 h).</summary>
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(7);

    /// <summary>Decides <paramref name="command"/> on <paramref name="state"/>.</summary>
    public static (WriteResult Result, ImmutableArray<IWriteEvent> Events) ProcessCommand(this BufferedWriteState state, IWriteCommand command,
        WriteSettings settings)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(settings);
        if (command.WriteId != state.Id) return (new(WriteResultCode.Invalid, "the command is for another write", state), []);
        return command switch
        {
            BufferWrite b => Buffer(state, b),
            _ when state.Status == WriteStatus.None => (new(WriteResultCode.NotFound, $"no buffered write '{state.Id.Value}'", state), []),
            CancelWrite c => Cancel(state, c),
            CancelForDisconnect c => state.Status == WriteStatus.Buffered
                ? Ok(state, "cancelled (service disconnected)", new WriteCancelled(state.Id, c.By, "service disconnected", c.At))
                : (new(WriteResultCode.Ok, $"left as {state.Status.ToWire()}", state), []),
            BeginAttempt a => Begin(state, a),
            RecordRollback r => Rollback(state, r),
            RecordOutcome o => Outcome(state, o, settings),
            RetryWrite r => state.Status == WriteStatus.DeadLettered
                ? Ok(state, "requeued", new WriteRequeued(state.Id, Clip(r.By, 128), r.At))
                : Conflict(state, $"only a dead-lettered write can be retried; it is {state.Status.ToWire()}"),
            ApplyRollback r => StartRollback(state, r),
            RecordRollbackOutcome r => RollbackOutcome(state, r),
            DiscardWrite d => state.Status == WriteStatus.DeadLettered
                ? Ok(state, "discarded", new WriteDiscarded(state.Id, Clip(d.By, 128), Clip(d.Reason, MaxText), d.At))
                : Conflict(state, $"only a dead-lettered write can be discarded; it is {state.Status.ToWire()}"),
            _ => (new(WriteResultCode.Invalid, $"unknown command {command.GetType().Name}", state), []),
        };
    }

    /// <summary>Folds <paramref name="events"/> into <paramref name="state"/>.</summary>
    public static BufferedWriteState ApplyAll(this BufferedWriteState state, IEnumerable<IWriteEvent> events) =>
        events.Aggregate(state, (s, e) => s.Apply(e));

    /// <summary>
    /// When attempt <paramref name="failedAttempt"/>+1 may start after attempt <paramref name="failedAttempt"/> failed at
    /// <paramref name="at"/>, or null when it was the last one (dead letter). A provider's own retry hint lengthens the wait,
    /// never shortens it.
    /// </summary>
    public static DateTimeOffset? NextAttempt(int failedAttempt, DateTimeOffset at, TimeSpan? retryAfter, WriteSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (failedAttempt < 1 || failedAttempt > settings.Backoff.Length) return null;
        var wait = settings.Backoff[failedAttempt - 1];
        if (retryAfter is { } r && r > wait) wait = r > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : r;
        return at + wait;
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) Buffer(BufferedWriteState state, BufferWrite b)
    {
        if (state.Status != WriteStatus.None)
            return state.Marker == b.Marker
                ? (new(WriteResultCode.Ok, "already buffered", state), [])
                : Conflict(state, $"the write id '{state.Id.Value}' is already taken");
        if (b.Window <= TimeSpan.Zero || b.Window > MaxWindow) return (new(WriteResultCode.Invalid, "the window must be positive and at most 7 days", state), []);
        if (!b.Marker.IsFor(b.WriteId)) return (new(WriteResultCode.Invalid, "the marker does not belong to this write", state), []);
        if (b.Arguments.ValueKind != JsonValueKind.Object) return (new(WriteResultCode.Invalid, "the arguments must be an object", state), []);
        ArgumentException.ThrowIfNullOrEmpty(b.SessionId);
        return Ok(state, "buffered", new WriteBuffered(b.WriteId, b.Service, b.Operation, b.Arguments.Clone(), b.Marker, b.Agent, Clip(b.SessionId, 128),
            Clip(b.Description ?? string.Empty, MaxDescription), b.At + b.Window, b.Rollback, b.At));
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) Cancel(BufferedWriteState state, CancelWrite c)
    {
        // An agent learns nothing about writes that are not its own: the same answer as for an unknown id.
        if (c.OwnerOnly is { } owner && state.Agent != owner) return (new(WriteResultCode.NotFound, $"no buffered write '{state.Id.Value}'", BufferedWriteState.Empty(state.Id)), []);
        if (state.Status == WriteStatus.Cancelled) return (new(WriteResultCode.Ok, "already cancelled", state), []);
        if (state.Status != WriteStatus.Buffered) return Conflict(state, $"it is {state.Status.ToWire()}");
        // The window is over once its end has passed, even if the entity has not started the attempt yet.
        if (c.At >= state.BufferUntil) return Conflict(state, "its window has ended");
        return Ok(state, "cancelled", new WriteCancelled(state.Id, Clip(c.By, 128), Clip(c.Reason ?? string.Empty, MaxText), c.At));
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) Begin(BufferedWriteState state, BeginAttempt a)
    {
        if (a.ExpectedAttempts != state.Attempts && state.Status is WriteStatus.Buffered or WriteStatus.Executing)
            return Conflict(state, $"attempt {state.Attempts} is the latest, not {a.ExpectedAttempts}");
        switch (state.Status)
        {
            case WriteStatus.Buffered when a.At < state.BufferUntil:
                return (new(WriteResultCode.NotDue, "the window has not ended", state), []);
            case WriteStatus.Buffered:
                return Ok(state, "attempt 1", new AttemptStarted(state.Id, 1, false, a.At));
            case WriteStatus.Executing when state.AttemptOpen:
                // The previous attempt's outcome was never recorded (a crash, a lost node): it may have reached the provider.
                return Ok(state, $"attempt {state.Attempts + 1} (after an unrecorded attempt)", new AttemptStarted(state.Id, state.Attempts + 1, true, a.At));
            case WriteStatus.Executing when state.NextAttemptAt is { } next && a.At < next:
                return (new(WriteResultCode.NotDue, "the next attempt is not due", state), []);
            case WriteStatus.Executing:
                // Every attempt after the first looks up first: a timed-out request may have landed.
                return Ok(state, $"attempt {state.Attempts + 1}", new AttemptStarted(state.Id, state.Attempts + 1, state.Attempts > 0 || state.LookupFirst, a.At));
            default:
                return Conflict(state, $"it is {state.Status.ToWire()}");
        }
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) Rollback(BufferedWriteState state, RecordRollback r)
    {
        if (state.Status != WriteStatus.Executing || !state.AttemptOpen || r.Attempt != state.Attempts)
            return Conflict(state, "no attempt of that number is running");
        if (state.RollbackSpec is not { } spec) return (new(WriteResultCode.Invalid, "this operation has no rollback", state), []);
        if (r.Point.Data.ValueKind is JsonValueKind.Undefined || r.Point.Data.GetRawText().Length > 16 * 1024)
            return (new(WriteResultCode.Invalid, "the rollback data must be JSON of at most 16 KiB", state), []);
        var point = r.Point with { Kind = Clip(r.Point.Kind, 64), Data = r.Point.Data.Clone() };
        return Ok(state, "rollback recorded", new RollbackRecorded(state.Id, r.Attempt, point, r.At + spec.Retention, r.At));
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) Outcome(BufferedWriteState state, RecordOutcome o, WriteSettings settings)
    {
        if (state.Status == WriteStatus.Done && o.Result == AttemptResult.Done && o.Attempt == state.Attempts)
            return (new(WriteResultCode.Ok, "already done", state), []);
        if (state.Status != WriteStatus.Executing || !state.AttemptOpen || o.Attempt != state.Attempts)
            return Conflict(state, "no attempt of that number is running");
        var reason = Clip(string.IsNullOrWhiteSpace(o.Reason) ? "no reason given" : o.Reason, MaxText);
        switch (o.Result)
        {
            case AttemptResult.Done:
                if (string.IsNullOrEmpty(o.ProviderReference)) return (new(WriteResultCode.Invalid, "a done write needs the provider's reference", state), []);
                return Ok(state, "done", new WriteExecuted(state.Id, o.Attempt, Clip(o.ProviderReference, 512), o.At));
            case AttemptResult.Permanent:
                return Ok(state, "dead-lettered (permanent failure)", new WriteDeadLettered(state.Id, o.Attempt, reason, true, o.At));
            default:
                return NextAttempt(o.Attempt, o.At, o.RetryAfter, settings) is { } next
                    ? Ok(state, "retry scheduled", new AttemptFailed(state.Id, o.Attempt, reason, next, o.At))
                    : Ok(state, "dead-lettered (retries exhausted)", new WriteDeadLettered(state.Id, o.Attempt, reason, false, o.At));
        }
    }

    // An operator's rollback (ADR 0065). The first request that may run starts attempt n and is persisted before the provider
    // is called; once applied (or failed for good) every later request is answered with that first result and nothing runs.
    // An attempt that failed transiently, or whose outcome was never recorded (a crash), may be started again within the
    // retention: every rollback kind is idempotent at the provider (untrash, label changes, a delete of a deleted message).
    // A request while an attempt runs in this incarnation never reaches this decision: the entity makes it wait for that attempt.
    private static (WriteResult, ImmutableArray<IWriteEvent>) StartRollback(BufferedWriteState state, ApplyRollback r)
    {
        switch (state.RollbackApplied?.Status)
        {
            case RollbackApplyStatus.Applied:
                return (new(WriteResultCode.Ok, "already rolled back", state), []);
            case RollbackApplyStatus.Failed:
                return (new(WriteResultCode.Ok, "the rollback already failed", state), []);
        }
        if (state.Status != WriteStatus.Done) return (new(WriteResultCode.Conflict, $"only an executed write can be rolled back; it is {state.Status.ToWire()}", state), []);
        if (state.Rollback is null || state.RollbackKeptUntil is not { } keptUntil)
            return (new(WriteResultCode.Conflict, state.RollbackSpec is null
                ? $"{state.Operation?.Value ?? "this operation"} leaves no rollback point"
                : "no rollback point was recorded for this write (nothing needed undoing when it executed)", state), []);
        if (r.At >= keptUntil) return (new(WriteResultCode.Expired, $"its rollback point expired at {keptUntil.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}", state), []);
        var attempt = (state.RollbackApplied?.Attempts ?? 0) + 1;
        return Ok(state, $"rollback attempt {attempt}", new RollbackStarted(state.Id, attempt, Clip(r.By, 128), r.At));
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) RollbackOutcome(BufferedWriteState state, RecordRollbackOutcome r)
    {
        if (state.RollbackApplied is not { Status: RollbackApplyStatus.Applying } running || running.Attempts != r.Attempt)
            return Conflict(state, "no rollback attempt of that number is running");
        if (r.Applied)
            return Ok(state, "rolled back", new RollbackSucceeded(state.Id, r.Attempt, Clip(string.IsNullOrEmpty(r.Detail) ? "(no reference)" : r.Detail, 512), r.At));
        var reason = Clip(string.IsNullOrWhiteSpace(r.Detail) ? "no reason given" : r.Detail, MaxText);
        return Ok(state, r.Permanent ? "the rollback failed" : "the rollback failed (it may be requested again)",
            new RollbackFailed(state.Id, r.Attempt, reason, r.Permanent, r.At));
    }

    private static (WriteResult, ImmutableArray<IWriteEvent>) Ok(BufferedWriteState state, string message, IWriteEvent e) =>
        (new(WriteResultCode.Ok, message, state.Apply(e)), [e]);

    private static (WriteResult, ImmutableArray<IWriteEvent>) Conflict(BufferedWriteState state, string message) =>
        (new(WriteResultCode.Conflict, message, state), []);

    private static string Clip(string text, int max) => text.Length <= max ? text : text[..max];
}
