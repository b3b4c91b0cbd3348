using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Capabilities;
using KruxOS.Core.Approvals;
using KruxOS.Actors.Identity;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;
using static KruxOS.Actors.Agents.AgentSessionCommands;

namespace KruxOS.Actors.Agents;

/// <summary>
/// Dependencies every session entity shares, resolved once per node. Without <paramref name="Approvals"/>
/// (and its index) calls that need approval fail closed. <paramref name="AuditAvailability"/> is the node's
/// audit writer state, checked by each run before it executes (none: only the append's answer counts).
/// </summary>
public sealed record AgentSessionDependencies(
    CapabilityCatalog Catalog,
    IPolicySeam Policy,
    IdentityDirectory Identities,
    IActorRef Audit,
    ToolRunSettings ToolRuns,
    int MaxConnectionsPerAgent,
    TimeSpan IdleTimeout,
    TimeProvider Clock,
    IActorRef? Approvals = null,
    ApprovalIndex? ApprovalIndex = null,
    TimeSpan? ApprovalHoldTimeout = null,
    IdempotencyLimits? Idempotency = null,
    Audit.AuditAvailability? AuditAvailability = null);

/// <summary>
/// The entity of one agent, keyed by agent name: it knows the agent's open connections, owns the
/// agent's policy rate state, resolves and validates each call at the boundary, asks the policy seam
/// for a verdict, and starts one <see cref="ToolRunActor"/> child per call. Calls run concurrently;
/// none is dropped while another is in flight. Calls with an idempotency key go through its
/// <see cref="IdempotencyLedgerActor"/> child first, which admits, attaches or answers them from the record.
/// </summary>
public sealed class AgentSessionActor : ReceiveActor, IWithTimers
{
    /// <summary>Longest a terminate waits for its connections to report closed before it answers anyway.</summary>
    public static readonly TimeSpan TerminateWait = TimeSpan.FromSeconds(5);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AgentName _agent;
    private readonly AgentSessionDependencies _deps;

    // Everything the entity knows lives here, not in this instance, so a restart of the actor keeps the rate windows
    // and the connections (see PreRestart).
    private readonly SessionState _state;

    // The message being handled and its sender, for answering its caller if handling it fails.
    private object? _current;
    private IActorRef _currentSender = ActorRefs.Nobody;
    private bool _handedOff;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    // Created only through Props, whose producer hands every instance of one incarnation the same state.
    private AgentSessionActor(string entityId, AgentSessionDependencies deps, SessionState state)
    {
        _agent = AgentName.Parse(entityId);
        _deps = deps;
        _state = state;

        Receive<Attach>(HandleAttach);
        Receive<Detach>(m => RemoveConnection(m.SessionId, "closed"));
        Receive<Invoke>(HandleInvoke);
        Receive<IdempotencyMessages.Admitted>(m => StartRun(m.Invoke, m.Reattach, m.Refusal, m.Refusal is null ? Sender : null));
        Receive<ToolRunFinished>(_ => { _state.Runs.Remove(Sender); _state.InFlight--; UpdateIdleTimeout(); });
        Receive<ApprovalNeeded>(m => Sender.Tell(new ApprovalAssigned(Reassign(m, Sender))));
        Receive<ApprovalSettled>(m =>
        {
            // Forget the request only once the index knows it; until then (its acknowledgement may still be
            // on its way) an identical call must keep joining it rather than create a second one.
            var key = (m.Capability, m.ArgumentsHash);
            if (_state.Approvals.TryGetValue(key, out var id) && id == m.Id && _deps.ApprovalIndex?.Get(id) is not null) _state.Approvals.Remove(key);
        });
        Receive<Terminate>(HandleTerminate);
        Receive<GetInfo>(_ => Sender.Tell(Info()));
        Receive<Notify>(m =>
        {
            var notification = new AgentSessionReplies.Notification(m.Method, m.ParamsJson);
            foreach (var connection in _state.Connections.Values.Select(c => c.Connection).Distinct()) connection.Tell(notification);
        });
        Receive<Akka.Actor.Terminated>(t =>
        {
            if (t.ActorRef.Equals(_state.Ledger)) { _state.Ledger = null; return; }
            foreach (var id in _state.Connections.Where(kv => kv.Value.Connection.Equals(t.ActorRef)).Select(kv => kv.Key).ToList())
                RemoveConnection(id, "connection actor stopped");
            foreach (var (n, closing) in _state.Closing.ToList())
                if (closing.Waiting.Remove(t.ActorRef) && closing.Waiting.Count == 0) AnswerTerminate(n);
        });
        Receive<TerminateWaitOver>(m => AnswerTerminate(m.Termination));
        Receive<ReceiveTimeout>(_ => OnIdle());
        Receive<PathsResolved>(HandleResolved);
        Receive<FailedCall>(m => StartRun(m.Invoke with { Call = m.Invoke.Call.WithCheckedText() }, null, Errors.Internal(FailedCall.Message), m.Ledger));
    }

    /// <summary>
    /// The entity's props. Each incarnation the parent creates (first message, or after a passivation) gets a fresh
    /// <see cref="SessionState"/>; a restart of the same incarnation reuses it, so nothing the entity knew is lost.
    /// </summary>
    public static Props Props(string entityId, AgentSessionDependencies deps) =>
        Akka.Actor.Props.CreateBy(new Producer(entityId, deps, new SessionState()));

    private sealed class Producer(string entityId, AgentSessionDependencies deps, SessionState state) : IIndirectActorProducer
    {
        public Type ActorType => typeof(AgentSessionActor);

        public ActorBase Produce() => new AgentSessionActor(entityId, deps, state);

        public void Release(ActorBase actor) { }
    }

    /// <summary>
    /// Handles one message; a failure while doing so is contained here. No input should get that far (arguments are
    /// checked before anything decodes them), so such a failure is a bug, and it is treated as Akka's
    /// <see cref="Directive.Resume"/> would be, decided by the entity itself because its parent differs between single
    /// node and cluster: its caller is answered at once with <c>InternalError</c> (through an audited refusal where
    /// possible) and everything else goes on — the rate windows, the connections, the calls in flight. That is safe
    /// because no handler leaves the state half-changed in a way that loosens anything: the rate state is replaced
    /// whole, after the decision; the maps of runs, approvals and connections only ever make a later call wait or fail
    /// closed if an entry is left behind.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        _current = message;
        _currentSender = Sender;
        _handedOff = false;
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "The session of agent {Agent} failed while handling {Message}; its caller is answered with InternalError and the session keeps its state",
                _agent, message.GetType().Name);
            AnswerFailed(message, e);
            return true;
        }
    }

    // Answers the caller of a message whose handling failed, unless the message was already handed to a run or the ledger.
    private void AnswerFailed(object message, Exception cause)
    {
        switch (message)
        {
            case Invoke m when !_handedOff:
                Self.Tell(new FailedCall(m, null));
                return;
            case IdempotencyMessages.Admitted m when !_handedOff:
                // A keyed caller waits on the ledger, which records the answer and tells every waiter.
                Self.Tell(new FailedCall(m.Invoke, m.Refusal is null ? _currentSender : null));
                return;
            case PathsResolved m when !_handedOff:
                Self.Tell(new FailedCall(m.Invoke, m.Ledger));
                return;
            case FailedCall m:
                // Even the refusal could not be started: answer without a run.
                var result = ToolCallResult.Failure(m.Invoke.Call.RequestedName, Errors.Internal(FailedCall.Message), null, 0);
                if (m.Ledger is not null && m.Invoke.Call.IdempotencyKey is { } key) m.Ledger.Tell(new IdempotencyMessages.RunAnswered(key, result, false));
                else m.Invoke.ReplyTo.Tell(result);
                return;
            case Terminate when !_handedOff:
                _currentSender.Tell(new AgentSessionReplies.TerminateResult(_agent.Value, 0));
                return;
            case GetInfo:
                _currentSender.Tell(new Status.Failure(cause));
                return;
        }
    }

    /// <summary>
    /// The entity failed outside its message handling (a supervision callback, a kill): it restarts. Its state
    /// (<see cref="SessionState"/>) is kept — rate windows, connections, approvals — but its children stop, as a
    /// restart requires (a tool run cannot survive one without running its call again), and every caller waiting on
    /// them is answered at once with <c>InternalError</c>: callers of live runs here, keyed callers by the ledger as it
    /// stops, the failed message's caller through an audited refusal.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        _log.Error(reason, "The session of agent {Agent} failed; it restarts with its rate windows and connections kept, and its calls in flight answered", _agent);
        if (message is not null && ReferenceEquals(message, _current)) AnswerFailed(message, reason);
        CutOffRuns("the agent's session restarted after a failure");
        // The terminate timers do not survive the restart: answer those terminations now (their connections were told).
        foreach (var n in _state.Closing.Keys.ToList()) AnswerTerminate(n);
        foreach (var child in Context.GetChildren())
        {
            Context.Unwatch(child);
            Context.Stop(child);
        }
        _state.Ledger = null;
        // Not base.PreRestart: it would call PostStop, which closes the connections the next instance keeps serving.
    }

    /// <inheritdoc />
    protected override void PostRestart(Exception reason)
    {
        foreach (var connection in _state.Connections.Values.Select(c => c.Connection).Distinct()) Context.Watch(connection);
        base.PostRestart(reason);
    }

    /// <summary>
    /// Stopped while the node runs (passivation, a shard handoff, or failures beyond the parent's restart limit). Runs
    /// stop with the entity: their callers are answered at once (keyed ones by the ledger, which stops too), and
    /// connections are closed, since the next incarnation would not know them and could not end them on revocation.
    /// </summary>
    protected override void PostStop()
    {
        // At a gateway shutdown the callers' connections close with it, and a client that re-sends a keyed call after
        // reconnecting must find it unanswered (ADR 0010): only a stop while the node runs answers them.
        if (CoordinatedShutdown.Get(Context.System).ShutdownReason is not null)
        {
            base.PostStop();
            return;
        }
        CutOffRuns("the agent's session stopped");
        foreach (var n in _state.Closing.Keys.ToList()) AnswerTerminate(n);
        foreach (var connection in _state.Connections.Values.Select(c => c.Connection).Distinct())
            connection.Tell(new AgentSessionReplies.Terminated("the agent's session stopped; reconnect"));
        base.PostStop();
    }

    // Every live run is about to stop with its call unanswered: tell its caller now (a keyed caller hears it from the
    // ledger, which stops too and answers all of its waiters).
    private void CutOffRuns(string why)
    {
        foreach (var run in _state.Runs.Values.Where(r => r.Keyed is null))
            run.ReplyTo.Tell(ToolCallResult.Failure(run.Capability,
                Errors.Internal($"'{run.Capability}' was cut off: {why} before the call finished; it may or may not have taken effect."), null, 0));
        _state.Runs.Clear();
        // Calls whose paths were still being resolved had not been decided, let alone run.
        foreach (var pending in _state.Resolving.Values.Where(r => !r.Keyed))
            pending.ReplyTo.Tell(ToolCallResult.Failure(pending.Capability, Errors.Internal($"'{pending.Capability}' was not run: {why} before it was decided."), null, 0));
        _state.Resolving.Clear();
        _state.InFlight = 0;
    }

    /// <summary>A call whose handling failed; answered next through an audited refusal.</summary>
    private sealed record FailedCall(Invoke Invoke, IActorRef? Ledger) : INoSerializationVerificationNeeded
    {
        public const string Message = "The gateway failed while handling this call; it was not run.";
    }

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        // A ToolRun has side effects: it is never restarted. It reports its own failures as results; one that
        // crashes instead is stopped, and its caller is answered here.
        new StopAndReport(RunCrashed);

    private void RunCrashed(IActorRef child, Exception cause)
    {
        if (!_state.Runs.Remove(child, out var run)) return;
        _log.Error(cause, "Tool run {Run} of {Capability} crashed; stopped, and its caller answered with an internal error", child.Path.Name, run.Capability);
        var result = ToolCallResult.Failure(run.Capability, Errors.Internal($"'{run.Capability}' failed unexpectedly."), null, 0);
        // A keyed call is recorded as answered (it may have run): a re-sent key gets this answer, never a second run.
        if (run.Keyed is { } keyed) keyed.Ledger.Tell(new IdempotencyMessages.RunAnswered(keyed.Key, result, true));
        else run.ReplyTo.Tell(result);
        _state.InFlight--;
        UpdateIdleTimeout();
    }

    /// <summary>Stops a failed child (never restarts it) and tells the session which child failed.</summary>
    private sealed class StopAndReport(Action<IActorRef, Exception> failed) : OneForOneStrategy(_ => Directive.Stop)
    {
        public override void ProcessFailure(IActorContext context, bool restart, IActorRef child, Exception cause, Akka.Actor.Internal.ChildRestartStats stats,
            IReadOnlyCollection<Akka.Actor.Internal.ChildRestartStats> children)
        {
            // Runs on the session's own thread (failure handling is part of the parent's message processing).
            failed(child, cause);
            base.ProcessFailure(context, restart, child, cause, stats, children);
        }
    }

    /// <inheritdoc />
    protected override void PreStart() => UpdateIdleTimeout();

    private void HandleAttach(Attach m)
    {
        if (_state.Connections.Count >= _deps.MaxConnectionsPerAgent && !_state.Connections.ContainsKey(m.SessionId))
        {
            _log.Warning("Agent {Agent} reached {Max} connections; refusing session {SessionId}", _agent, _deps.MaxConnectionsPerAgent, m.SessionId);
            m.Connection.Tell(new AgentSessionReplies.Terminated($"agent '{_agent}' already has {_deps.MaxConnectionsPerAgent} open connections"));
            return;
        }
        _state.Connections[m.SessionId] = (m.Connection, m.Client, m.At);
        _state.LastConnectedAt = m.At;
        Context.Watch(m.Connection);
        UpdateIdleTimeout();
        Publish(SupervisionEventTypes.SessionStarted, m.SessionId, new { session_id = m.SessionId, client = m.Client.Initiating });
    }

    private void RemoveConnection(string sessionId, string why, bool unwatch = true)
    {
        if (!_state.Connections.Remove(sessionId, out var entry)) return;
        if (unwatch && !_state.Connections.Values.Any(c => c.Connection.Equals(entry.Connection))) Context.Unwatch(entry.Connection);
        var duration = _deps.Clock.GetUtcNow() - entry.At;
        Publish(SupervisionEventTypes.SessionEnded, sessionId,
            new { session_id = sessionId, duration_seconds = (long)duration.TotalSeconds, reason = why });
        UpdateIdleTimeout();
    }

    private void HandleInvoke(Invoke m)
    {
        // Before anything decodes, hashes or records the arguments: malformed text (a lone surrogate, invalid UTF-8)
        // is refused as InvalidInput naming the field, and recorded in a repaired form. The edges check already.
        var call = m.Call.WithCheckedText();
        if (!ReferenceEquals(call, m.Call)) m = m with { Call = call };
        // Refused at the edge: answered and audited through a run like any boundary error, nothing else happens.
        if (m.Call.EdgeRefusal is { } refused)
        {
            StartRun(m, null, refused, null);
            return;
        }
        if (m.Call.IdempotencyKey is not { } key)
        {
            StartRun(m, null, null, null);
            return;
        }
        if (IdempotencyKeys.Validate(key) is { } invalid)
        {
            StartRun(m, null, invalid, null);
            return;
        }
        Ledger().Tell(new IdempotencyMessages.Begin(m, key, IdempotencyKeys.Fingerprint(m.Call.RequestedName, m.Call.Arguments)));
        _handedOff = true;
    }

    // The ledger starts with the first keyed call and stops with the session; if it stopped on a journal
    // failure, the next keyed call starts it again (it recovers from the journal).
    private IActorRef Ledger()
    {
        if (_state.Ledger is not null) return _state.Ledger;
        _state.Ledger = Context.ActorOf(IdempotencyLedgerActor.Props(_agent.Value, _deps.Idempotency ?? IdempotencyLimits.Default, _deps.Clock),
            $"idempotency-{++_state.LedgerGeneration}");
        Context.Watch(_state.Ledger);
        return _state.Ledger;
    }

    private void StartRun(Invoke m, ApprovalId? reattach, StructuredError? refusal, IActorRef? ledger)
    {
        _state.Invocations++;
        var call = m.Call;
        var connectedAt = _state.Connections.TryGetValue(call.SessionId, out var c) ? c.At : _deps.Clock.GetUtcNow();
        var snapshot = new SessionSnapshot(_agent, call.SessionId, connectedAt, _state.Invocations, call.Client);
        // A refused call is recorded under its dotted name when the name resolves (tools/call sends category__op).
        var plan = refusal is not null
            ? new ToolRunPlan(call, snapshot, m.ReplyTo, _deps.Catalog.Registry.TryResolve(call.RequestedName, out var named) ? named : null,
                call.Arguments, null, refusal)
            : Plan(m, snapshot, reattach, ledger);
        // null: the call's paths are being resolved in the sandbox first; it goes on in HandleResolved.
        if (plan is not null) Launch(m, plan, ledger);
    }

    private void Launch(Invoke m, ToolRunPlan plan, IActorRef? ledger)
    {
        var call = m.Call;
        // A keyed run reports to the ledger, which records the outcome before anyone hears it.
        if (ledger is not null) plan = plan with { Keyed = new KeyedCall(call.IdempotencyKey!, ledger) };
        _state.InFlight++;
        UpdateIdleTimeout();
        var run = Context.ActorOf(ToolRunActor.Props(plan, _deps.Catalog, _deps.Identities, _deps.Audit, _deps.Policy, _deps.ToolRuns, _deps.Clock,
            _deps.AuditAvailability),
            $"run-{++_state.RunSequence}");
        _state.Runs[run] = (m.ReplyTo, plan.Keyed, plan.Capability?.Name.Value ?? call.RequestedName);
        _handedOff = true;
        if (plan.Approval is { IsNew: true } approval) Request(plan, approval, run);
    }

    // The session sends every new request itself, before any identical call can be planned to join it, so a
    // joiner's hold always reaches the approval after the request that creates it.
    private void Request(ToolRunPlan plan, ApprovalPlan approval, IActorRef run) =>
        approval.Region.Tell(new ApprovalCommands.RequestApproval(ApprovalRequests.For(plan, approval, _deps.Clock.GetUtcNow())), run);

    private ApprovalPlan Reassign(ApprovalNeeded m, IActorRef run)
    {
        var hash = m.Plan.Approval!.ArgumentsHash;
        var capability = m.Plan.Capability!.Name.Value;
        var hold = m.Plan.Approval.HoldTimeout;
        var key = (capability, hash);
        if (_state.Approvals.TryGetValue(key, out var current) && current != m.Closed) return new ApprovalPlan(current, hash, false, _deps.Approvals!, hold);
        if (_deps.ApprovalIndex?.FindOpen(m.Plan.Call.Agent, capability, hash) is { } open && open != m.Closed)
            return new ApprovalPlan(open, hash, false, _deps.Approvals!, hold);
        var fresh = new ApprovalPlan(ApprovalId.New(), hash, true, _deps.Approvals!, hold);
        _state.Approvals[key] = fresh.Id;
        Request(m.Plan, fresh, run);
        return fresh;
    }

    private ToolRunPlan? Plan(Invoke m, SessionSnapshot snapshot, ApprovalId? reattach, IActorRef? ledger)
    {
        var call = m.Call;
        if (!_deps.Catalog.Registry.TryResolve(call.RequestedName, out var capability))
            return new ToolRunPlan(call, snapshot, m.ReplyTo, null, call.Arguments, null, Errors.UnknownCapability(call.RequestedName));
        if (!ArgumentValidator.TryValidate(capability, call.Arguments, out var normalized, out var invalid))
            return new ToolRunPlan(call, snapshot, m.ReplyTo, capability, call.Arguments, null, invalid);
        if (ResolvePathsFirst(m, snapshot, capability, normalized, reattach, ledger)) return null;
        return Decide(m, snapshot, capability, normalized, reattach, pathsDecided: false);
    }

    private ToolRunPlan Decide(Invoke m, SessionSnapshot snapshot, CapabilityDefinition capability, System.Text.Json.JsonElement normalized, ApprovalId? reattach,
        bool pathsDecided)
    {
        var call = m.Call;
        var now = _deps.Clock.GetUtcNow();
        // Counters of rules whose window has passed are dropped now and then, so the ledger stays bounded.
        if (_state.Invocations % 256 == 0) _state.Rates = _state.Rates.Prune(now);
        var verdict = _deps.Policy.Decide(call.Principal, capability, normalized, now, _state.Rates, out _state.Rates);
        // Until the index has replayed the journal it cannot tell whether the identical call is already
        // pending, and a second request would duplicate it: fail closed (retryable) instead.
        // A re-attached call names its approval, so it cannot duplicate one and need not wait.
        if (verdict.Tier == Tier.ApprovalRequired && verdict.Refusal is null && reattach is null && _deps.ApprovalIndex is { Ready.IsCompleted: false })
            return new ToolRunPlan(call, snapshot, m.ReplyTo, capability, normalized, verdict,
                Errors.ServiceUnavailable("approvals", "the approval queue is still loading after a restart; retry shortly"), PathsDecided: pathsDecided);
        return new ToolRunPlan(call, snapshot, m.ReplyTo, capability, normalized, verdict, null, PlanApproval(call, capability, normalized, verdict, reattach),
            PathsDecided: pathsDecided);
    }

    /// <summary>
    /// ADR 0023: a sandboxed call naming a path that a rule of its policy decides on is decided on the path the sandbox
    /// will really open. The agent's worker resolves those arguments first (symbolic links followed inside the sandbox,
    /// as the operation would); the decision, the approval request, the audit entry and the execution then all use the
    /// resolved paths, and the sandbox opens exactly them. Every other call — no such rule, an in-process capability, a
    /// client's own tool decided for its hook — is decided at once, as before.
    /// </summary>
    private bool ResolvePathsFirst(Invoke m, SessionSnapshot snapshot, CapabilityDefinition capability, System.Text.Json.JsonElement normalized,
        ApprovalId? reattach, IActorRef? ledger)
    {
        var call = m.Call;
        if (call.DecideOnly || capability.Execution != ExecutionMode.Sandboxed) return false;
        if (_deps.Catalog.HandlerFor(capability.Name) is not Capabilities.IPathResolvingHandler resolver) return false;
        var names = _deps.Policy.DecidedPathArguments(call.Principal, capability);
        if (names.IsDefaultOrEmpty || !names.Any(n => normalized.TryGetProperty(n, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String)) return false;
        var token = ++_state.ResolutionSequence;
        _state.Resolving[token] = (m.ReplyTo, ledger is not null, capability.Name.Value);
        _state.InFlight++;
        UpdateIdleTimeout();
        _handedOff = true;
        resolver.ResolvePathsAsync(_agent, normalized, names, CancellationToken.None).PipeTo(Self,
            success: r => new PathsResolved(token, m, snapshot, capability, normalized, reattach, ledger, r),
            failure: e => new PathsResolved(token, m, snapshot, capability, normalized, reattach, ledger,
                new Capabilities.PathResolution(null, Errors.Internal($"the paths of '{capability.Name}' could not be resolved in the sandbox ({e.GetType().Name})"))));
        return true;
    }

    private void HandleResolved(PathsResolved r)
    {
        // Cut off meanwhile (the entity restarted): its caller was answered then.
        if (!_state.Resolving.Remove(r.Token)) return;
        _state.InFlight--;
        var plan = r.Result is { Error: null, Arguments: { } resolved }
            ? Decide(r.Invoke, r.Snapshot, r.Capability, resolved, r.Reattach, pathsDecided: true)
            : new ToolRunPlan(r.Invoke.Call, r.Snapshot, r.Invoke.ReplyTo, r.Capability, r.Normalized, null,
                r.Result.Error ?? Errors.Internal("the sandbox did not resolve the call's paths"));
        Launch(r.Invoke, plan, r.Ledger);
    }

    /// <summary>A call's path arguments as the sandbox resolved them (or why it could not).</summary>
    private sealed record PathsResolved(long Token, Invoke Invoke, SessionSnapshot Snapshot, CapabilityDefinition Capability,
        System.Text.Json.JsonElement Normalized, ApprovalId? Reattach, IActorRef? Ledger, Capabilities.PathResolution Result) : INoSerializationVerificationNeeded;

    private ApprovalPlan? PlanApproval(Core.Sessions.ToolCall call, CapabilityDefinition capability, System.Text.Json.JsonElement arguments, PolicyVerdict verdict,
        ApprovalId? reattach)
    {
        if (verdict.Tier != Tier.ApprovalRequired || verdict.Refusal is not null || _deps.Approvals is null || _deps.ApprovalIndex is null) return null;
        var hash = ApprovalArguments.Hash(arguments);
        var key = (capability.Name.Value, hash);
        var hold = _deps.ApprovalHoldTimeout ?? TimeSpan.FromDays(1);
        // A keyed call held before a restart joins exactly the approval it was held on, whatever its state.
        if (reattach is { } held) return new ApprovalPlan(held, hash, false, _deps.Approvals, hold, Reattach: true);
        if (_state.Approvals.TryGetValue(key, out var inFlight)) return new ApprovalPlan(inFlight, hash, false, _deps.Approvals, hold);
        if (_deps.ApprovalIndex.FindOpen(call.Agent, capability.Name.Value, hash) is { } open) return new ApprovalPlan(open, hash, false, _deps.Approvals, hold);
        var id = ApprovalId.New();
        _state.Approvals[key] = id;
        return new ApprovalPlan(id, hash, true, _deps.Approvals, hold);
    }

    private void HandleTerminate(Terminate m)
    {
        var waiting = new HashSet<IActorRef>();
        var closed = 0;
        foreach (var (id, entry) in _state.Connections.ToList())
        {
            entry.Connection.Tell(new AgentSessionReplies.Terminated(m.Reason));
            // Still watched: its Terminated says the transport is closed.
            RemoveConnection(id, m.Reason, unwatch: false);
            waiting.Add(entry.Connection);
            closed++;
        }
        if (closed > 0) _log.Info("Terminated {Count} connection(s) of agent {Agent}: {Reason}", closed, _agent, m.Reason);
        var n = ++_state.Terminations;
        _state.Closing[n] = (Sender, closed, waiting);
        _handedOff = true;
        if (waiting.Count == 0) AnswerTerminate(n);
        else Timers.StartSingleTimer(("terminate", n), new TerminateWaitOver(n), TerminateWait);
    }

    private void AnswerTerminate(long n)
    {
        if (!_state.Closing.Remove(n, out var closing)) return;
        Timers.Cancel(("terminate", n));
        closing.ReplyTo.Tell(new AgentSessionReplies.TerminateResult(_agent.Value, closing.Closed));
    }

    private sealed record TerminateWaitOver(long Termination) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private AgentSessionReplies.SessionInfo Info() => new(_agent.Value,
        [.. _state.Connections.Select(kv => new AgentSessionReplies.ConnectionInfo(kv.Key, kv.Value.Client.Initiating, kv.Value.At)).OrderBy(c => c.ConnectedAt)],
        _state.Invocations, _state.LastConnectedAt, _state.InFlight);

    // Idle with nothing open: ask the parent (shard or local parent) to stop us, buffering in-flight messages;
    // but not while a counted call is still inside its rate-limit window. The counters live only here, so
    // stopping would reset them: a 'max_per_hour' limit would last only as long as the idle timeout, and /rpc
    // callers, who hold no connection, would get a fresh limit after every pause.
    private void OnIdle()
    {
        if (_state.Connections.Count > 0 || _state.InFlight > 0 || _state.Closing.Count > 0) return;
        var now = _deps.Clock.GetUtcNow();
        _state.Rates = _state.Rates.Prune(now);
        if (_state.Rates.ExpiresAt is { } expires)
        {
            // Look again when the newest window ends; never sleep longer than the idle timeout, so a clock that
            // jumps ahead is noticed as well.
            var wait = expires - now;
            Context.SetReceiveTimeout(wait > _deps.IdleTimeout ? _deps.IdleTimeout : wait < MinIdleRecheck ? MinIdleRecheck : wait);
            return;
        }
        Context.Parent.Tell(new Passivate(PoisonPill.Instance));
    }

    private static readonly TimeSpan MinIdleRecheck = TimeSpan.FromMilliseconds(100);

    private void UpdateIdleTimeout()
    {
        if (_state.Connections.Count == 0 && _state.InFlight == 0) Context.SetReceiveTimeout(_deps.IdleTimeout);
        else Context.SetReceiveTimeout(null);
    }

    private void Publish<T>(string type, string sessionId, T data) where T : notnull =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(type, _deps.Clock.GetUtcNow(), _agent.Value, sessionId, data));
}

/// <summary>
/// What one incarnation of an <see cref="AgentSessionActor"/> knows, kept outside the actor instance so that a
/// restart of the actor loses none of it (the props' producer hands the same object to every instance it creates).
/// Only the actor's own thread touches it, one instance at a time.
/// </summary>
internal sealed class SessionState
{
    /// <summary>The agent's rate-limit windows (an immutable value, replaced whole after each decision).</summary>
    public RateState Rates = RateState.Empty;

    public long Invocations;
    public long RunSequence;
    public long LedgerGeneration;
    public long Terminations;
    public int InFlight;
    public DateTimeOffset? LastConnectedAt;

    public long ResolutionSequence;

    /// <summary>Calls whose path arguments the sandbox is resolving before they are decided (ADR 0023), by token.</summary>
    public readonly Dictionary<long, (IActorRef ReplyTo, bool Keyed, string Capability)> Resolving = [];

    /// <summary>The idempotency ledger child, while it lives.</summary>
    public IActorRef? Ledger;

    /// <summary>Open connections by session id.</summary>
    public readonly Dictionary<string, (IActorRef Connection, Core.Sessions.ClientInfo Client, DateTimeOffset At)> Connections = new(StringComparer.Ordinal);

    /// <summary>Terminations whose connections have been told to close but have not yet stopped: each is answered once
    /// they all have (a stopped connection actor has closed its transport), so "killed" means closed.</summary>
    public readonly Dictionary<long, (IActorRef ReplyTo, int Closed, HashSet<IActorRef> Waiting)> Closing = [];

    /// <summary>Each live run's caller, so a run that crashes (stopped by the strategy, never restarted) still has its caller answered.</summary>
    public readonly Dictionary<IActorRef, (IActorRef ReplyTo, KeyedCall? Keyed, string Capability)> Runs = [];

    /// <summary>Approvals this entity created for its runs, by (capability, argument hash), until the node's index
    /// (rebuilt from the journal at start, fed after every persist) knows them: an identical call joins them.
    /// This entity is the only place that creates approvals for its agent, so identical calls never create two.</summary>
    public readonly Dictionary<(string Capability, string Hash), ApprovalId> Approvals = [];
}
