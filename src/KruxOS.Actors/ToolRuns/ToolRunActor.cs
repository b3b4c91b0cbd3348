using System.Diagnostics;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Actors.Identity;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;

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
/// </summary>
public sealed class ToolRunActor : ReceiveActor, IWithTimers
{
    private const string ExecutionTimer = "execution-timeout";
    private const string AuditTimer = "audit-timeout";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ToolRunPlan _plan;
    private readonly CapabilityCatalog _catalog;
    private readonly IdentityDirectory _identities;
    private readonly IActorRef _audit;
    private readonly Policy.IPolicySeam _policy;
    private readonly ToolRunSettings _settings;
    private readonly TimeProvider _clock;
    private readonly CancellationTokenSource _cancel = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private DateTimeOffset _startedAt;
    private ToolCallResult? _result;
    private AuditStatus _status;
    private readonly HashSet<Guid> _auditPending = [];

    public ToolRunActor(ToolRunPlan plan, CapabilityCatalog catalog, IdentityDirectory identities, IActorRef audit,
        Policy.IPolicySeam policy, ToolRunSettings settings, TimeProvider clock)
    {
        _policy = policy;
        _plan = plan;
        _catalog = catalog;
        _identities = identities;
        _audit = audit;
        _settings = settings;
        _clock = clock;
        Executing();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ToolRunPlan plan, CapabilityCatalog catalog, IdentityDirectory identities, IActorRef audit,
        Policy.IPolicySeam policy, ToolRunSettings settings, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new ToolRunActor(plan, catalog, identities, audit, policy, settings, clock));

    private string CapabilityLabel => _plan.Capability?.Name.Value ?? _plan.Call.RequestedName;

    /// <inheritdoc />
    protected override void PreStart()
    {
        _startedAt = _clock.GetUtcNow();
        if (_plan.BoundaryError is { } boundary)
        {
            Finish(AuditStatus.Error, Failure(boundary));
            return;
        }
        var capability = _plan.Capability!;
        var verdict = _plan.Verdict!;
        Publish(SupervisionEventTypes.CapabilityInvoked, new { capability = capability.Name.Value, permission_tier = verdict.Tier.ToWire() });

        if (verdict.Refusal is { } refusal)
        {
            Finish(AuditStatus.Denied, Failure(refusal));
            return;
        }
        switch (verdict.Tier)
        {
            case Tier.Blocked:
                Publish(SupervisionEventTypes.PolicyViolation,
                    new { capability = capability.Name.Value, rule = verdict.Rule, reason = verdict.Reason, tier = verdict.Tier.ToWire() });
                Finish(AuditStatus.Denied, Failure(Errors.PolicyDenied(capability.Name, verdict.Rule, verdict.Reason)));
                return;
            case Tier.ApprovalRequired:
                // Hold seam: no approval queue is wired into this pipeline yet, so the call fails closed.
                Finish(AuditStatus.Denied, Failure(Errors.ApprovalUnavailable(capability.Name, verdict.Rule)));
                return;
            case Tier.Notify:
                Publish(SupervisionEventTypes.Notification,
                    new { capability = capability.Name.Value, rule = verdict.Rule, reason = verdict.Reason });
                break;
        }
        StartExecution(capability);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
    }

    private void StartExecution(CapabilityDefinition capability)
    {
        var context = new InvocationContext(_plan.Call.Principal, _plan.Session,
            _identities.Current.Agents.GetValueOrDefault(_plan.Call.Agent.Value), capability, _startedAt, _catalog.Registry, _policy);
        Timers.StartSingleTimer(ExecutionTimer, ExecutionTimedOut.Instance, _settings.ExecutionTimeout);
        ExecuteAsync(_catalog.HandlerFor(capability.Name), context, _plan.Arguments, _cancel.Token)
            .PipeTo(Self, success: data => new Executed(data), failure: ex => new ExecutionFailed(ex));
    }

    // Handlers may complete synchronously or throw before their first await; both become messages.
    private static async Task<JsonElement> ExecuteAsync(ICapabilityHandler handler, InvocationContext context, JsonElement args, CancellationToken ct) =>
        await handler.ExecuteAsync(context, args, ct).ConfigureAwait(false);

    private void Executing()
    {
        Receive<Executed>(m =>
        {
            Timers.Cancel(ExecutionTimer);
            Finish(AuditStatus.Success, ToolCallResult.Success(_plan.Capability!.Name, m.Data, _plan.Verdict!.Tier, ElapsedMicros()));
        });
        Receive<ExecutionFailed>(m =>
        {
            Timers.Cancel(ExecutionTimer);
            var error = m.Cause switch
            {
                CapabilityException ce => ce.Error,
                OperationCanceledException => Errors.Timeout(CapabilityLabel, _settings.ExecutionTimeout.TotalSeconds),
                _ => Errors.Internal($"'{CapabilityLabel}' failed unexpectedly."),
            };
            if (m.Cause is not CapabilityException)
                _log.Error(m.Cause, "Capability {Capability} failed for {Principal}", CapabilityLabel, _plan.Call.Principal);
            Finish(AuditStatus.Error, Failure(error));
        });
        Receive<ExecutionTimedOut>(_ =>
        {
            _cancel.Cancel();
            Finish(AuditStatus.Error, Failure(Errors.Timeout(CapabilityLabel, _settings.ExecutionTimeout.TotalSeconds)));
        });
    }

    private void AwaitingAudit()
    {
        Receive<AuditReplies.AuditAppended>(m => Acknowledged(m.Id));
        Receive<AuditReplies.AuditBuffered>(m => Acknowledged(m.Id)); // degrade mode: the entry waits in the ring
        Receive<AuditReplies.AuditFailed>(m =>
        {
            Timers.Cancel(AuditTimer);
            _log.Error("Audit refused the record of {Capability}: {Reason}; failing the call closed", CapabilityLabel, m.Reason);
            Reply(Failure(Errors.ServiceUnavailable("audit", m.Reason)));
        });
        Receive<AuditTimedOut>(_ =>
        {
            _log.Error("Audit did not confirm the record of {Capability} in time; failing the call closed", CapabilityLabel);
            Reply(Failure(Errors.ServiceUnavailable("audit", "the audit log did not confirm the record in time")));
        });
        // Late results after a timeout are ignored: the caller has its answer.
        Receive<Executed>(_ => { });
        Receive<ExecutionFailed>(_ => { });
        Receive<ExecutionTimedOut>(_ => { });
    }

    private void Acknowledged(Guid id)
    {
        if (!_auditPending.Remove(id) || _auditPending.Count > 0) return;
        Timers.Cancel(AuditTimer);
        Reply(_result!);
    }

    private void Finish(AuditStatus status, ToolCallResult result)
    {
        _status = status;
        _result = result;
        var record = new CallRecord(_startedAt, _plan.Call.Principal, _plan.Call.Agent, _plan.Call.SessionId, CapabilityLabel,
            _plan.Capability is null ? _plan.Call.Arguments : _plan.Arguments, _plan.Call.Client, status, _plan.Verdict?.Tier,
            _plan.Verdict?.Rule, _plan.Verdict?.Revision, _plan.Verdict?.Reason, result.Error, result.DurationMicros);
        Become(AwaitingAudit);
        Timers.StartSingleTimer(AuditTimer, AuditTimedOut.Instance, _settings.AuditTimeout);
        foreach (var entry in CallAudit.Entries(record))
        {
            _auditPending.Add(entry.Id);
            _audit.Tell(new AuditCommands.Append(entry, Self));
        }
    }

    private void Reply(ToolCallResult result)
    {
        _plan.ReplyTo.Tell(result);
        if (result.Error is { } e)
            Publish(SupervisionEventTypes.CapabilityError,
                new { capability = CapabilityLabel, error_type = e.ErrorType, message = e.Message, tier = _plan.Verdict?.Tier.ToWire() });
        else
            Publish(SupervisionEventTypes.CapabilityResult,
                new { capability = CapabilityLabel, success = true, duration_ms = result.DurationMicros / 1000.0 });
        Context.Parent.Tell(new ToolRunFinished(CapabilityLabel, _status == AuditStatus.Success && !result.IsError, result.DurationMicros));
        Context.Stop(Self);
    }

    private ToolCallResult Failure(StructuredError error) =>
        ToolCallResult.Failure(CapabilityLabel, error, _plan.Verdict?.Tier, ElapsedMicros());

    private long ElapsedMicros() => (long)Stopwatch.GetElapsedTime(_started).TotalMicroseconds;

    private void Publish<T>(string type, T data) =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(type, _clock.GetUtcNow(), _plan.Call.Agent.Value, _plan.Call.SessionId, data));

    private sealed record Executed(JsonElement Data);

    private sealed record ExecutionFailed(Exception Cause);

    private sealed class ExecutionTimedOut : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly ExecutionTimedOut Instance = new();
        private ExecutionTimedOut() { }
    }

    private sealed class AuditTimedOut : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly AuditTimedOut Instance = new();
        private AuditTimedOut() { }
    }
}
