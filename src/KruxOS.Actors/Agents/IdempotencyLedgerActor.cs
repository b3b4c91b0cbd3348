using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Approvals;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using static KruxOS.Core.Sessions.IdempotencyEvents;

namespace KruxOS.Actors.Agents;

/// <summary>Messages between an agent's session, its idempotency ledger and the session's tool runs.</summary>
public static class IdempotencyMessages
{
    /// <summary>Session → ledger: a call with an idempotency key arrived.</summary>
    public sealed record Begin(AgentSessionCommands.Invoke Invoke, string Key, string Fingerprint);

    /// <summary>
    /// Ledger → session: start a run for the call. With <paramref name="Reattach"/> the run joins that
    /// approval instead of asking for a new one; with <paramref name="Refusal"/> it only records and returns the refusal.
    /// </summary>
    public sealed record Admitted(AgentSessionCommands.Invoke Invoke, ApprovalId? Reattach = null, StructuredError? Refusal = null);

    /// <summary>Run → ledger: the call is held on <paramref name="ApprovalId"/> (the request is durable).</summary>
    public sealed record RunHeld(string Key, ApprovalId ApprovalId);

    /// <summary>Run → ledger: the approval released the call to run.</summary>
    public sealed record RunResumed(string Key);

    /// <summary>Run → ledger: the call's answer, to record and then deliver to every waiter; <paramref name="Executed"/>: the capability was started.</summary>
    public sealed record RunAnswered(string Key, ToolCallResult Result, bool Executed);

    /// <summary>Run → ledger: the run waiting on approval <paramref name="ApprovalId"/> stopped because its caller (<paramref name="Caller"/>) went away.</summary>
    public sealed record RunAbandoned(string Key, IActorRef Caller, ApprovalId ApprovalId);
}

/// <summary>How a run reports a keyed call: its key and the ledger to tell.</summary>
public sealed record KeyedCall(string Key, IActorRef Ledger);

/// <summary>
/// The idempotency keys of one agent, event-sourced under <c>idempotency-{agent}</c> as a child of the
/// agent's session. Decisions are the pure <see cref="IdempotencyLedger.Decide"/>; the actor persists, keeps
/// the callers waiting on each live key, and answers them only after the outcome is durable, so an answer
/// a client saw is an answer a re-sent call gets. What it does not persist is which calls are live: after a
/// restart a key recorded as running has no outcome and is answered <c>OutcomeUnknown</c> (never run twice),
/// and a key held for approval is re-attached to the same approval (ADR 0010).
/// </summary>
public sealed class IdempotencyLedgerActor : ReceivePersistentActor
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "idempotency-";

    /// <summary>A snapshot is taken every this many events; older events and snapshots are then deleted.</summary>
    public const int SnapshotEvery = 200;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _agent;
    private readonly IdempotencyLimits _limits;
    private readonly TimeProvider _clock;
    private readonly Dictionary<string, List<AgentSessionCommands.Invoke>> _live = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ToolCallResult> _answering = new(StringComparer.Ordinal);
    private IdempotencyLedger _ledger = IdempotencyLedger.Empty;

    public IdempotencyLedgerActor(string agent, IdempotencyLimits limits, TimeProvider clock)
    {
        _agent = agent;
        _limits = limits;
        _clock = clock;

        Recover<IIdempotencyEvent>(e => _ledger = _ledger.Apply(e, _limits));
        Recover<SnapshotOffer>(o => { if (o.Snapshot is IdempotencyLedger l) _ledger = l; });

        Command<IdempotencyMessages.Begin>(HandleBegin);
        Command<IdempotencyMessages.RunHeld>(HandleHeld);
        Command<IdempotencyMessages.RunResumed>(HandleResumed);
        Command<IdempotencyMessages.RunAnswered>(HandleAnswered);
        Command<IdempotencyMessages.RunAbandoned>(HandleAbandoned);
        Command<SaveSnapshotSuccess>(s =>
        {
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Idempotency ledger of {0}: snapshot failed; the journal still holds every event", _agent));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning(f.Cause, "Idempotency ledger of {0}: deleting old events failed", _agent));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Idempotency ledger of {0}: deleting old snapshots failed", _agent));
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _agent;

    public static Props Props(string agent, IdempotencyLimits limits, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new IdempotencyLedgerActor(agent, limits, clock));

    private void HandleBegin(IdempotencyMessages.Begin m)
    {
        var now = _clock.GetUtcNow();
        var verdict = _ledger.Decide(m.Key, m.Fingerprint, _live.ContainsKey(m.Key), now, _limits);
        switch (verdict.Kind)
        {
            case IdempotencyVerdictKind.Start:
                _live[m.Key] = [m.Invoke];
                Persist(new KeyStarted(m.Key, m.Fingerprint, m.Invoke.Call.RequestedName, now), e =>
                {
                    Applied(e);
                    // A key this ledger never saw may still name the approval its call was held on (ADR 0058).
                    Context.Parent.Tell(new IdempotencyMessages.Admitted(m.Invoke, m.Invoke.Call.Reattach));
                });
                return;
            case IdempotencyVerdictKind.Attach:
                _live[m.Key].Add(m.Invoke);
                _log.Debug("Idempotency key {0} of {1}: re-sent call attached to the live call", m.Key, _agent);
                return;
            case IdempotencyVerdictKind.Replay:
                _log.Debug("Idempotency key {0} of {1}: answered from the record", m.Key, _agent);
                m.Invoke.ReplyTo.Tell(IdempotencyLedger.Answer(verdict.Entry!));
                return;
            case IdempotencyVerdictKind.Reattach:
                _live[m.Key] = [m.Invoke];
                _log.Info("Idempotency key {0} of {1}: re-attaching to approval {2} after a restart", m.Key, _agent, verdict.Entry!.ApprovalId);
                Context.Parent.Tell(new IdempotencyMessages.Admitted(m.Invoke, verdict.Entry.ApprovalId));
                return;
            case IdempotencyVerdictKind.Unknown when verdict.Entry!.Status == IdempotencyStatus.Running:
                Persist(new KeyInterrupted(m.Key, now), e =>
                {
                    Applied(e);
                    Refuse(m, IdempotencyKeys.OutcomeUnknown(m.Key, verdict.Entry.Capability));
                });
                return;
            case IdempotencyVerdictKind.Unknown:
                Refuse(m, IdempotencyKeys.OutcomeUnknown(m.Key, verdict.Entry!.Capability));
                return;
            case IdempotencyVerdictKind.Conflict:
                Refuse(m, IdempotencyKeys.KeyReused(m.Key));
                return;
            default:
                Refuse(m, IdempotencyKeys.LedgerFull(_limits.MaxKeys));
                return;
        }
    }

    // The run is bound to an approval: recorded once (a re-sent key re-attaches to it after a restart), then every waiter that
    // asked is told which approval and which session hold the call, so it can re-attach if this session goes away (ADR 0058).
    private void HandleHeld(IdempotencyMessages.RunHeld m)
    {
        if (_ledger.Entries.TryGetValue(m.Key, out var entry) && entry.Status == IdempotencyStatus.Held && entry.ApprovalId == m.ApprovalId) return;
        Persist(new KeyHeld(m.Key, m.ApprovalId, _clock.GetUtcNow()), e =>
        {
            Applied(e);
            if (!_live.TryGetValue(m.Key, out var waiters)) return;
            foreach (var w in waiters.Where(w => w.Call.ReportHold))
                w.ReplyTo.Tell(new AgentSessionReplies.CallHeld(m.ApprovalId, Context.Parent));
        });
    }

    // The held run left its hold to run: recorded, then every waiter that asked is told, so that losing this session from now
    // on is answered as an unknown outcome rather than re-attached (ADR 0058).
    private void HandleResumed(IdempotencyMessages.RunResumed m)
    {
        var held = _ledger.Entries.TryGetValue(m.Key, out var entry) ? entry.ApprovalId : null;
        Persist(new KeyResumed(m.Key, _clock.GetUtcNow()), e =>
        {
            Applied(e);
            if (held is not { } id || !_live.TryGetValue(m.Key, out var waiters)) return;
            foreach (var w in waiters.Where(w => w.Call.ReportHold))
                w.ReplyTo.Tell(new AgentSessionReplies.CallReleased(id));
        });
    }

    // Refusals still go through a run, so they are audited like every other refused call.
    private void Refuse(IdempotencyMessages.Begin m, StructuredError error) =>
        Context.Parent.Tell(new IdempotencyMessages.Admitted(m.Invoke, null, error));

    private void HandleAnswered(IdempotencyMessages.RunAnswered m)
    {
        var evt = _ledger.Answered(m.Key, m.Result, m.Executed, Retainable(m.Result) ? m.Result : null, _clock.GetUtcNow());
        if (evt is null)
        {
            _log.Info("Idempotency key {0} of {1}: refused before it left its hold ({2}); it stays held on its approval", m.Key, _agent,
                m.Result.Error?.Message);
            AnswerWaiters(m.Key, m.Result);
            return;
        }
        _answering[m.Key] = m.Result;
        Persist(evt, e =>
        {
            Applied(e);
            _answering.Remove(m.Key);
            AnswerWaiters(m.Key, m.Result);
        });
    }

    // Every caller waiting on the key's live call gets its answer; the key has no live call from then on.
    private void AnswerWaiters(string key, ToolCallResult result)
    {
        if (!_live.Remove(key, out var waiters)) return;
        foreach (var w in waiters) w.ReplyTo.Tell(result);
    }

    private void HandleAbandoned(IdempotencyMessages.RunAbandoned m)
    {
        if (!_live.TryGetValue(m.Key, out var waiters)) return;
        waiters.RemoveAll(w => w.ReplyTo.Equals(m.Caller));
        if (waiters.Count > 0)
        {
            // A re-sent call joined while the first caller's run held: it takes over the hold.
            Context.Parent.Tell(new IdempotencyMessages.Admitted(waiters[^1], m.ApprovalId));
            return;
        }
        // Nobody waits: the key stays held in the record, so a re-sent call re-attaches to the approval (the
        // caller may have gone before the hold was acknowledged, so record it if it is not yet).
        _live.Remove(m.Key);
        if (_ledger.Entries.TryGetValue(m.Key, out var entry) && (entry.Status != IdempotencyStatus.Held || entry.ApprovalId != m.ApprovalId))
            Record(new KeyHeld(m.Key, m.ApprovalId, _clock.GetUtcNow()));
    }

    private void Record(IIdempotencyEvent evt) => Persist(evt, Applied);

    private void Applied(IIdempotencyEvent e)
    {
        _ledger = _ledger.Apply(e, _limits);
        if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_ledger);
    }

    private bool Retainable(ToolCallResult result)
    {
        var size = result.Data is { } d ? d.GetRawText().Length : 0;
        if (result.Error is { } err) size += JsonSerializer.Serialize(err, Core.CoreJson.Options).Length;
        return size <= _limits.MaxOutcomeBytes;
    }

    /// <summary>
    /// Stopped with calls still waiting on it (its session stopped, or a persist failure stopped it) while the node
    /// runs: each waiter is answered now, never left to its timeout. A key still recorded as running is answered <c>OutcomeUnknown</c> when
    /// re-sent to the next incarnation, so nothing runs twice.
    /// </summary>
    protected override void PostStop()
    {
        // Not at a gateway shutdown: a client re-sends its unanswered keyed calls after reconnecting (ADR 0010).
        var shuttingDown = CoordinatedShutdown.Get(Context.System).ShutdownReason is not null;
        foreach (var (key, waiters) in shuttingDown ? [] : _live)
        {
            // Recorded as held on an approval: nothing ran, so its callers re-attach to that approval (ADR 0058).
            var held = _ledger.Entries.TryGetValue(key, out var entry) && entry.Status == IdempotencyStatus.Held ? entry.ApprovalId : null;
            foreach (var w in waiters)
                w.ReplyTo.Tell(ToolCallResult.Failure(w.Call.RequestedName, held is { } id
                    ? Errors.ApprovalReattach(w.Call.RequestedName, id.Value)
                    : Errors.Internal($"The call with idempotency key '{key}' was cut off: the agent's session stopped before it was answered; it may or may not have taken effect."), null, 0));
        }
        _live.Clear();
        base.PostStop();
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Idempotency ledger of {0}: could not persist {1}; the ledger stops", _agent, @event.GetType().Name);
        Unrecorded(@event);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Idempotency ledger of {0}: the journal rejected {1}", _agent, @event.GetType().Name);
        Unrecorded(@event);
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    // An event could not be written. A call not yet run fails closed (it is not run); a call that ran
    // still gets its real answer (a later re-send of it will be answered OutcomeUnknown).
    private void Unrecorded(object evt)
    {
        if (evt is not (KeyStarted or KeyCompleted or KeyReleased) || !_live.Remove(((IIdempotencyEvent)evt).Key, out var waiters)) return;
        ToolCallResult? answer = evt is KeyCompleted or KeyReleased && _answering.Remove(((IIdempotencyEvent)evt).Key, out var result) ? result : null;
        foreach (var w in waiters)
            w.ReplyTo.Tell(answer ?? ToolCallResult.Failure(w.Call.RequestedName,
                Errors.ServiceUnavailable("idempotency", "the idempotency record could not be written; the call was not run"), null, 0));
    }
}
