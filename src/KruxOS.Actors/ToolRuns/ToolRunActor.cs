using System.Diagnostics;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Core.Approvals;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Actors.Identity;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;
using KruxOS.Core.Policy;
using KruxOS.Core.Telemetry;
using KruxOS.Actors.Telemetry;

namespace KruxOS.Actors.ToolRuns;

/// <summary>
/// One capability call, from decision to reply: <b>decide</b> (verdict given by the session) →
/// <b>hold</b> (approval seam) → <b>execute</b> → <b>audit</b> → <b>reply</b>. It owns the call's
/// timeout and cancellation, never restarts (its parent stops it on failure), and always answers the
/// caller exactly once, failing closed on any error or timeout.
/// <para>Audit: the call's entries (<see cref="CallAudit.Entries"/>) go to the node's audit writer with
/// <see cref="AuditCommands.Append"/>; the caller is answered only when every entry is
/// <see cref="AuditReplies.AuditAppended"/> (fsynced) or <see cref="AuditReplies.AuditBuffered"/> (degrade
/// mode). <see cref="AuditReplies.AuditFailed"/> or no answer in time fails the call closed.</para>
/// <para>Approvals: a held call appends a <c>pending</c> call entry carrying <c>approval_request_id</c> once the
/// request is durable (the poll path's answer is that entry). The approval entity appends the
/// <c>approval_resolution</c> entry, linked by the same id, before it releases the run; the run's final call
/// entry carries the id and the decision, and the caller is answered only when all of them are durable.</para>
/// <para>Telemetry (<see cref="PipelineTelemetry"/>, docs/observability.md): the run records each stage's duration — decide
/// (timed by the session), hold, execute, audit — and the call's count, duration and error code, labelled only with
/// catalogue names, tiers and outcomes; with a trace listener it also emits the call's span and one child span per stage.</para>
/// <para>One is created per call, so it is an untyped actor (one <c>switch</c> per state) made by a producer:
/// <c>ReceiveActor</c> would rebuild its handler tables on every call and <c>Become</c> (ADR 0015).</para>
/// </summary>
public sealed class ToolRunActor : UntypedActor, IWithTimers
{
    private int _reholds;
    private int _claims;
    private const string ExecutionTimer = "execution-timeout";
    private const string AuditTimer = "audit-timeout";
    private const string ApprovalAckTimer = "approval-ack";
    private const string HoldTimer = "hold-timeout";
    private const string ClaimTimer = "claim-timeout";

    /// <summary>The answer to an allowed decide-only call (a client's PreToolUse hook).</summary>
    public static readonly JsonElement HookAllowed = JsonSerializer.SerializeToElement(new { decision = "allow" });

    /// <summary>Longest the run waits for the approval entity to acknowledge a request or hold before failing closed.</summary>
    public static readonly TimeSpan ApprovalAckTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Renewed holds (after the approval entity went) asked before the run fails closed: about two minutes of <see cref="ApprovalAckTimeout"/>.</summary>
    public const int MaxReholds = 8;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ToolRunPlan _plan;
    private readonly ToolRunCollaborators _run;
    private readonly CapabilityCatalog _catalog;
    private readonly IdentityDirectory _identities;
    private readonly IPolicySeam _policy;
    private readonly CancellationTokenSource _cancel = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private AuditAcknowledgements _acks = null!;
    private DateTimeOffset _startedAt;
    private TimeSpan _executionTimeout;
    private ToolCallResult? _result;
    private AuditStatus _status;
    private ApprovalPlan? _approval;
    // The approval entity that registered this run as a waiter: if it terminates (its node was killed, its shard moved), the
    // registration is gone with it, so the run holds again through the region (ADR 0058).
    private IActorRef? _approvalEntity;
    private string? _approvalDecision;
    private bool _pendingAudited;
    private bool _executionStarted;
    private AuditResourceUsage? _usage;
    private readonly string _capabilityTag;
    private readonly string _tierTag;
    private Activity? _span;
    private SpanClock _spanClock;
    private Activity? _holdSpan;
    private Activity? _executeSpan;
    private Activity? _auditSpan;
    private long _holdStarted;
    private long _executeStarted;
    private long _auditStarted;

    private ToolRunActor(ToolRunPlan plan, ToolRunCollaborators run)
    {
        _plan = plan;
        _run = run;
        _catalog = run.Catalog;
        _identities = run.Identities;
        _policy = run.Policy;
        _capabilityTag = TelemetryLabels.Capability(plan.Capability);
        _tierTag = TelemetryLabels.Tier(plan.Verdict?.Tier);
    }

    /// <inheritdoc />
    protected override void OnReceive(object message) => Executing(message);

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The run of <paramref name="plan"/>, working with its session's <paramref name="collaborators"/>.</summary>
    public static Props Props(ToolRunPlan plan, ToolRunCollaborators collaborators) =>
        // One run per call: a producer builds it directly, with no expression tree to take apart and no
        // reflection over constructor arguments.
        Akka.Actor.Props.CreateBy(new Producer(plan, collaborators));

    private sealed class Producer(ToolRunPlan plan, ToolRunCollaborators collaborators) : IIndirectActorProducer
    {
        public Type ActorType => typeof(ToolRunActor);

        public ActorBase Produce() => new ToolRunActor(plan, collaborators);

        public void Release(ActorBase actor) { }
    }

    private string CapabilityLabel => _plan.Capability?.Name.Value ?? _plan.Call.RequestedName;

    /// <inheritdoc />
    protected override void PreStart()
    {
        _acks = new AuditAcknowledgements(_run.Audit, Timers, AuditTimer, _run.Settings.AuditTimeout);
        _startedAt = _run.Clock.GetUtcNow();
        TraceDecide();
        if (_plan.BoundaryError is { } boundary)
        {
            Finish(AuditStatus.Error, Failure(boundary));
            return;
        }
        var capability = _plan.Capability!;
        var verdict = _plan.Verdict!;
        Publish(ToolRunEvents.Invoked(capability, verdict));
        if (verdict.RateLimitHit is { } hit) Publish(ToolRunEvents.RateLimitHit(capability, verdict, hit));

        if (verdict.Refusal is { } refusal)
        {
            Finish(AuditStatus.Denied, Failure(refusal));
            return;
        }
        switch (verdict.Tier)
        {
            case Tier.Blocked:
                Publish(ToolRunEvents.Violation(capability, verdict));
                Finish(AuditStatus.Denied, Failure(WithDecidedPaths(Errors.PolicyDenied(capability.Name, verdict.Rule, verdict.Reason))));
                return;
            case Tier.ApprovalRequired when _plan.Approval is { } approval:
                // Hold: request (or join) the approval; the reply waits for the decision.
                _approval = approval;
                StartStage(ref _holdSpan, ref _holdStarted, TelemetryNames.StageHold);
                if (!_plan.ReplyTo.IsNobody()) Context.Watch(_plan.ReplyTo);
                RequestOrJoin();
                return;
            case Tier.ApprovalRequired:
                // No approval queue on this node: fail closed.
                Finish(AuditStatus.Denied, Failure(Errors.ApprovalUnavailable(capability.Name, verdict.Rule)));
                return;
            case Tier.Notify:
                Publish(ToolRunEvents.Notified(capability, verdict));
                break;
        }
        StartExecution(capability);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
        // Stopped before answering (the session cut the run off): whatever spans are open end here, marked.
        if (_span is { IsStopped: false })
        {
            var now = Stopwatch.GetTimestamp();
            PipelineTelemetry.EndSpan(_holdSpan, now, _spanClock);
            PipelineTelemetry.EndSpan(_executeSpan, now, _spanClock);
            PipelineTelemetry.EndSpan(_auditSpan, now, _spanClock);
            _span.SetStatus(ActivityStatusCode.Error, "stopped before answering");
            PipelineTelemetry.EndSpan(_span, now, _spanClock);
        }
    }

    // The call's span (from the session's receipt) and the decide stage, which the session timed.
    private void TraceDecide()
    {
        var started = _plan.DecideStarted != 0 ? _plan.DecideStarted : _started;
        var decided = _plan.DecideEnded != 0 ? _plan.DecideEnded : _started;
        PipelineTelemetry.RecordStage(TelemetryNames.StageDecide, _capabilityTag, _tierTag, started, decided);
        if (!PipelineTelemetry.Source.HasListeners()) return;
        _spanClock = SpanClock.Now();
        _span = PipelineTelemetry.StartSpan(TelemetryNames.CallSpan, default, started, _spanClock);
        if (_span is null) return;
        if (_span.IsAllDataRequested)
        {
            // Names the gateway vouches for only: never a token, an argument or a name the catalogue did not resolve.
            _span.SetTag(TelemetryNames.Capability, _capabilityTag);
            _span.SetTag(TelemetryNames.Tier, _tierTag);
            _span.SetTag(TelemetryNames.Agent, _plan.Call.Agent.Value);
            _span.SetTag(TelemetryNames.Session, TelemetryLabels.SpanText(_plan.Call.SessionId));
        }
        PipelineTelemetry.EndSpan(PipelineTelemetry.StartSpan(TelemetryNames.StageSpan(TelemetryNames.StageDecide), _span.Context, started, _spanClock), decided, _spanClock);
    }

    private void StartStage(ref Activity? span, ref long started, string stage)
    {
        if (started != 0) return;
        started = Stopwatch.GetTimestamp();
        if (_span is not null) span = PipelineTelemetry.StartSpan(TelemetryNames.StageSpan(stage), _span.Context, started, _spanClock);
    }

    private void EndStage(ref Activity? span, ref long started, string stage)
    {
        if (started <= 0) return;
        var ended = Stopwatch.GetTimestamp();
        PipelineTelemetry.RecordStage(stage, _capabilityTag, _tierTag, started, ended);
        PipelineTelemetry.EndSpan(span, ended, _spanClock);
        started = -1; // recorded once
    }

    // Waits on the approval the session bound this run to; a new one's request was sent by the session.
    // The call is bound to the approval from here on (ADR 0058): the session learns it (a cut-off answers the caller
    // ApprovalReattach with this id), a keyed call's ledger records it (a re-sent key re-attaches to it), and a submitter that
    // asked is told which session holds it, so it can re-attach the call itself if that session goes away.
    private void RequestOrJoin()
    {
        var a = _approval!;
        var call = _plan.Call;
        Context.Parent.Tell(new RunHoldChanged(a.Id));
        if (call.HoldForApproval)
        {
            if (_plan.Keyed is { } keyed) keyed.Ledger.Tell(new Agents.IdempotencyMessages.RunHeld(keyed.Key, a.Id));
            else if (call.ReportHold) _plan.ReplyTo.Tell(new Agents.AgentSessionReplies.CallHeld(a.Id, Context.Parent));
        }
        a.Region.Tell(new ApprovalMessages.Hold(a.Id, Self, call.Agent, CapabilityLabel, a.ArgumentsHash, call.HoldForApproval));
        Timers.StartSingleTimer(ApprovalAckTimer, ApprovalAckTimedOut.Instance, ApprovalAckTimeout);
        Become(AwaitingApproval);
    }

    private void AwaitingApproval(object message)
    {
        switch (message)
        {
            case ApprovalResult r:
                if (r.IsOk) return;
                Timers.Cancel(ApprovalAckTimer);
                _log.Warning("Approval {0} refused the request of {1}: {2}", _approval!.Id, CapabilityLabel, r.Message);
                Settle();
                Finish(AuditStatus.Denied, Failure(Errors.ApprovalNotUsable(CapabilityLabel, _approval.Id.Value, r.Status?.ToWire() ?? "unknown", r.Message)));
                return;
            case ApprovalMessages.Held m:
                OnHeld(m);
                return;
            case ApprovalMessages.GrantOffered:
                // Offered by an entity that held this run before it held again (the entity moved): claim it all the same.
                Claim();
                return;
            case ClaimTimedOut:
                OnClaimTimedOut();
                return;
            case ApprovalMessages.Released m:
                OnReleased(m);
                return;
            case ApprovalAssigned m:
                _approval = m.Approval;
                RequestOrJoin();
                return;
            case ApprovalAckTimedOut when _reholds is > 0 and < MaxReholds:
                // Holding again after the entity went: its shard may still be on a node that is dead but not yet downed,
                // so the region is asked again (a decision made meanwhile is found there) until the hold's own limit.
                _reholds++;
                _log.Warning("Approval {0} did not answer a renewed hold of {1} in time; asking again ({2} of {3})", _approval!.Id, CapabilityLabel, _reholds, MaxReholds);
                RequestOrJoin();
                return;
            case ApprovalAckTimedOut:
                _log.Error("Approval {0} did not answer in time; failing {1} closed", _approval!.Id, CapabilityLabel);
                Settle();
                Finish(AuditStatus.Error, Failure(Errors.ServiceUnavailable("approvals", "the approval queue did not answer in time")));
                return;
            case Terminated t when t.ActorRef.Equals(_approvalEntity):
                _approvalEntity = null;
                return;
            case Terminated:
                CallerGone();
                return;
            default:
                Unhandled(message);
                return;
        }
    }

    private void OnHeld(ApprovalMessages.Held m)
    {
        Timers.Cancel(ApprovalAckTimer);
        WatchApprovalEntity(Sender);
        var deadline = m.State.Request!.Deadline;
        if (!_plan.Call.HoldForApproval)
        {
            // Poll path (JSON-RPC): answer at once with the request id; the request stays pending.
            Settle();
            Finish(AuditStatus.Pending, Failure(Errors.ApprovalPending(CapabilityLabel, _approval!.Id.Value)));
            return;
        }
        AuditPending();
        _plan.Keyed?.Ledger.Tell(new Agents.IdempotencyMessages.RunHeld(_plan.Keyed.Key, _approval!.Id));
        var hold = deadline - _run.Clock.GetUtcNow() + ApprovalAckTimeout;
        Timers.StartSingleTimer(HoldTimer, HoldTimedOut.Instance, hold > TimeSpan.Zero ? hold : ApprovalAckTimeout);
        Become(Holding);
    }

    private void Holding(object message)
    {
        switch (message)
        {
            case ApprovalMessages.Released m:
                OnReleased(m);
                return;
            case ApprovalMessages.GrantOffered:
                Claim();
                return;
            case ClaimTimedOut:
                OnClaimTimedOut();
                return;
            case AuditReplies.AuditAppended or AuditReplies.AuditBuffered or AuditReplies.AuditFailed:
                // A refusal of the pending entry fails the call at once: nobody may run on a hold the log does not hold.
                if (!_acks.TryHandle(message, out var ack) || ack.Kind != AuditAckKind.Failed) return;
                _log.Error("Audit refused the pending entry of {0}: {1}; failing the call closed", CapabilityLabel, ack.Reason);
                _approval!.Region.Tell(new ApprovalMessages.ReleaseWaiter(_approval.Id, Self));
                Settle();
                Finish(AuditStatus.Error, Failure(Errors.ServiceUnavailable("audit", ack.Reason!)));
                return;
            case Terminated t when t.ActorRef.Equals(_approvalEntity):
                // The approval entity holding this run is gone (its node was killed, its shard moved): hold again through the
                // region, which starts it where its shard lives now; a decision made meanwhile is found there.
                _approvalEntity = null;
                _log.Warning("The approval {0} holding {1} terminated; holding again", _approval!.Id, CapabilityLabel);
                Timers.Cancel(HoldTimer);
                _reholds = Math.Max(_reholds, 1);
                RequestOrJoin();
                return;
            case HoldTimedOut:
                // The entity should have timed out first; whatever happened, an expiry is never consent.
                _approval!.Region.Tell(new ApprovalMessages.ReleaseWaiter(_approval.Id, Self));
                Settle();
                _approvalDecision = ApprovalStatus.TimedOut.ToWire();
                Finish(AuditStatus.Error, Failure(Errors.ApprovalTimedOut(CapabilityLabel, _approval.Id.Value)));
                return;
            case Terminated:
                CallerGone();
                return;
            case ApprovalResult:
                return;
            default:
                Unhandled(message);
                return;
        }
    }

    // The approval was accepted while this run held on it: claim the grant (a hold on a granted approval is the claim, with this
    // run as claimant). Only a claim spends it, so this run runs only if its claim is the one that wins; until the entity
    // answers, the claim is sent again on a timer (the entity moving meanwhile makes the run hold again anyway).
    private void Claim()
    {
        var a = _approval!;
        _claims++;
        a.Region.Tell(new ApprovalMessages.Hold(a.Id, Self, _plan.Call.Agent, CapabilityLabel, a.ArgumentsHash, _plan.Call.HoldForApproval));
        Timers.StartSingleTimer(ClaimTimer, ClaimTimedOut.Instance, ApprovalAckTimeout);
    }

    private void OnClaimTimedOut()
    {
        if (_claims < MaxReholds)
        {
            _log.Warning("Approval {0} did not answer the claim of {1} in time; claiming again ({2} of {3})", _approval!.Id, CapabilityLabel, _claims, MaxReholds);
            Claim();
            return;
        }
        _log.Error("Approval {0} did not answer the claim of {1}; failing it closed", _approval!.Id, CapabilityLabel);
        _approval.Region.Tell(new ApprovalMessages.ReleaseWaiter(_approval.Id, Self));
        Settle();
        Finish(AuditStatus.Error, Failure(Errors.ServiceUnavailable("approvals", "the approval did not answer the claim of its grant in time")));
    }

    private void OnReleased(ApprovalMessages.Released m)
    {
        Timers.Cancel(ApprovalAckTimer);
        Timers.Cancel(HoldTimer);
        Timers.Cancel(ClaimTimer);
        var a = _approval!;
        var outcome = HoldOutcome.Of(new HeldCall(CapabilityLabel, a.Id, a.IsNew, a.Reattach, _pendingAudited, _plan.Keyed?.Key), m.Execute, m.State, m.Message);
        Settle();
        switch (outcome.Kind)
        {
            case HoldOutcomeKind.Execute:
                Context.Parent.Tell(new RunHoldChanged(null));
                if (_plan.Keyed is { } keyed) keyed.Ledger.Tell(new Agents.IdempotencyMessages.RunResumed(keyed.Key));
                else if (_plan.Call.ReportHold) _plan.ReplyTo.Tell(new Agents.AgentSessionReplies.CallReleased(a.Id));
                _approvalDecision = outcome.Decision;
                Become(Executing);
                StartExecution(_plan.Capability!);
                return;
            case HoldOutcomeKind.Rejoin:
                // The session decides what to wait on now: another run's newer request, or a new one.
                Context.Parent.Tell(new ApprovalNeeded(_plan, a.Id));
                Timers.StartSingleTimer(ApprovalAckTimer, ApprovalAckTimedOut.Instance, ApprovalAckTimeout);
                return;
            default:
                _approvalDecision = outcome.Decision;
                Finish(outcome.Status, Failure(outcome.Error!));
                return;
        }
    }

    private void AuditPending()
    {
        if (_pendingAudited) return;
        _pendingAudited = true;
        var record = CallAudit.Record(_plan.Call, CapabilityLabel, _plan.Arguments, _plan.Verdict!, _run.Clock.GetUtcNow(), AuditStatus.Pending,
            approvalId: _approval!.Id.Value);
        // Its acknowledgement may arrive in any later state; the final reply waits for it as for the call's own entries.
        _acks.Append(CallAudit.Entries(record), Self);
    }

    private void Settle() => Context.Parent.Tell(new ApprovalSettled(CapabilityLabel, _approval!.ArgumentsHash, _approval.Id));

    private void WatchApprovalEntity(IActorRef entity)
    {
        if (entity.Equals(_approvalEntity) || entity.IsNobody()) return;
        if (_approvalEntity is not null) Context.Unwatch(_approvalEntity);
        _approvalEntity = entity;
        Context.Watch(entity);
    }

    // The caller's connection is gone: stop holding (the request stays pending for an identical retry).
    private void CallerGone()
    {
        _approval!.Region.Tell(new ApprovalMessages.ReleaseWaiter(_approval.Id, Self));
        Settle();
        _plan.Keyed?.Ledger.Tell(new Agents.IdempotencyMessages.RunAbandoned(_plan.Keyed.Key, _plan.ReplyTo, _approval.Id));
        Context.Parent.Tell(new ToolRunFinished(CapabilityLabel, false, ElapsedMicros()));
        EndStage(ref _holdSpan, ref _holdStarted, TelemetryNames.StageHold);
        Context.Stop(Self);
    }

    private void StartExecution(CapabilityDefinition capability)
    {
        // Fail closed before the side effect when the audit writer already refuses new records (halted, restarting
        // after a failure, stopped, ring full): its refusal of this call's entry would otherwise come only after the
        // capability ran. Every path that executes comes through here (in-process, sandboxed, a decide-only allow,
        // a release by an approval, a re-attached idempotent call).
        if (_run.AuditAvailability?.Refusal is { } refused)
        {
            Finish(AuditStatus.Error, Failure(Errors.ServiceUnavailable("audit", refused)));
            return;
        }
        var context = new InvocationContext(_plan.Call.Principal, _plan.Session,
            _identities.Current.Agents.GetValueOrDefault(_plan.Call.Agent.Value), capability, _startedAt, _catalog.Registry, _run.View, _plan.PathsDecided);
        var handler = _catalog.HandlerFor(capability.Name);
        if (_plan.Call.DecideOnly)
        {
            // A PreToolUse hook asked: the decision is the answer; the client runs its own tool — unless the gateway
            // itself would refuse what that tool is about to do (e.g. a destination outside the egress allowlist).
            if (handler is INativeToolCheck check && check.CheckNativeUse(context, _plan.Arguments) is { } refusal)
            {
                Finish(AuditStatus.Denied, Failure(refusal));
                return;
            }
            Finish(AuditStatus.Success, ToolCallResult.Success(capability.Name, HookAllowed, _plan.Verdict!.Tier, ElapsedMicros()));
            return;
        }
        _executionStarted = true;
        EndStage(ref _holdSpan, ref _holdStarted, TelemetryNames.StageHold);
        StartStage(ref _executeSpan, ref _executeStarted, TelemetryNames.StageExecute);
        var longest = handler.MaxDuration(_plan.Arguments);
        _executionTimeout = longest > _run.Settings.ExecutionTimeout ? longest : _run.Settings.ExecutionTimeout;
        // The handler runs under the execute span, so whatever it traces (an HTTP client, a database) nests in the call.
        var ambient = Activity.Current;
        if (_executeSpan is not null) Activity.Current = _executeSpan;
        Task<CapabilityOutput> execution;
        try
        {
            execution = ExecuteAsync(handler, context, _plan.Arguments, _cancel.Token);
        }
        finally
        {
            Activity.Current = ambient;
        }
        if (execution.IsCompleted)
        {
            // In-process capabilities usually answer synchronously: take the outcome now, with no timer to
            // arm and no round trip through this actor's mailbox.
            if (execution.IsCompletedSuccessfully) OnExecuted(execution.Result);
            else OnExecutionFailed(execution.Exception?.InnerException ?? new OperationCanceledException());
            return;
        }
        Timers.StartSingleTimer(ExecutionTimer, ExecutionTimedOut.Instance, _executionTimeout);
        execution.PipeTo(Self, success: output => new Executed(output), failure: ex => new ExecutionFailed(ex));
    }

    // Handlers may complete synchronously or throw before their first await; either way the outcome is this task's
    // (taken at once when it is already complete, piped back as a message otherwise).
    private static async Task<CapabilityOutput> ExecuteAsync(ICapabilityHandler handler, InvocationContext context, JsonElement args, CancellationToken ct) =>
        await handler.ExecuteAsync(context, args, ct).ConfigureAwait(false);

    private void Executing(object message)
    {
        switch (message)
        {
            case AuditReplies.AuditAppended or AuditReplies.AuditBuffered or AuditReplies.AuditFailed:
                // The pending entry's answer: a refusal is remembered and fails the call closed once its own entries are answered.
                _acks.TryHandle(message, out _);
                return;
            case Terminated:
                return;
            case ApprovalMessages.GrantOffered or ApprovalMessages.Released or ApprovalMessages.Held or ClaimTimedOut:
                // Late word from an approval this run has left (it runs, or ran nothing): nothing changes.
                return;
            case Executed m:
                Timers.Cancel(ExecutionTimer);
                OnExecuted(m.Output);
                return;
            case ExecutionFailed m:
                Timers.Cancel(ExecutionTimer);
                OnExecutionFailed(m.Cause);
                return;
            case ExecutionTimedOut:
                _cancel.Cancel();
                Finish(AuditStatus.Error, Failure(Errors.Timeout(CapabilityLabel, _executionTimeout.TotalSeconds)));
                return;
            default:
                Unhandled(message);
                return;
        }
    }

    private void OnExecuted(CapabilityOutput output)
    {
        _usage = output.Usage;
        Finish(AuditStatus.Success, ToolCallResult.Success(_plan.Capability!.Name, output.Data, _plan.Verdict!.Tier, ElapsedMicros()));
    }

    private void OnExecutionFailed(Exception cause)
    {
        if (cause is CapabilityException { Usage: { } usage }) _usage = usage;
        var error = cause switch
        {
            CapabilityException ce => ce.Error,
            OperationCanceledException => Errors.Timeout(CapabilityLabel, _executionTimeout.TotalSeconds),
            _ => Errors.Internal($"'{CapabilityLabel}' failed unexpectedly."),
        };
        if (cause is not CapabilityException)
            _log.Error(cause, "Capability {Capability} failed for {Principal}", CapabilityLabel, _plan.Call.Principal);
        Finish(AuditStatus.Error, Failure(error));
    }

    private void AwaitingAudit(object message)
    {
        if (_acks.TryHandle(message, out var ack))
        {
            switch (ack.Kind)
            {
                case AuditAckKind.Durable when ack.AllSettled:
                    _acks.CancelDeadline();
                    Reply(_acks.FirstFailure is { } reason ? Failure(Errors.ServiceUnavailable("audit", reason)) : _result!);
                    return;
                case AuditAckKind.Failed:
                    _acks.CancelDeadline();
                    _log.Error("Audit refused the record of {Capability}: {Reason}; failing the call closed", CapabilityLabel, ack.Reason);
                    Reply(Failure(Errors.ServiceUnavailable("audit", ack.Reason!)));
                    return;
                case AuditAckKind.TimedOut:
                    _log.Error("Audit did not confirm the record of {Capability} in time; failing the call closed", CapabilityLabel);
                    Reply(Failure(Errors.ServiceUnavailable("audit", "the audit log did not confirm the record in time")));
                    return;
                default:
                    return;
            }
        }
        switch (message)
        {
            // Late results after a timeout are ignored: the caller has its answer.
            case ApprovalMessages.Released or ApprovalMessages.Held or ApprovalMessages.GrantOffered or ApprovalResult or Terminated or Executed
                or ExecutionFailed or ExecutionTimedOut or ClaimTimedOut:
                return;
            default:
                Unhandled(message);
                return;
        }
    }

    private void Finish(AuditStatus status, ToolCallResult result)
    {
        _status = status;
        _result = result;
        EndStage(ref _holdSpan, ref _holdStarted, TelemetryNames.StageHold);
        EndStage(ref _executeSpan, ref _executeStarted, TelemetryNames.StageExecute);
        StartStage(ref _auditSpan, ref _auditStarted, TelemetryNames.StageAudit);
        var record = CallAudit.Record(_plan.Call, CapabilityLabel, _plan.Capability is null ? _plan.Call.Arguments : _plan.Arguments, _plan.Verdict, _startedAt,
            status, result, _approval?.Id.Value, _approvalDecision, _usage);
        Become(AwaitingAudit);
        _acks.ArmDeadline();
        _acks.Append(CallAudit.Entries(record), Self);
    }

    private void Reply(ToolCallResult result)
    {
        // A keyed call's answer goes to the ledger, which records it durably and then answers every waiter.
        if (_plan.Keyed is { } keyed) keyed.Ledger.Tell(new Agents.IdempotencyMessages.RunAnswered(keyed.Key, result, _executionStarted));
        else _plan.ReplyTo.Tell(result);
        Publish(ToolRunEvents.Answered(CapabilityLabel, result.Error, _plan.Verdict?.Tier, result.DurationMicros));
        TraceAnswer(result);
        Context.Parent.Tell(new ToolRunFinished(CapabilityLabel, _status == AuditStatus.Success && !result.IsError, result.DurationMicros));
        Context.Stop(Self);
    }

    private void TraceAnswer(ToolCallResult result)
    {
        EndStage(ref _auditSpan, ref _auditStarted, TelemetryNames.StageAudit);
        var ended = Stopwatch.GetTimestamp();
        // The audit's refusal turns an executed success into an error: the outcome is what the caller got.
        var outcome = TelemetryLabels.Outcome(result.IsError && _status == AuditStatus.Success ? AuditStatus.Error : _status);
        var started = _plan.DecideStarted != 0 ? _plan.DecideStarted : _started;
        PipelineTelemetry.RecordCall(_capabilityTag, _tierTag, outcome, result.Error?.ErrorType, started, ended);
        if (_span is null) return;
        if (_span.IsAllDataRequested)
        {
            _span.SetTag(TelemetryNames.Outcome, outcome);
            if (_approval is not null) _span.SetTag(TelemetryNames.Approval, _approval.Id.Value);
            if (_approvalDecision is not null) _span.SetTag(TelemetryNames.ApprovalDecision, _approvalDecision);
            if (result.Error is { } error)
            {
                var code = TelemetryLabels.ErrorCodes.Of(error.ErrorType);
                _span.SetTag(TelemetryNames.ErrorCode, code);
                _span.SetStatus(ActivityStatusCode.Error, code);
            }
        }
        PipelineTelemetry.EndSpan(_span, ended, _spanClock);
    }

    // A refusal decided on paths the sandbox resolved names them (ADR 0023): the agent learns which real path was refused.
    private StructuredError WithDecidedPaths(StructuredError error)
    {
        if (!_plan.PathsDecided || _plan.Arguments.ValueKind != JsonValueKind.Object) return error;
        var paths = new System.Text.Json.Nodes.JsonObject();
        foreach (var input in _plan.Capability!.Inputs)
            if (input.Type == InputType.FilesystemPath && _plan.Arguments.TryGetProperty(input.Name, out var v) && v.ValueKind == JsonValueKind.String)
                paths[input.Name] = v.GetString();
        return error.WithContext("resolved_paths", JsonSerializer.SerializeToElement(paths));
    }

    private ToolCallResult Failure(StructuredError error) =>
        ToolCallResult.Failure(CapabilityLabel, error, _plan.Verdict?.Tier, ElapsedMicros());

    private long ElapsedMicros() => (long)Stopwatch.GetElapsedTime(_started).TotalMicroseconds;

    private void Publish((string Type, object Data) e) =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(e.Type, _run.Clock.GetUtcNow(), _plan.Call.Agent.Value, _plan.Call.SessionId, e.Data));

    private sealed record Executed(CapabilityOutput Output);

    private sealed record ExecutionFailed(Exception Cause);

    private sealed class ExecutionTimedOut : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly ExecutionTimedOut Instance = new();
        private ExecutionTimedOut() { }
    }

    private sealed class ApprovalAckTimedOut : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly ApprovalAckTimedOut Instance = new();
        private ApprovalAckTimedOut() { }
    }

    private sealed class HoldTimedOut : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly HoldTimedOut Instance = new();
        private HoldTimedOut() { }
    }

    private sealed class ClaimTimedOut : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly ClaimTimedOut Instance = new();
        private ClaimTimedOut() { }
    }
}
