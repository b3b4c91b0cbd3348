using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
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
    Audit.AuditAvailability? AuditAvailability = null,
    Pauses.PauseDirectory? Pauses = null,
    KruxOS.Core.Proxy.BatchRules? Batch = null);

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
        Receive<RunHoldChanged>(m => { if (_state.Runs.TryGetValue(Sender, out var run)) run.HeldOn = m.Approval; });
        Receive<ApprovalNeeded>(m => Sender.Tell(new ApprovalAssigned(_state.Joiner.Reassign(m, Sender))));
        Receive<ApprovalSettled>(m => _state.Joiner.Settled(m));
        Receive<Terminate>(HandleTerminate);
        Receive<GetInfo>(_ => Sender.Tell(Info()));
        Receive<Notify>(m =>
        {
            var notification = new AgentSessionReplies.Notification(m.Method, m.ParamsJson);
            foreach (var connection in _state.Connections.Actors) connection.Tell(notification);
        });
        Receive<Akka.Actor.Terminated>(t =>
        {
            if (t.ActorRef.Equals(_state.Ledger)) { _state.Ledger = null; return; }
            foreach (var id in _state.Connections.SessionsOf(t.ActorRef)) RemoveConnection(id, "connection actor stopped");
            foreach (var n in _state.Connections.ActorStopped(t.ActorRef)) AnswerTerminate(n);
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
        Akka.Actor.Props.CreateBy(new Producer(entityId, deps, new SessionState(deps)));

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
        foreach (var n in _state.Connections.Terminations) AnswerTerminate(n);
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
        foreach (var connection in _state.Connections.Actors) Context.Watch(connection);
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
        foreach (var n in _state.Connections.Terminations) AnswerTerminate(n);
        foreach (var connection in _state.Connections.Actors)
            connection.Tell(new AgentSessionReplies.Terminated("the agent's session stopped; reconnect"));
        base.PostStop();
    }

    // Every live run is about to stop with its call unanswered: tell its caller now (a keyed caller hears it from the
    // ledger, which stops too and answers all of its waiters).
    private void CutOffRuns(string why)
    {
        // A run still bound to its approval has run nothing: its caller re-attaches to that approval (ADR 0058).
        foreach (var run in _state.Runs.Values.Where(r => r.Keyed is null))
            run.ReplyTo.Tell(ToolCallResult.Failure(run.Capability, run.HeldOn is { } held
                ? Errors.ApprovalReattach(run.Capability, held.Value)
                : Errors.Internal($"'{run.Capability}' was cut off: {why} before the call finished; it may or may not have taken effect."), null, 0));
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
        if (!_state.Connections.TryAttach(m.SessionId, m.Connection, m.Client, m.At))
        {
            _log.Warning("Agent {Agent} reached {Max} connections; refusing session {SessionId}", _agent, _deps.MaxConnectionsPerAgent, m.SessionId);
            m.Connection.Tell(new AgentSessionReplies.Terminated($"agent '{_agent}' already has {_deps.MaxConnectionsPerAgent} open connections"));
            return;
        }
        Context.Watch(m.Connection);
        UpdateIdleTimeout();
        Publish(SupervisionEventTypes.SessionStarted, m.SessionId, new { session_id = m.SessionId, client = m.Client.Initiating });
    }

    private void RemoveConnection(string sessionId, string why, bool unwatch = true)
    {
        if (!_state.Connections.TryRemove(sessionId, out var entry, out var stillOpen)) return;
        if (unwatch && !stillOpen) Context.Unwatch(entry.Actor);
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
        // The submitter watches this entity from now on: if it is lost before answering, the submitter answers (ADR 0058).
        if (call.ReportHold) m.ReplyTo.Tell(new AgentSessionReplies.CallAccepted(Self));
        // Refused at the edge: answered and audited through a run like any boundary error, nothing else happens.
        if (m.Call.EdgeRefusal is { } refused)
        {
            StartRun(m, null, refused, null);
            return;
        }
        // Revoked (or its user token revoked) since the submitter checked, or never checked by it (an in-process submitter:
        // the scheduler, the dashboard): refused with the edges' own error and audited, whoever submitted the call.
        if (Core.Identity.CallerStanding.Refusal(_deps.Identities.Current, _deps.Identities.Ready.IsCompletedSuccessfully, _agent) is { } standing)
        {
            StartRun(m, null, standing, null);
            return;
        }
        // Paused by the operator (kruxos pause): every call fails fast, audited, and the connections stay open. Until the
        // node knows the durable pause list, nothing runs (fail closed).
        if (_deps.Pauses is { } pauses && PauseRefusal(pauses) is { } paused)
        {
            StartRun(m, null, paused, null);
            return;
        }
        if (m.Call.IdempotencyKey is not { } key)
        {
            // The same submitter re-sending the same re-attach (its first send sat in a region while the agent's shard moved, and
            // the submitter sent it again): one run answers it; a second would find the approval spent by the first.
            if (m.Call.Reattach is { } again && _state.Runs.Values.Any(r => r.Reattach == again && r.ReplyTo.Equals(m.ReplyTo))) return;
            // A call naming the approval it was held on (ADR 0058) joins exactly that one, if it was requested for this call.
            StartRun(m, m.Call.Reattach, null, null);
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

    private StructuredError? PauseRefusal(Pauses.PauseDirectory pauses) =>
        !pauses.Ready.IsCompleted ? Errors.ServiceUnavailable("pauses", "the pause list is still loading")
        : pauses.IsPaused(_agent.Value) ? Core.Pauses.PauseErrors.SessionPaused(_agent.Value)
        : null;

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
        var started = Stopwatch.GetTimestamp();
        _state.Invocations++;
        var call = m.Call;
        var connectedAt = _state.Connections.ConnectedAt(call.SessionId, _deps.Clock.GetUtcNow());
        var snapshot = new SessionSnapshot(_agent, call.SessionId, connectedAt, _state.Invocations, call.Client);
        var resolved = refusal is not null ? CallPlanner.Refused(call, _deps.Catalog.Registry, refusal) : CallPlanner.Resolve(call, _deps.Catalog.Registry);
        if (resolved.Refusal is not null) Launch(m, Refused(m, snapshot, resolved, started), ledger);
        // Otherwise decided now, or once the sandbox has resolved the call's paths (HandleResolved).
        else if (!ResolvePathsFirst(m, snapshot, resolved, reattach, ledger, started)) Launch(m, Decide(m, snapshot, resolved, reattach, pathsDecided: false, started), ledger);
    }

    private void Launch(Invoke m, ToolRunPlan plan, IActorRef? ledger)
    {
        var call = m.Call;
        // A keyed run reports to the ledger, which records the outcome before anyone hears it.
        if (ledger is not null) plan = plan with { Keyed = new KeyedCall(call.IdempotencyKey!, ledger) };
        _state.InFlight++;
        UpdateIdleTimeout();
        var run = Context.ActorOf(ToolRunActor.Props(plan, _state.RunCollaborators), $"run-{++_state.RunSequence}");
        _state.Runs[run] = new RunEntry(m.ReplyTo, plan.Keyed, plan.Capability?.Name.Value ?? call.RequestedName) { Reattach = call.Reattach };
        _handedOff = true;
        // The session sends every new request itself, before any identical call can be planned to join it, so a
        // joiner's hold always reaches the approval after the request that creates it.
        _state.Joiner.RequestIfNew(plan, run);
    }

    private static ToolRunPlan Refused(Invoke m, SessionSnapshot snapshot, ResolvedCall call, long started) =>
        new(m.Call, snapshot, m.ReplyTo, call.Capability, call.Arguments, null, call.Refusal, DecideStarted: started, DecideEnded: Stopwatch.GetTimestamp());

    private ToolRunPlan Decide(Invoke m, SessionSnapshot snapshot, ResolvedCall resolved, ApprovalId? reattach, bool pathsDecided, long started)
    {
        var call = m.Call;
        var (decision, rates) = CallPlanner.Decide(resolved, call.Principal, _deps.Policy, _state.Rates, _deps.Clock.GetUtcNow(), _state.Invocations,
            _state.Joiner.IndexLoading, _state.Joiner.Available, reattach is not null, _deps.Batch, snapshot.SessionId);
        _state.Rates = rates;
        var approval = decision.ApprovalArgumentsHash is { } hash ? _state.Joiner.Assign(call.Agent, resolved.Capability!.Name.Value, hash, reattach) : null;
        return new ToolRunPlan(call, snapshot, m.ReplyTo, resolved.Capability, resolved.Arguments, decision.Verdict, decision.Refusal, approval, PathsDecided: pathsDecided,
            DecideStarted: started, DecideEnded: Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// ADR 0023: a sandboxed call naming a path that a rule of its policy decides on is decided on the path the sandbox
    /// will really open. The agent's worker resolves those arguments first (symbolic links followed inside the sandbox,
    /// as the operation would); the decision, the approval request, the audit entry and the execution then all use the
    /// resolved paths, and the sandbox opens exactly them. Every other call — no such rule, an in-process capability, a
    /// client's own tool decided for its hook — is decided at once, as before.
    /// </summary>
    private bool ResolvePathsFirst(Invoke m, SessionSnapshot snapshot, ResolvedCall resolved, ApprovalId? reattach, IActorRef? ledger, long started)
    {
        var call = m.Call;
        var capability = resolved.Capability!;
        var normalized = resolved.Arguments;
        // Sandboxed capabilities, and in-process ones that write through the sandbox (network.download), resolve first.
        if (call.DecideOnly) return false;
        if (_deps.Catalog.HandlerFor(capability.Name) is not IPathResolvingHandler resolver) return false;
        var names = _deps.Policy.DecidedPathArguments(call.Principal, capability);
        if (names.IsDefaultOrEmpty || !names.Any(n => normalized.TryGetProperty(n, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String)) return false;
        var token = ++_state.ResolutionSequence;
        _state.Resolving[token] = (m.ReplyTo, ledger is not null, capability.Name.Value);
        _state.InFlight++;
        UpdateIdleTimeout();
        _handedOff = true;
        resolver.ResolvePathsAsync(_agent, normalized, names, CancellationToken.None).PipeTo(Self,
            success: r => new PathsResolved(token, m, snapshot, resolved, reattach, ledger, r, started),
            failure: e => new PathsResolved(token, m, snapshot, resolved, reattach, ledger,
                new PathResolution(null, Errors.Internal($"the paths of '{capability.Name}' could not be resolved in the sandbox ({e.GetType().Name})")), started));
        return true;
    }

    private void HandleResolved(PathsResolved r)
    {
        // Cut off meanwhile (the entity restarted): its caller was answered then.
        if (!_state.Resolving.Remove(r.Token)) return;
        _state.InFlight--;
        var plan = r.Result is { Error: null, Arguments: { } resolved }
            ? Decide(r.Invoke, r.Snapshot, r.Call with { Arguments = resolved }, r.Reattach, pathsDecided: true, r.Started)
            : Refused(r.Invoke, r.Snapshot, r.Call with { Refusal = r.Result.Error ?? Errors.Internal("the sandbox did not resolve the call's paths") }, r.Started);
        Launch(r.Invoke, plan, r.Ledger);
    }

    /// <summary>A call's path arguments as the sandbox resolved them (or why it could not).</summary>
    private sealed record PathsResolved(long Token, Invoke Invoke, SessionSnapshot Snapshot, ResolvedCall Call, ApprovalId? Reattach, IActorRef? Ledger,
        PathResolution Result, long Started) : INoSerializationVerificationNeeded;

    private void HandleTerminate(Terminate m)
    {
        var waiting = new HashSet<IActorRef>();
        var closed = 0;
        foreach (var connection in _state.Connections.All)
        {
            connection.Actor.Tell(new AgentSessionReplies.Terminated(m.Reason));
            // Still watched: its Terminated says the transport is closed.
            RemoveConnection(connection.SessionId, m.Reason, unwatch: false);
            waiting.Add(connection.Actor);
            closed++;
        }
        if (closed > 0) _log.Info("Terminated {Count} connection(s) of agent {Agent}: {Reason}", closed, _agent, m.Reason);
        var n = _state.Connections.BeginTermination(Sender, closed, waiting);
        _handedOff = true;
        if (waiting.Count == 0) AnswerTerminate(n);
        else Timers.StartSingleTimer(("terminate", n), new TerminateWaitOver(n), TerminateWait);
    }

    private void AnswerTerminate(long n)
    {
        if (!_state.Connections.TryEnd(n, out var replyTo, out var closed)) return;
        Timers.Cancel(("terminate", n));
        replyTo.Tell(new AgentSessionReplies.TerminateResult(_agent.Value, closed));
    }

    private sealed record TerminateWaitOver(long Termination) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private AgentSessionReplies.SessionInfo Info() =>
        new(_agent.Value, _state.Connections.Info(), _state.Invocations, _state.Connections.LastConnectedAt, _state.InFlight);

    // Idle with nothing open: ask the parent (shard or local parent) to stop us, buffering in-flight messages;
    // but not while a counted call is still inside its rate-limit window. The counters live only here, so
    // stopping would reset them: a 'max_per_hour' limit would last only as long as the idle timeout, and /rpc
    // callers, who hold no connection, would get a fresh limit after every pause.
    private void OnIdle()
    {
        if (_state.Connections.Count > 0 || _state.InFlight > 0 || _state.Connections.AnyClosing) return;
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
internal sealed class SessionState(AgentSessionDependencies deps)
{
    /// <summary>What each run of this session works with (one record, built once).</summary>
    public readonly ToolRunCollaborators RunCollaborators = new(deps.Catalog, deps.Policy, deps.Identities, deps.Audit, deps.ToolRuns, deps.Clock, deps.AuditAvailability);

    /// <summary>Which approval each call that needs one waits on; the only sender of this agent's approval requests.</summary>
    public readonly ApprovalJoiner Joiner = new(deps.Approvals, deps.ApprovalIndex, deps.ApprovalHoldTimeout, deps.Clock);

    /// <summary>The agent's rate-limit windows (an immutable value, replaced whole after each decision).</summary>
    public RateState Rates = RateState.Empty;

    public long Invocations;
    public long RunSequence;
    public long LedgerGeneration;
    public int InFlight;

    public long ResolutionSequence;

    /// <summary>Calls whose path arguments the sandbox is resolving before they are decided (ADR 0023), by token.</summary>
    public readonly Dictionary<long, (IActorRef ReplyTo, bool Keyed, string Capability)> Resolving = [];

    /// <summary>The idempotency ledger child, while it lives.</summary>
    public IActorRef? Ledger;

    /// <summary>The agent's open connections and the terminations waiting for them to close.</summary>
    public readonly AgentConnections Connections = new(deps.MaxConnectionsPerAgent);

    /// <summary>Each live run's caller, so a run that crashes (stopped by the strategy, never restarted) still has its caller answered.</summary>
    public readonly Dictionary<IActorRef, RunEntry> Runs = [];
}

/// <summary>One live run of a session: its caller, key, capability, and the approval it is bound to while it has run nothing.</summary>
internal sealed class RunEntry(IActorRef replyTo, KeyedCall? keyed, string capability)
{
    public IActorRef ReplyTo { get; } = replyTo;

    public KeyedCall? Keyed { get; } = keyed;

    public string Capability { get; } = capability;

    /// <summary>The approval the run waits on (<see cref="RunHoldChanged"/>); null before it is bound and once it executes.</summary>
    public Core.Approvals.ApprovalId? HeldOn { get; set; }

    /// <summary>The approval the call named when it was sent again to re-attach (ADR 0058), if it was.</summary>
    public Core.Approvals.ApprovalId? Reattach { get; init; }
}
