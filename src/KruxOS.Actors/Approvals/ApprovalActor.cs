using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Actors.Audit;
using KruxOS.Core.Approvals;
using KruxOS.Core.Identity;
using KruxOS.Core.Supervision;
using static KruxOS.Actors.Approvals.ApprovalMessages;
using static KruxOS.Core.Approvals.ApprovalCommands;
using static KruxOS.Core.Approvals.ApprovalEvents;

namespace KruxOS.Actors.Approvals;

/// <summary>Dependencies every approval entity shares, resolved once per node.</summary>
/// <param name="Index">The node's read model, updated after each persist.</param>
/// <param name="GrantWindow">How long an accepted approval stays usable before a call claims it.</param>
/// <param name="ResolvedIdle">A resolved (or never requested) approval passivates after this long without messages.</param>
/// <param name="Clock">The clock commands are stamped with.</param>
/// <param name="Audit">The node's audit writer; resolutions are appended there before anyone hears of them (null: not audited, specs only).</param>
/// <param name="AuditTimeout">How long a resolution waits for the audit writer before the entity fails closed.</param>
public sealed record ApprovalDependencies(ApprovalIndex Index, TimeSpan GrantWindow, TimeSpan ResolvedIdle, TimeProvider Clock,
    IActorRef? Audit = null, TimeSpan? AuditTimeout = null);

/// <summary>
/// One approval, event-sourced under <c>approval-{id}</c>. Decisions are made by the pure
/// <see cref="ApprovalStateExtensions.ProcessCommand"/>; the actor persists, applies, updates the index,
/// publishes <c>approval_requested</c> / <c>approval_resolved</c>, and replies only after the events are
/// durable. It holds the callers waiting on it (the pipeline's tool runs); when it is accepted it offers the grant to
/// them (<see cref="GrantOffered"/>) and the first to claim it runs (ADR 0058: accepting never spends the grant, so a
/// waiter whose node died leaves it to the call that re-attaches). It keeps the hold deadline and the
/// grant window as timers re-armed from the persisted deadlines after every recovery (a restart does not
/// reset the clock; a deadline already past times out at once), and passivates once resolved.
/// Journal events are never deleted.
/// <para>Audit: a resolving event (approved, rejected, timed out, expired) is appended to the audit writer as
/// an <c>approval_resolution</c> entry (<see cref="ApprovalAudit.Resolution"/>) once it is persisted; waiters
/// are released and the decider answered only when the writer acknowledged it. If the writer refuses or does
/// not answer in time, the waiters are released without running (fail closed) and the error is logged; the
/// persisted decision stands.</para>
/// </summary>
public sealed class ApprovalActor : ReceivePersistentActor, IWithTimers
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "approval-";

    /// <summary>A snapshot is taken every this many events.</summary>
    public const int SnapshotEvery = 50;

    private const string DeadlineTimer = "deadline";
    private const string AuditTimer = "audit";
    private AuditAcknowledgements? _acks;
    private Action? _afterAudit;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ApprovalId _id;
    private readonly ApprovalDependencies _deps;
    private readonly List<IActorRef> _waiters = [];
    // Waiters already told another claim won: their own claim, still on its way, gets no second answer.
    private readonly HashSet<IActorRef> _outclaimed = [];
    private readonly List<Hold> _early = [];
    private const string OrphanTimer = "orphan-holds";

    /// <summary>How long a hold that arrives before its request (another run's request in flight) waits for it.</summary>
    public static readonly TimeSpan EarlyHoldWait = TimeSpan.FromSeconds(5);
    private ApprovalState _state = ApprovalState.Empty;

    public ApprovalActor(string entityId, ApprovalDependencies deps)
    {
        _id = ApprovalId.Parse(entityId);
        _deps = deps;

        Recover<IApprovalEvent>(e => _state = _state.Apply(e));
        Recover<SnapshotOffer>(offer => { if (offer.Snapshot is ApprovalState s) _state = s; });
        Recover<RecoveryCompleted>(_ =>
        {
            _deps.Index.Publish(_state, LastSequenceNr);
            ArmTimers();
            UpdateIdle();
        });

        Command<IApprovalCommand>(c => Handle(c, Sender));
        Command<Hold>(HandleHold);
        Command<ReleaseWaiter>(m => { _waiters.Remove(m.Waiter); Context.Unwatch(m.Waiter); });
        Command<GetApproval>(_ => Sender.Tell(_state));
        Command<CheckDeadline>(_ => OnDeadline());
        Command<DeadlineReached>(_ => OnDeadline());
        Command<OrphanHolds>(_ =>
        {
            foreach (var h in _early) h.Waiter.Tell(new Released(_state, false, $"approval '{h.ApprovalId}' not found"));
            _early.Clear();
        });
        Command<Terminated>(t => _waiters.Remove(t.ActorRef));
        Command<ReceiveTimeout>(_ =>
        {
            if (_waiters.Count == 0 && !_state.IsOpen) Context.Parent.Tell(new Passivate(PoisonPill.Instance));
        });
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Approval {0} snapshot failed; the journal still holds every event", _id));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Deleting old snapshots of approval {0} failed", _id));
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _id.Value;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string entityId, ApprovalDependencies deps) =>
        Akka.Actor.Props.Create(() => new ApprovalActor(entityId, deps));

    private void Handle(IApprovalCommand command, IActorRef replyTo, Action<ApprovalResult>? after = null)
    {
        if (command is Decide d)
            command = d with { GrantUntil = d.At + _deps.GrantWindow };
        var (result, events) = _state.ProcessCommand(command);
        if (events.IsEmpty)
        {
            replyTo.Tell(result);
            after?.Invoke(result);
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (--remaining > 0) return;
            _deps.Index.Publish(_state, LastSequenceNr);
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state);
            foreach (var evt in events) Announce(evt);
            ArmTimers();
            AuditThen(events, () => Complete(events, result, replyTo, after));
        });
    }

    // Appends the resolution entries of events, then runs next once every one is acknowledged (other
    // messages wait in the stash meanwhile). Without resolving events or an audit writer, next runs at once.
    private void AuditThen(IReadOnlyList<IApprovalEvent> events, Action next)
    {
        var entries = _deps.Audit is null ? [] : events.Select(e => ApprovalAudit.Resolution(_state, e)).OfType<Core.Audit.AuditEntry>().ToList();
        if (entries.Count == 0)
        {
            next();
            return;
        }
        // One set of acknowledgements per resolution: its first failure is this resolution's alone.
        _acks = new AuditAcknowledgements(_deps.Audit!, Timers, AuditTimer, _deps.AuditTimeout ?? TimeSpan.FromSeconds(10));
        _afterAudit = next;
        _acks.Append(entries, Self);
        _acks.ArmDeadline();
        BecomeStacked(AwaitingAudit);
    }

    private void AwaitingAudit() => CommandAny(m =>
    {
        if (!_acks!.TryHandle(m, out var ack))
        {
            Stash.Stash();
            return;
        }
        if (ack.Kind == AuditAckKind.Stale || !ack.AllSettled) return;
        AuditDone(ack.Kind == AuditAckKind.TimedOut ? _acks.FirstFailure ?? "the audit log did not confirm the resolution in time" : _acks.FirstFailure);
    });

    private void AuditDone(string? failure)
    {
        _acks!.CancelDeadline();
        UnbecomeStacked();
        var next = _afterAudit!;
        _afterAudit = null;
        if (failure is { } reason)
        {
            _log.Error("Approval {0}: the audit log did not record the resolution ({1}); held calls fail closed", _id, reason);
            // Fail closed: nobody runs on a decision the audit log does not hold.
            foreach (var w in _waiters)
            {
                w.Tell(new Released(_state, false, $"the audit log did not record the resolution of approval '{_id}': {reason}"));
                Context.Unwatch(w);
            }
            _waiters.Clear();
        }
        next();
        Stash.UnstashAll();
    }

    private void Complete(IReadOnlyList<IApprovalEvent> events, ApprovalResult result, IActorRef replyTo, Action<ApprovalResult>? after)
    {
        {
            ReleaseWaiters(events);
            UpdateIdle();
            replyTo.Tell(result);
            if (events.Any(x => x is ApprovalRequested) && _early.Count > 0)
            {
                Timers.Cancel(OrphanTimer);
                var early = _early.ToList();
                _early.Clear();
                foreach (var h in early) HandleHold(h);
            }
            after?.Invoke(result);
        }
    }

    private void HandleHold(Hold m)
    {
        if (_state.IsNew)
        {
            // Another run's request for the identical call may still be on its way: wait for it briefly.
            _early.Add(m);
            Timers.StartSingleTimer(OrphanTimer, OrphanHolds.Instance, EarlyHoldWait);
            return;
        }
        var r = _state.Request!;
        if (m.Agent != r.Agent || m.Capability != r.Capability || m.ArgumentsHash != r.ArgumentsHash)
        {
            m.Waiter.Tell(new Released(_state, false, $"approval '{m.ApprovalId}' is bound to another call"));
            return;
        }
        switch (_state.Status)
        {
            case ApprovalStatus.Pending when m.Wait:
                if (!_waiters.Contains(m.Waiter))
                {
                    _waiters.Add(m.Waiter);
                    Context.Watch(m.Waiter);
                }
                m.Waiter.Tell(new Held(_state));
                return;
            case ApprovalStatus.Pending:
                m.Waiter.Tell(new Held(_state));
                return;
            case ApprovalStatus.Consumed when _outclaimed.Remove(m.Waiter):
                return;
            case ApprovalStatus.Approved or ApprovalStatus.Consumed:
                // A claim: the first identical call to claim an accepted approval spends it and runs; its claimant asking again
                // (the answer was lost, it held again after this entity moved) is told it runs; anyone else finds it used.
                Handle(new ClaimGrant(m.ApprovalId, Claimant(m.Waiter), m.Agent, m.Capability, m.ArgumentsHash, m.Wait, _deps.Clock.GetUtcNow()),
                    ActorRefs.Nobody, result => m.Waiter.Tell(new Released(_state, result.IsOk, result.IsOk ? "approved" : result.Message)));
                return;
            default:
                m.Waiter.Tell(new Released(_state, false, $"approval '{m.ApprovalId}' is {_state.Status.ToWire()}"));
                return;
        }
    }

    private void OnDeadline()
    {
        var now = _deps.Clock.GetUtcNow();
        switch (_state.Status)
        {
            case ApprovalStatus.Pending when now >= _state.Request!.Deadline:
                Handle(new TimeOut(_id, now), ActorRefs.Nobody);
                break;
            case ApprovalStatus.Approved when _state.GrantUntil is { } end && now >= end:
                Handle(new LapseGrant(_id, now), ActorRefs.Nobody);
                break;
            default:
                ArmTimers();
                break;
        }
    }

    private void ReleaseWaiters(IReadOnlyList<IApprovalEvent> events)
    {
        if (_waiters.Count == 0 || _state.Status == ApprovalStatus.Pending) return;
        if (_state.Status == ApprovalStatus.Approved)
        {
            // Accepted: every waiter is offered the grant and stays registered until one claims it (or the window ends).
            if (events.Any(e => e is ApprovalGranted))
                foreach (var w in _waiters) w.Tell(new GrantOffered(_state));
            return;
        }
        // One approval, one execution: the claimant is answered by its claim; every other identical call held on it fails
        // instead of running a second time, as does every waiter when the approval ended any other way.
        var winner = events.OfType<GrantConsumed>().Select(c => c.Claimant).FirstOrDefault();
        foreach (var w in _waiters)
        {
            Context.Unwatch(w);
            if (winner is not null && Claimant(w) == winner) continue;
            if (winner is not null) _outclaimed.Add(w);
            w.Tell(new Released(_state, false, Explain()));
        }
        _waiters.Clear();
    }

    /// <summary>
    /// A waiter's identity as a claimant: its full actor path with the node's address and the actor's uid, the same whichever
    /// node this entity runs on, and different for every incarnation of the waiter.
    /// </summary>
    public static string Claimant(IActorRef waiter) => Akka.Serialization.Serialization.SerializedActorPath(waiter);

    private string Explain() => _state.Status switch
    {
        ApprovalStatus.Consumed => $"approval '{_id}' was used by another identical call",
        _ => $"approval '{_id}' is {_state.Status.ToWire()}",
    };

    private void ArmTimers()
    {
        if (_state.NextDeadline is { } deadline)
        {
            var delay = deadline - _deps.Clock.GetUtcNow();
            Timers.StartSingleTimer(DeadlineTimer, DeadlineReached.Instance, delay > TimeSpan.Zero ? Clamp(delay) : TimeSpan.Zero);
        }
        else
        {
            Timers.Cancel(DeadlineTimer);
        }
    }

    // Timers longer than this are re-armed when they fire (OnDeadline checks the real deadline).
    private static TimeSpan Clamp(TimeSpan delay) => delay > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : delay;

    private void UpdateIdle() => Context.SetReceiveTimeout(_state.IsOpen || _waiters.Count > 0 ? null : _deps.ResolvedIdle);

    private void Announce(IApprovalEvent e)
    {
        var r = _state.Request!;
        switch (e)
        {
            case ApprovalRequested:
                Publish(SupervisionEventTypes.ApprovalRequested, new
                {
                    approval_id = _id.Value, capability = r.Capability, arguments = r.Arguments, reason = r.Reason, rule = r.Rule,
                    client = r.Client.Name, deadline = r.Deadline,
                });
                break;
            case ApprovalGranted g:
                Publish(SupervisionEventTypes.ApprovalResolved, new { approval_id = _id.Value, capability = r.Capability, decision = "approved", decided_by = g.DecidedBy, decided_at = g.At, reason = g.Reason,
                    decider_role = g.Decider?.Role.ToWire(), decider_surface = g.Decider?.Surface.ToWire() });
                break;
            case ApprovalRejected j:
                Publish(SupervisionEventTypes.ApprovalResolved, new { approval_id = _id.Value, capability = r.Capability, decision = "rejected", decided_by = j.DecidedBy, decided_at = j.At, reason = j.Reason,
                    decider_role = j.Decider?.Role.ToWire(), decider_surface = j.Decider?.Surface.ToWire() });
                break;
            case ApprovalTimedOut t:
                Publish(SupervisionEventTypes.ApprovalResolved, new { approval_id = _id.Value, capability = r.Capability, decision = "timed_out", decided_by = "gateway", decided_at = t.At, reason = "no decision before the deadline" });
                break;
            case ApprovalExpired x:
                Publish(SupervisionEventTypes.ApprovalResolved, new { approval_id = _id.Value, capability = r.Capability, decision = "expired", decided_by = "gateway", decided_at = x.At, reason = x.Reason });
                break;
        }
    }

    private void Publish<T>(string type, T data) where T : notnull =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(type, _deps.Clock.GetUtcNow(), _state.Request!.Agent.Value, _state.Request.SessionId, data));

    private sealed class OrphanHolds : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly OrphanHolds Instance = new();
        private OrphanHolds() { }
    }

    private sealed class DeadlineReached : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly DeadlineReached Instance = new();
        private DeadlineReached() { }
    }
}
