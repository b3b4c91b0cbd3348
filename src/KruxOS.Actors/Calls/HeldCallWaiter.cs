using Akka.Actor;
using Akka.Event;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Approvals;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Calls;

/// <summary>
/// The submitter's side of one held call (ADR 0058), on the node of the edge that received it: it sends the call to the
/// agent's session entity (wherever its shard lives) and waits for the answer. When the session tells it which approval the
/// call is bound to (<see cref="AgentSessionReplies.CallHeld"/>) it watches that session entity; if the entity terminates
/// before answering — its node was killed or left the cluster, the entity stopped — or the session answers
/// <c>ApprovalReattach</c> (it was cut off while the call was held), the waiter sends the identical call again naming that
/// approval, and the session that now hosts the agent joins exactly that approval. So a held call is never stranded: it is
/// answered by the run that the approval releases (once), by the approval's end, or — after
/// <see cref="MaxReattaches"/> attempts — with the <c>ApprovalReattach</c> error itself, which a client such as mcp-bridge
/// acts on. Its deadline is the submitter's (<see cref="DispatchTimeouts.For"/>); the first answer wins, later ones are dropped.
/// <para>A call that is not held — it was never held, or its approval released it to run (<see cref="AgentSessionReplies.CallReleased"/>)
/// — may have run. The waiter watches the session entity from its receipt (<see cref="AgentSessionReplies.CallAccepted"/>); if the
/// entity terminates without answering (its node was lost: removed from the cluster after the resolver downed it), the waiter
/// answers at once <c>OutcomeUnknown</c> naming the lost node, recorded in this node's audit log, instead of waiting out the
/// submitter's timeout, and never sends such a call again.</para>
/// <para>One per held call, so an untyped actor made by a producer (ADR 0015).</para>
/// </summary>
public sealed class HeldCallWaiter : UntypedActor, IWithTimers
{
    /// <summary>Most re-attaches of one call before its <c>ApprovalReattach</c> answer goes to the client.</summary>
    public const int MaxReattaches = 8;

    /// <summary>Longest pause before a re-attach the session asked for (its <c>retry_after</c> is capped by this).</summary>
    public static readonly TimeSpan MaxReattachDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Pause between the holding session's termination and the re-attach: the node's shard region learns of the dead node's
    /// removal from the same cluster event, and a call sent before it has would still be routed to the dead node.
    /// </summary>
    public static readonly TimeSpan SessionGoneSettle = TimeSpan.FromSeconds(2);

    /// <summary>How long a re-attached call may go unacknowledged (no <c>CallHeld</c>, no answer) before it is sent again.</summary>
    public static readonly TimeSpan ReattachAckTimeout = TimeSpan.FromSeconds(10);

    private const string DeadlineTimer = "deadline";
    private const string AckTimer = "reattach-ack";
    private const string LostTimer = "session-lost";
    private const string AuditTimer = "audit";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _region;
    private readonly ToolCall _call;
    private readonly TaskCompletionSource<ToolCallResult> _answer;
    private readonly TimeSpan _timeout;
    private readonly LostCallAudit? _audit;
    private IActorRef? _session;
    private ApprovalId? _approval;
    // The approval that released this call to run, for the record of a call lost while running.
    private ApprovalId? _released;
    private int _reattaches;
    // Session entities known to have terminated: a late word from one of them is not a new home for the call.
    private readonly HashSet<IActorRef> _gone = [];
    private AuditAcknowledgements? _acks;
    private ToolCallResult? _lost;

    private HeldCallWaiter(IActorRef region, ToolCall call, TaskCompletionSource<ToolCallResult> answer, TimeSpan timeout, LostCallAudit? audit)
    {
        _region = region;
        _call = call;
        _answer = answer;
        _timeout = timeout;
        _audit = audit;
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// The waiter of <paramref name="call"/>: sends it through <paramref name="region"/> and completes <paramref name="answer"/>. A
    /// call lost with its session's node is recorded through <paramref name="audit"/> (none: answered without an entry here).
    /// </summary>
    public static Props Props(IActorRef region, ToolCall call, TaskCompletionSource<ToolCallResult> answer, TimeSpan timeout, LostCallAudit? audit = null) =>
        Akka.Actor.Props.CreateBy(new Producer(region, call, answer, timeout, audit));

    private sealed class Producer(IActorRef region, ToolCall call, TaskCompletionSource<ToolCallResult> answer, TimeSpan timeout, LostCallAudit? audit)
        : IIndirectActorProducer
    {
        public Type ActorType => typeof(HeldCallWaiter);

        public ActorBase Produce() => new HeldCallWaiter(region, call, answer, timeout, audit);

        public void Release(ActorBase actor) { }
    }

    /// <inheritdoc />
    protected override void PreStart()
    {
        Timers.StartSingleTimer(DeadlineTimer, DeadlineReached.Instance, _timeout);
        _region.Tell(new AgentSessionCommands.Invoke(_call.Agent, _call with { ReportHold = true }, Self), ActorRefs.NoSender);
    }

    /// <inheritdoc />
    protected override void PostStop() =>
        // Stopped by its submitter (the caller went away): the submitter has already given up on the task.
        _answer.TrySetCanceled();

    /// <inheritdoc />
    protected override void OnReceive(object message)
    {
        if (_lost is not null)
        {
            AwaitingAudit(message);
            return;
        }
        switch (message)
        {
            case ToolCallResult result:
                OnResult(result);
                return;
            case AgentSessionReplies.CallAccepted accepted:
                Timers.Cancel(AckTimer);
                WatchSession(accepted.Session);
                return;
            case AgentSessionReplies.CallHeld held:
                OnHeld(held);
                return;
            case AgentSessionReplies.CallReleased released when released.ApprovalId == _approval:
                // Released to run: from now on it may have run, so it is never sent again.
                _approval = null;
                _released = released.ApprovalId;
                return;
            case AgentSessionReplies.CallReleased:
                return;
            case Terminated t when t.ActorRef.Equals(_session):
                // The session that has the call is gone without answering it (its node was downed, or it stopped).
                _session = null;
                _gone.Add(t.ActorRef);
                if (_approval is { } id) Reattach(id, "the agent's session that held the call terminated", SessionGoneSettle);
                // Not held: it may have run. An answer sent just before the entity stopped still wins during the settle.
                else Timers.StartSingleTimer(LostTimer, new SessionLost(t.ActorRef), SessionGoneSettle);
                return;
            case SessionLost m when _session is null:
                Lost(m.Session);
                return;
            case SessionLost:
                return;
            case Terminated:
                return;
            case ReattachNow m:
                Send(m.Approval);
                return;
            case ReattachUnacknowledged m:
                Reattach(m.Approval, "the re-attached call was not acknowledged", TimeSpan.Zero);
                return;
            case DeadlineReached:
                Complete(CallDispatcher.TimedOut(_call.RequestedName, _timeout));
                return;
            default:
                Unhandled(message);
                return;
        }
    }

    private void OnHeld(AgentSessionReplies.CallHeld held)
    {
        if (_gone.Contains(held.Session)) return;
        Timers.Cancel(AckTimer);
        _approval = held.ApprovalId;
        WatchSession(held.Session);
    }

    private void WatchSession(IActorRef session)
    {
        if (session.Equals(_session) || _gone.Contains(session)) return;
        if (_session is not null) Context.Unwatch(_session);
        Timers.Cancel(LostTimer);
        _session = session;
        Context.Watch(_session);
    }

    // The session entity that had the call is gone without answering, and the call was not held: it may have run. The caller
    // is answered now — never a success, never "not run" — once the answer is in this node's audit log (or that failed).
    private void Lost(IActorRef session)
    {
        var node = Cluster.NodeId.Of(session.Path.Address);
        var capability = _audit?.CapabilityLabel ?? _call.RequestedName;
        var error = Errors.NodeLostOutcomeUnknown(capability, node, _call.IdempotencyKey);
        if (_released is { } approval) error = error.WithContext("request_id", approval.Value);
        _lost = ToolCallResult.Failure(_call.RequestedName, error, null, 0);
        _log.Warning("Call {0} of {1}: the session running it on node {2} was lost before it answered; answering OutcomeUnknown", _call.RequestedName, _call.Agent, node);
        if (_audit is not { } audit)
        {
            Complete(_lost);
            return;
        }
        var record = CallAudit.Record(_call, capability, _call.Arguments, null, audit.Clock.GetUtcNow(), AuditStatus.Error, _lost, _released?.Value,
            _released is null ? null : "approved");
        _acks = new AuditAcknowledgements(audit.Writer, Timers, AuditTimer, audit.Timeout);
        _acks.Append(CallAudit.Entries(record), Self);
        _acks.ArmDeadline();
    }

    private void AwaitingAudit(object message)
    {
        if (!_acks!.TryHandle(message, out var ack))
        {
            // The caller's answer is decided; a late answer from the lost node changes nothing.
            if (message is DeadlineReached) Complete(_lost!);
            return;
        }
        if (ack.Kind == AuditAckKind.Stale || !ack.AllSettled) return;
        _acks.CancelDeadline();
        // The answer is an error either way (nothing to fail closed); the operator learns the record is missing.
        if (_acks.FirstFailure is not null || ack.Kind == AuditAckKind.TimedOut)
            _log.Error("Call {0} of {1}: the audit log did not record its lost outcome ({2})", _call.RequestedName, _call.Agent,
                _acks.FirstFailure ?? "no answer in time");
        Complete(_lost!);
    }

    private void OnResult(ToolCallResult result)
    {
        // Cut off while held (the session stopped or restarted): re-attach, unless this call has done so too often.
        if (ApprovalReattach.Of(result.Error) is { } id && _reattaches < MaxReattaches)
        {
            var delay = TimeSpan.FromSeconds(Math.Clamp(result.Error!.RetryAfterSeconds ?? 1, 0, MaxReattachDelay.TotalSeconds));
            if (_session is not null) Context.Unwatch(_session);
            _session = null;
            _approval = id;
            _reattaches++;
            _log.Warning("Held call {0} of {1} was cut off; re-attaching to approval {2} in {3:0.0} s", _call.RequestedName, _call.Agent, id, delay.TotalSeconds);
            Timers.StartSingleTimer(("reattach", _reattaches), new ReattachNow(id), delay);
            return;
        }
        // A re-sent call that met a node or session still starting (identities, approvals or policy loading: refused before
        // anything ran) is sent again shortly, not handed to the client as the call's answer.
        if (_reattaches > 0 && _approval is { } again && _reattaches < MaxReattaches && Errors.RefusedWhileStarting(result.Error))
        {
            var delay = TimeSpan.FromSeconds(Math.Clamp(result.Error!.RetryAfterSeconds ?? 1, 0, MaxReattachDelay.TotalSeconds));
            if (_session is not null) Context.Unwatch(_session);
            _session = null;
            _reattaches++;
            _log.Warning("Re-attached call {0} of {1} met a service still starting ({2}); re-attaching to approval {3} in {4:0.0} s",
                _call.RequestedName, _call.Agent, result.Error!.Message, again, delay.TotalSeconds);
            Timers.StartSingleTimer(("reattach", _reattaches), new ReattachNow(again), delay);
            return;
        }
        Complete(result);
    }

    private void Reattach(ApprovalId id, string why, TimeSpan after)
    {
        if (_reattaches >= MaxReattaches)
        {
            Complete(ToolCallResult.Failure(_call.RequestedName, Errors.ApprovalReattach(_call.RequestedName, id.Value), null, 0));
            return;
        }
        _reattaches++;
        _log.Warning("Held call {0} of {1}: {2}; re-attaching to approval {3}", _call.RequestedName, _call.Agent, why, id);
        if (after > TimeSpan.Zero) Timers.StartSingleTimer(("reattach", _reattaches), new ReattachNow(id), after);
        else Send(id);
    }

    // Sends the call again naming its approval; until the session acknowledges it (CallHeld) or answers, it is sent again
    // after ReattachAckTimeout (a call routed to a region that still thought the dead node hosted the agent is lost).
    private void Send(ApprovalId id)
    {
        _region.Tell(new AgentSessionCommands.Invoke(_call.Agent, _call with { Reattach = id, ReportHold = true }, Self), ActorRefs.NoSender);
        Timers.StartSingleTimer(AckTimer, new ReattachUnacknowledged(id), ReattachAckTimeout);
    }

    private void Complete(ToolCallResult result)
    {
        _answer.TrySetResult(result);
        Context.Stop(Self);
    }

    private sealed record ReattachNow(ApprovalId Approval) : INoSerializationVerificationNeeded;

    private sealed record SessionLost(IActorRef Session) : INoSerializationVerificationNeeded;

    private sealed record ReattachUnacknowledged(ApprovalId Approval) : INoSerializationVerificationNeeded;

    private sealed class DeadlineReached : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly DeadlineReached Instance = new();
        private DeadlineReached() { }
    }
}

/// <summary>How the edge records a call lost with its session's node: the node's audit writer, its clock, the call's capability
/// as the catalogue names it, and how long to wait for the entry.</summary>
public sealed record LostCallAudit(IActorRef Writer, TimeProvider Clock, string CapabilityLabel, TimeSpan Timeout);
