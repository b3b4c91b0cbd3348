using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Actors.Persistence;
using KruxOS.Core.Alerts;
using KruxOS.Core.Audit;
using KruxOS.Core.Proxy;
using KruxOS.Core.State;
using KruxOS.Core.Supervision;
using KruxOS.Proxy;
using static KruxOS.Core.Proxy.WriteCommands;

namespace KruxOS.Actors.Proxy;

/// <summary>Dependencies every write entity shares, resolved once per node.</summary>
/// <param name="Index">The node's read model, updated after each persist.</param>
/// <param name="Adapters">The node's service adapters.</param>
/// <param name="Settings">The backoff schedule.</param>
/// <param name="Clock">The clock commands are stamped with.</param>
/// <param name="CallTimeout">How long one adapter step (lookup, capture, execute) may take before it counts as a transient failure.</param>
/// <param name="Idle">An entity with nothing running passivates after this long without messages (the index wakes it when due).</param>
public sealed record WriteDependencies(WriteIndex Index, ServiceAdapters Adapters, WriteSettings Settings, TimeProvider Clock, TimeSpan CallTimeout,
    TimeSpan Idle);

/// <summary>
/// One buffered write, event-sourced under <c>proxy-write-{id}</c> (ADR 0054). The pure
/// <see cref="BufferedWriteDecisions.ProcessCommand"/> decides; the entity persists, answers after persisting, updates
/// the <see cref="WriteIndex"/> and drives execution through its own commands:
/// <list type="number">
/// <item>the window ends (its own timer, or a wake from the index after a restart or passivation) → <c>BeginAttempt</c>
/// is persisted <em>before</em> the provider is called;</item>
/// <item>when an earlier attempt may have reached the provider (any retry, or an attempt left open by a crash) the adapter
/// looks for the write's marker first, and a found write is recorded done without being sent again;</item>
/// <item>the rollback point is captured and persisted before the provider call;</item>
/// <item>the adapter executes; the outcome is persisted: done, a retry after 1, 2, 4, 8, 16 min, or a dead letter with a
/// critical <c>proxy</c> alert.</item>
/// </list>
/// A cancel that the entity decides before the attempt has begun wins; after that the window is over. Never more than
/// one attempt runs: a begin carries the attempt count it expects.
/// </summary>
public sealed class BufferedWriteActor : DecidingPersistentActor<BufferedWriteState, IWriteCommand, IWriteEvent, WriteResult>, IWithTimers
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "proxy-write-";

    private const string DueTimer = "due";
    private const string StepTimer = "step";

    private enum Phase { None, Beginning, Preparing, RecordingRollback, Executing, Recording }

    private enum RollbackPhase { None, Starting, Applying, Recording }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly WriteId _id;
    private readonly WriteDependencies _deps;
    private readonly CancellationTokenSource _stop = new();
    private BufferedWriteState _observed;
    private Phase _phase;
    private int _stepAttempt;
    private RollbackPhase _rollback;
    private int _rollbackAttempt;
    private readonly List<IActorRef> _rollbackWaiters = [];

    public BufferedWriteActor(string entityId, WriteDependencies deps)
        : base(BufferedWriteState.Empty(WriteId.Parse(entityId)), 50, "Write " + entityId)
    {
        _id = WriteId.Parse(entityId);
        _deps = deps;
        _observed = State;
        Recover<RecoveryCompleted>(_ =>
        {
            _observed = State;
            _deps.Index.Publish(State, LastSequenceNr);
            Continue();
        });
        Command<WriteMessages.GetWrite>(_ => Sender.Tell(State));
        Command<WriteMessages.WakeWrite>(_ => Continue());
        Command<Due>(_ => Continue());
        Command<WriteResult>(OnOwnResult);
        Command<Prepared>(OnPrepared);
        Command<Executed>(OnExecuted);
        Command<WriteMessages.RollbackRequest>(OnRollbackRequest);
        Command<RolledBack>(OnRolledBack);
        Command<ReceiveTimeout>(_ =>
        {
            if (_phase == Phase.None && _rollback == RollbackPhase.None && !(State.Status == WriteStatus.Executing && State.AttemptOpen))
                Context.Parent.Tell(new Passivate(PoisonPill.Instance));
        });
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _id.Value;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The entity's props.</summary>
    public static Props Props(string entityId, WriteDependencies deps) => Akka.Actor.Props.Create(() => new BufferedWriteActor(entityId, deps));

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        Context.SetReceiveTimeout(_deps.Idle);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
        base.PostStop();
    }

    /// <inheritdoc />
    protected override (WriteResult Reply, ImmutableArray<IWriteEvent> Events) Decide(BufferedWriteState state, IWriteCommand command) =>
        // Rollback attempts are started and closed only by this entity itself, one at a time (requests wait for the running one).
        command is ApplyRollback or RecordRollbackOutcome && (!Sender.Equals(Self) || _rollback == RollbackPhase.None)
            ? (new WriteResult(WriteResultCode.Conflict, "a rollback is asked for with a rollback request, not with a command", state), [])
            : state.ProcessCommand(command, _deps.Settings);

    /// <inheritdoc />
    protected override BufferedWriteState Apply(BufferedWriteState state, IWriteEvent @event) => state.Apply(@event);

    /// <inheritdoc />
    protected override object ToSnapshot(BufferedWriteState state) => state;

    /// <inheritdoc />
    protected override BufferedWriteState? FromSnapshot(object snapshot) => snapshot as BufferedWriteState;

    /// <inheritdoc />
    protected override WriteResult Malformed(IWriteCommand command) => new(WriteResultCode.Invalid, "malformed command", State);

    /// <inheritdoc />
    protected override void Persisted()
    {
        _deps.Index.Publish(State, LastSequenceNr);
        var before = _observed;
        _observed = State;
        if (before.Status == WriteStatus.None && State.Status == WriteStatus.Buffered) PublishBuffered();
        if (before.Status != WriteStatus.DeadLettered && State.Status == WriteStatus.DeadLettered) RaiseDeadLetter();
        if (State.Status.IsFinal() || State.Status == WriteStatus.DeadLettered) Timers.Cancel(DueTimer);
        // Commands from outside (a cancel, an operator retry) may change what is due; our own steps continue from their replies.
        if (_phase == Phase.None) Continue();
    }

    // Acts on what is due now: arms the timer for later, or begins an attempt. Never starts one while a step runs.
    private void Continue()
    {
        if (_phase != Phase.None) return;
        var now = _deps.Clock.GetUtcNow();
        switch (State.Status)
        {
            case WriteStatus.Executing when State.AttemptOpen:
                // Left open by an earlier incarnation (crash, lost node): a new attempt, which looks the write up first.
                Begin(now);
                return;
            case WriteStatus.Buffered or WriteStatus.Executing when State.DueAt is { } due:
                if (due <= now) Begin(now);
                else Timers.StartSingleTimer(DueTimer, Due.Instance, Clamp(due - now));
                return;
        }
    }

    private void Begin(DateTimeOffset now)
    {
        _phase = Phase.Beginning;
        Self.Tell(new BeginAttempt(_id, State.Attempts, now));
    }

    // The replies to the commands this entity sends itself (after they are persisted, or refused).
    private void OnOwnResult(WriteResult result)
    {
        if (_rollback != RollbackPhase.None)
        {
            OnRollbackResult(result);
            return;
        }
        switch (_phase)
        {
            case Phase.Beginning when result.IsOk && State is { Status: WriteStatus.Executing, AttemptOpen: true }:
                Prepare(State.Attempts);
                return;
            case Phase.RecordingRollback when result.IsOk && State.AttemptOpen && State.Attempts == _stepAttempt:
                Execute(_stepAttempt);
                return;
            case Phase.RecordingRollback:
                _log.Warning("Write {0}: the rollback point was refused ({1}); the write does not execute", _id, result.Message);
                Record(_stepAttempt, result.Code == WriteResultCode.Invalid ? AttemptResult.Permanent : AttemptResult.Transient, null,
                    "the rollback point could not be recorded: " + result.Message, null);
                return;
            case Phase.Beginning or Phase.Recording:
                _phase = Phase.None;
                Continue();
                return;
        }
    }

    // Step 1: look the write up (when an earlier attempt may have landed) and capture the rollback point.
    private void Prepare(int attempt)
    {
        if (Adapter() is not { } adapter)
        {
            _stepAttempt = attempt;
            Record(attempt, AttemptResult.Transient, null, $"no adapter is registered for the service '{State.Service.Value}'", null);
            return;
        }
        _phase = Phase.Preparing;
        _stepAttempt = attempt;
        var execution = Execution(attempt);
        var lookupFirst = State.LookupFirst;
        var capture = State.RollbackSpec is not null && State.Rollback is null;
        var ct = StepToken();
        RunPrepare(adapter, execution, lookupFirst, capture, ct).PipeTo(Self,
            success: p => p,
            failure: e => new Prepared(attempt, null, WriteOutcome.Transient($"the adapter failed while preparing ({e.GetType().Name})"), null));
    }

    private static async Task<Prepared> RunPrepare(IServiceAdapter adapter, WriteExecution execution, bool lookupFirst, bool capture, CancellationToken ct)
    {
        if (lookupFirst)
        {
            switch (await Guard(() => adapter.FindExecutedAsync(execution, ct), ct).ConfigureAwait(false))
            {
                case ExecutedLookup.Found f:
                    return new Prepared(execution.Attempt, f.ProviderReference, null, null);
                case ExecutedLookup.Unknown u:
                    return new Prepared(execution.Attempt, null, WriteOutcome.Transient("the provider could not be asked whether an earlier attempt landed: " + u.Reason), null);
                case null:
                    return new Prepared(execution.Attempt, null, WriteOutcome.Transient("the lookup of an earlier attempt timed out"), null);
            }
        }
        if (!capture) return new Prepared(execution.Attempt, null, null, null);
        return await Guard(() => adapter.CaptureRollbackAsync(execution, ct), ct).ConfigureAwait(false) switch
        {
            RollbackCapture.Captured c => new Prepared(execution.Attempt, null, null, c.Point),
            RollbackCapture.Failed f => new Prepared(execution.Attempt, null, f.Failure, null),
            null => new Prepared(execution.Attempt, null, WriteOutcome.Transient("capturing the rollback point timed out"), null),
            _ => new Prepared(execution.Attempt, null, null, null),
        };
    }

    private void OnPrepared(Prepared p)
    {
        if (_phase != Phase.Preparing || p.Attempt != _stepAttempt) return;
        if (p.FoundReference is { } found)
        {
            _log.Info("Write {0}: attempt {1} found the write already at the provider; not sending it again", _id, p.Attempt);
            Record(p.Attempt, AttemptResult.Done, found, "found at the provider by its marker", null);
            return;
        }
        if (p.Failure is { } failure)
        {
            Record(p.Attempt, Result(failure.Kind), null, failure.Reason, failure.RetryAfter);
            return;
        }
        if (p.Point is { } point)
        {
            _phase = Phase.RecordingRollback;
            Self.Tell(new RecordRollback(_id, p.Attempt, new WriteRollback(point.Kind, point.Data, point.CapturedAt), _deps.Clock.GetUtcNow()));
            return;
        }
        Execute(p.Attempt);
    }

    // Step 2: the provider call, with the marker inside.
    private void Execute(int attempt)
    {
        if (Adapter() is not { } adapter)
        {
            Record(attempt, AttemptResult.Transient, null, $"no adapter is registered for the service '{State.Service.Value}'", null);
            return;
        }
        _phase = Phase.Executing;
        var execution = Execution(attempt);
        var ct = StepToken();
        Guard(() => adapter.ExecuteAsync(execution, ct), ct).PipeTo(Self,
            success: o => new Executed(attempt, o ?? WriteOutcome.Transient("the provider call timed out (it may have landed; the next attempt looks it up)")),
            failure: e => new Executed(attempt, WriteOutcome.Transient($"the adapter failed ({e.GetType().Name}); the next attempt looks the write up first")));
    }

    private void OnExecuted(Executed e)
    {
        if (_phase != Phase.Executing || e.Attempt != _stepAttempt) return;
        switch (e.Outcome)
        {
            case WriteOutcome.Done d:
                Record(e.Attempt, AttemptResult.Done, string.IsNullOrEmpty(d.ProviderReference) ? "(no reference)" : d.ProviderReference, "done", null);
                return;
            case WriteOutcome.Failed f:
                _log.Warning("Write {0}: attempt {1} failed ({2}): {3}", _id, e.Attempt, f.Kind, InputSanitizer.RedactTokens(f.Reason));
                Record(e.Attempt, Result(f.Kind), null, InputSanitizer.RedactTokens(f.Reason), f.RetryAfter);
                return;
        }
    }

    // ---- operator rollback (ADR 0065) --------------------------------------------------------------------------------------

    // Every request joins the running attempt, if there is one; only the first starts one. All of them get its result.
    private void OnRollbackRequest(WriteMessages.RollbackRequest request)
    {
        _rollbackWaiters.Add(Sender);
        if (_rollback != RollbackPhase.None) return;
        if (_phase != Phase.None)
        {
            // an attempt of the write itself runs: it is not done, so there is nothing to roll back yet
            AnswerRollback(new WriteResult(WriteResultCode.Conflict, $"only an executed write can be rolled back; it is {State.Status.ToWire()}", State));
            return;
        }
        _rollback = RollbackPhase.Starting;
        Self.Tell(new ApplyRollback(_id, request.By, request.At));
    }

    private void OnRollbackResult(WriteResult result)
    {
        switch (_rollback)
        {
            case RollbackPhase.Starting when result.IsOk && State.RollbackApplied is { Status: RollbackApplyStatus.Applying } started && result.State.RollbackApplied == started:
                ApplyRollbackPoint(started.Attempts);
                return;
            default:
                // refused, answered with the first result, or the outcome is recorded
                AnswerRollback(result);
                return;
        }
    }

    private void ApplyRollbackPoint(int attempt)
    {
        _rollbackAttempt = attempt;
        if (Adapter() is not { } adapter || State.Rollback is not { } point)
        {
            RecordRollback(attempt, WriteOutcome.Transient($"no adapter is registered for the service '{State.Service.Value}'"));
            return;
        }
        _rollback = RollbackPhase.Applying;
        var execution = Execution(State.Attempts) with { ProviderReference = State.ProviderReference };
        var ct = StepToken();
        Guard(() => adapter.ApplyRollbackAsync(new RollbackPoint(point.Kind, point.Data, point.CapturedAt), execution, ct), ct).PipeTo(Self,
            success: o => new RolledBack(attempt, o ?? WriteOutcome.Transient("the provider did not answer in time (the rollback may have been applied; asking again is harmless)")),
            failure: e => new RolledBack(attempt, WriteOutcome.Transient($"the adapter failed ({e.GetType().Name})")));
    }

    private void OnRolledBack(RolledBack r)
    {
        if (_rollback != RollbackPhase.Applying || r.Attempt != _rollbackAttempt) return;
        RecordRollback(r.Attempt, r.Outcome);
    }

    private void RecordRollback(int attempt, WriteOutcome outcome)
    {
        _rollback = RollbackPhase.Recording;
        var command = outcome switch
        {
            WriteOutcome.Done d => new RecordRollbackOutcome(_id, attempt, true, false, d.ProviderReference, _deps.Clock.GetUtcNow()),
            WriteOutcome.Failed f => new RecordRollbackOutcome(_id, attempt, false, f.Kind == WriteFailureKind.Permanent, InputSanitizer.RedactTokens(f.Reason),
                _deps.Clock.GetUtcNow()),
            _ => new RecordRollbackOutcome(_id, attempt, false, false, "the adapter gave no answer", _deps.Clock.GetUtcNow()),
        };
        if (outcome is WriteOutcome.Failed failed)
            _log.Warning("Write {0}: rollback attempt {1} failed ({2}): {3}", _id, attempt, failed.Kind, InputSanitizer.RedactTokens(failed.Reason));
        Self.Tell(command);
    }

    private void AnswerRollback(WriteResult result)
    {
        foreach (var waiter in _rollbackWaiters) waiter.Tell(result);
        _rollbackWaiters.Clear();
        _rollback = RollbackPhase.None;
    }

    private void Record(int attempt, AttemptResult result, string? reference, string? reason, TimeSpan? retryAfter)
    {
        _phase = Phase.Recording;
        Self.Tell(new RecordOutcome(_id, attempt, result, reference, reason, retryAfter, _deps.Clock.GetUtcNow()));
    }

    private IServiceAdapter? Adapter() => _deps.Adapters.Find(State.Service);

    private WriteExecution Execution(int attempt) => new(_id, State.Service, State.Operation!.Value, State.Arguments!.Value, State.Marker, State.Agent!.Value,
        State.SessionId, attempt, State.Rollback is { } r ? new RollbackPoint(r.Kind, r.Data, r.CapturedAt) : null);

    private CancellationToken StepToken()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        cts.CancelAfter(_deps.CallTimeout);
        return cts.Token;
    }

    // Runs an adapter step; null when it was cancelled by the step's deadline (the entity's own stop propagates).
    private static async Task<T?> Guard<T>(Func<Task<T>> step, CancellationToken ct) where T : class
    {
        try
        {
            return await step().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private static AttemptResult Result(WriteFailureKind kind) => kind == WriteFailureKind.Permanent ? AttemptResult.Permanent : AttemptResult.Transient;

    private static TimeSpan Clamp(TimeSpan delay) =>
        delay < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : delay > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : delay;

    private void PublishBuffered() =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(ProxyEvents.WriteBuffered, State.BufferedAt, State.Agent?.Value, State.SessionId,
            new WriteBufferedData(State.Id.Value, State.Service.Value, State.Operation?.Value ?? string.Empty, ProxyJson.Time(State.BufferUntil), true)));

    private void RaiseDeadLetter()
    {
        var context = new JsonObject
        {
            ["write_id"] = State.Id.Value,
            ["service"] = State.Service.Value,
            ["operation"] = State.Operation?.Value,
            ["agent"] = State.Agent?.Value,
            ["attempts"] = State.Attempts,
            ["reason"] = State.LastError,
        };
        _log.Error("Write {0} ({1}) is dead-lettered after {2} attempt(s): {3}", _id, State.Operation, State.Attempts, State.LastError);
        Context.System.EventStream.Publish(new SystemAlertRaised(ProxyEvents.AlertComponent, AlertSeverity.Critical,
            $"A {State.Operation} write ({State.Id.Value}) of agent '{State.Agent}' failed {State.Attempts} time(s) and is in the dead letters: "
            + $"{State.LastError}. Retry it with 'kruxos proxy retry {State.Id.Value}' or discard it with 'kruxos proxy discard {State.Id.Value}'.",
            StoredJson.Parse(context.ToJsonString())));
    }

    private sealed class Due : INoSerializationVerificationNeeded, IDeadLetterSuppression, INotInfluenceReceiveTimeout
    {
        public static readonly Due Instance = new();
        private Due() { }
    }

    private sealed record Prepared(int Attempt, string? FoundReference, WriteOutcome.Failed? Failure, RollbackPoint? Point) : INoSerializationVerificationNeeded;

    private sealed record Executed(int Attempt, WriteOutcome Outcome) : INoSerializationVerificationNeeded;

    private sealed record RolledBack(int Attempt, WriteOutcome Outcome) : INoSerializationVerificationNeeded;
}

/// <summary>The <c>data</c> of a <c>write_buffered</c> supervision event (spec §5).</summary>
public sealed record WriteBufferedData(string WriteId, string Service, string Operation, string BufferUntil, bool Cancellable);

/// <summary>Names the proxy publishes under.</summary>
public static class ProxyEvents
{
    /// <summary>The supervision event of a buffered write (spec §5).</summary>
    public const string WriteBuffered = "write_buffered";

    /// <summary>The component of the proxy's system alerts.</summary>
    public const string AlertComponent = "proxy";
}

/// <summary>Wire formatting shared by the proxy's surfaces.</summary>
public static class ProxyJson
{
    /// <summary>RFC 3339 UTC with milliseconds.</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
}
