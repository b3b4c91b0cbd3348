using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Comms;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;
using KruxOS.Core.Identity;
using KruxOS.Core.Scheduling;
using KruxOS.Core.Sessions;
using static KruxOS.Core.Scheduling.SchedulerCommands;
using static KruxOS.Core.Scheduling.SchedulerReplies;

namespace KruxOS.Actors.Scheduling;

/// <summary>Registry key of the scheduler entities (<c>scheduler</c> shard region, or <c>/user/gateway/schedulers</c>).</summary>
public sealed class SchedulerRegion;

/// <summary>Routes scheduler commands by agent name: an agent reaches only its own jobs.</summary>
public sealed class SchedulerMessageExtractor() : HashCodeMessageExtractor(ShardCount)
{
    /// <summary>About ten times the largest planned cluster. Frozen once deployed.</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as ISchedulerMessage)?.Agent.Value;
}

/// <summary>
/// The scheduler's clock (the seam specs control): every due time is decided against it. Production reads
/// <see cref="TimeProvider.System"/>.
/// </summary>
public sealed class SchedulerClock(TimeProvider time)
{
    /// <summary>Now.</summary>
    public DateTimeOffset Now => time.GetUtcNow();
}

/// <summary>What every scheduler entity shares.</summary>
/// <param name="Limits">The scheduler's limits.</param>
/// <param name="Clock">The clock due times are decided against.</param>
/// <param name="Dispatcher">The pipeline: every run is submitted here, as its agent, like a live call.</param>
/// <param name="Post">Where run results go (the agent's inbox).</param>
/// <param name="Identities">The node's identity read model (a revoked agent's jobs do not run).</param>
/// <param name="Pauses">The node's pause read model (a paused agent's jobs do not run).</param>
/// <param name="CheckInterval">How often the entity re-reads the clock (a controllable clock moves without timers).</param>
/// <param name="Clustered">This node is a cluster member: a run in flight is sent again when a member is removed (its session may have lived there).</param>
public sealed record SchedulerDependencies(SchedulerLimits Limits, SchedulerClock Clock, CallDispatcher Dispatcher, PostOffice Post,
    Identity.IdentityDirectory Identities, Pauses.PauseDirectory? Pauses, TimeSpan CheckInterval, bool Clustered = false);

/// <summary>
/// One agent's jobs, event-sourced under <c>scheduler-{agent}</c>. It decides with the pure
/// <see cref="SchedulerStateExtensions.ProcessCommand"/> (ADR 0036) and, for each due run, first persists that it fired
/// (so a due time fires at most once, also across a restart or the loss of the node that ran it) and only then submits the
/// run to the pipeline as the job's agent (<see cref="CallDispatcher.Dispatch"/>, held for approval like an MCP call,
/// idempotency key = the run id). The outcome is sent to the agent's inbox, then recorded. Before every tick it brings
/// the agent's revocation and pause into its state, so such an agent's jobs do not run.
/// <para>A run persisted as fired whose outcome is not recorded when the entity recovers (its node was killed, the process
/// restarted, the entity moved) is submitted again with the same run id: the agent's idempotency ledger answers it from its
/// record if it ran, re-attaches it to its approval if it was held, answers <c>OutcomeUnknown</c> if it was cut off while
/// executing, and runs it only if it never started — so the due time runs once and the job is never left in flight.</para>
/// </summary>
public sealed class SchedulerActor : ReceivePersistentActor, IWithTimers
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "scheduler-";

    /// <summary>The sender of run results in the agent's inbox.</summary>
    public const string ResultSender = "system:scheduler";

    private const int SnapshotEvery = 200;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AgentName _agent;
    private readonly SchedulerDependencies _deps;
    private SchedulerState _state;

    public SchedulerActor(string entityId, SchedulerDependencies deps)
    {
        _agent = AgentName.Parse(entityId);
        _deps = deps;
        _state = SchedulerState.Empty(_agent);

        Recover<SnapshotOffer>(o => { if (o.Snapshot is SchedulerSnapshot s) _state = SchedulerState.FromSnapshot(s); });
        Recover<ISchedulerEvent>(e => _state = _state.Apply(e));
        Recover<RecoveryCompleted>(_ => Recovered());
        Command<Tick>(_ => OnTick());
        Command<RunOutcome>(OnOutcome);
        Command<ISchedulerCommand>(c => Decide(c, Sender, null));
        Command<Delivered>(OnDelivered);
        Command<Redeliver>(r => Deliver(r.Message, r.Attempt, r.Then));
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Scheduler of {0}: snapshot failed; the journal still holds every event", _agent));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _agent.Value;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The entity's props.</summary>
    public static Props Props(string entityId, SchedulerDependencies deps) => Akka.Actor.Props.Create(() => new SchedulerActor(entityId, deps));

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        Timers.StartPeriodicTimer("check", new Tick(_agent), _deps.CheckInterval);
    }

    // Runs this incarnation inherited in flight (fired, no outcome recorded) go to the pipeline again under their run id; then a tick.
    private void Recovered()
    {
        foreach (var job in _state.Jobs.Values)
        {
            if (job is not { RunInFlight: { } runId, LastFiredDue: { } due }) continue;
            _log.Info("Scheduler of {0}: run {1} was in flight when the entity last stopped; submitting it again under its run id", _agent, runId);
            Submit(new ScheduledRun(job.JobId, runId, _agent, job.Capability, job.Inputs, due, job.Kind == JobKind.Delay ? "delay" : "schedule"));
        }
        Self.Tell(new Tick(_agent));
    }

    // Decides a command; persists its events; then replies and runs what the events call for.
    private void Decide(ISchedulerCommand command, IActorRef replyTo, Action<ISchedulerReply>? after)
    {
        ISchedulerReply reply;
        ImmutableArray<ISchedulerEvent> events;
        try
        {
            (reply, events) = _state.ProcessCommand(command, _deps.Clock.Now, _deps.Limits);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NullReferenceException)
        {
            _log.Warning(e, "Scheduler of {0}: refused a malformed {1}", _agent, command.GetType().Name);
            replyTo.Tell(new SchedulerRefused(Core.Errors.Errors.InvalidInput("command", "malformed scheduler command")));
            return;
        }
        if (events.IsEmpty)
        {
            replyTo.Tell(reply);
            after?.Invoke(reply);
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (--remaining > 0) return;
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state.ToSnapshot());
            replyTo.Tell(reply);
            after?.Invoke(reply);
        });
    }

    private void OnTick()
    {
        // The agent's standing first: a revoked or paused agent's jobs must not fire in this tick.
        var revoked = !_deps.Identities.Current.Agents.TryGetValue(_agent.Value, out var record) || record.Status != AgentStatus.Active;
        var paused = _deps.Pauses?.IsPaused(_agent.Value) ?? false;
        if (revoked != _state.Revoked)
        {
            Decide(revoked ? new Suspend(_agent, SuspendReason.Revoked) : new SchedulerCommands.Resume(_agent, SuspendReason.Revoked), ActorRefs.Nobody, _ => OnTick());
            return;
        }
        if (_deps.Pauses?.Ready.IsCompleted == false) return; // not known yet: do not fire (fail closed)
        if (paused != _state.Paused)
        {
            Decide(paused ? new Suspend(_agent, SuspendReason.Paused) : new SchedulerCommands.Resume(_agent, SuspendReason.Paused), ActorRefs.Nobody, _ => OnTick());
            return;
        }
        Decide(new Tick(_agent), ActorRefs.Nobody, reply =>
        {
            if (reply is not TickResult result) return;
            // Precise wake-up for the next due time on the real clock; the periodic check covers a clock moved by hand.
            if (result.NextWake is { } wake)
            {
                var wait = wake - _deps.Clock.Now;
                Timers.StartSingleTimer("wake", new Tick(_agent), wait < TimeSpan.Zero ? TimeSpan.Zero : wait > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : wait);
            }
            foreach (var run in result.Runs) Submit(run);
            foreach (var skipped in result.Skipped) Notify(MessagePriority.Normal,
                $"Scheduled job {skipped.JobId} did not run for its due times from {skipped.From:O} to before {skipped.Before:O}: {skipped.Reason}.");
        });
    }

    // The run goes through the whole pipeline as the agent: policy, approval hold, sandbox, audit. A per-run child waits for it.
    private void Submit(ScheduledRun run)
    {
        var arguments = JsonDocument.Parse(run.Inputs.Text).RootElement.Clone();
        var submission = new CallSubmission(Principal.ForAgent(run.Agent), run.Agent, SessionIds.New(), run.Capability.Value, arguments,
            new ClientInfo("kruxos-scheduler", "1"), CallMode.Held, IdempotencyKey: run.RunId, Trigger: new CallTrigger(run.Trigger, run.JobId));
        Context.ActorOf(RunWaiter.Props(run, submission, _deps.Dispatcher, _deps.Clustered), "run-" + run.RunId + "-" + Guid.NewGuid().ToString("N")[..6]);
    }

    private void OnOutcome(RunOutcome outcome)
    {
        var run = outcome.Run;
        var result = outcome.Result;
        var text = result.Error is { } error
            ? $"Scheduled run {run.RunId} of {run.Capability} ({run.Trigger} job {run.JobId}) failed: {error.ErrorType}: {error.Message}"
            : $"Scheduled run {run.RunId} of {run.Capability} ({run.Trigger} job {run.JobId}) succeeded: {Output(result)}";
        // The result reaches the inbox before the run is recorded finished, under an id derived from the run id. A node lost in
        // between leaves the run in flight: the next incarnation sends it again under its run id, the agent's ledger answers
        // from its record, and the inbox takes the repeated message id once. (Recorded first, a result cut off on its way to
        // the inbox was never sent again.)
        Notify(result.Error is null ? MessagePriority.Normal : MessagePriority.High, text, ResultMessageId(run.RunId),
            new FinishRun(_agent, run.JobId, run.RunId, result.Error is null));
    }

    /// <summary>The inbox message id of a run's result: the same for every report of one run (the inbox drops a repeated id).</summary>
    public static string ResultMessageId(string runId) =>
        CommsIds.MessagePrefix + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("scheduler-result\n" + runId)))[..16];

    private static string Output(ToolCallResult result)
    {
        var json = result.Data is { } d ? d.GetRawText() : "null";
        // An inbox message is at most 64 KiB; a larger output is cut (the audit entry records its size).
        return json.Length > 32 * 1024 ? json[..(32 * 1024)] + " …(cut)" : json;
    }

    private void Notify(MessagePriority priority, string text, string? messageId = null, FinishRun? then = null)
    {
        var clean = new string([.. text.Select(c => char.IsControl(c) && c is not ('\n' or '\t') ? ' ' : c)]);
        Deliver(new CommsMessage(messageId ?? CommsIds.NewMessageId(), ResultSender, _agent, null, priority, clean, _deps.Clock.Now, []), 1, then);
    }

    private void Deliver(CommsMessage message, int attempt, FinishRun? then) =>
        _deps.Post.DeliverAsync(_agent, message, CancellationToken.None)
            .PipeTo(Self, success: d => new Delivered(d, message, attempt, then), failure: _ => new Delivered(null, message, attempt, then));

    // Not queued (the inbox's node is being lost and it did not answer, or it refused): the same message is sent again a few
    // times, 5 s apart; the inbox takes its id once.
    private void OnDelivered(Delivered d)
    {
        if (d.Delivery is { Queued: true })
        {
            Finish(d.Then);
            return;
        }
        if (d.Attempt >= MaxDeliveries)
        {
            _log.Warning("Scheduler of {0}: message {1} could not be delivered to the inbox after {2} attempts: {3}", _agent, d.Message.MessageId, d.Attempt,
                d.Delivery?.Error?.Message ?? "no answer");
            Finish(d.Then); // the run is over either way: never keep its job in flight for an inbox that does not answer
            return;
        }
        Timers.StartSingleTimer("deliver-" + d.Message.MessageId, new Redeliver(d.Message, d.Attempt + 1, d.Then), RedeliverAfter);
    }

    private void Finish(FinishRun? run)
    {
        if (run is not null) Decide(run, ActorRefs.Nobody, null);
    }

    private const int MaxDeliveries = 6;
    private static readonly TimeSpan RedeliverAfter = TimeSpan.FromSeconds(5);

    private sealed record Delivered(Delivery? Delivery, CommsMessage Message, int Attempt, FinishRun? Then) : INoSerializationVerificationNeeded;

    private sealed record Redeliver(CommsMessage Message, int Attempt, FinishRun? Then) : INoSerializationVerificationNeeded;
}

/// <summary>A run's answer from the pipeline (or the submitter's own timeout).</summary>
internal sealed record RunOutcome(ScheduledRun Run, ToolCallResult Result) : INoSerializationVerificationNeeded;

/// <summary>
/// Submits one run and waits for its answer, at most as long as the dispatcher says a held call may take; then tells its parent
/// and stops. In a cluster the agent's session entity — which runs or holds the call — may live on another node; when a member
/// is removed the waiter sends the identical call (same run id = idempotency key) again, twice, once the shard regions have had
/// time to learn of the removal. A session that still has the call attaches the copy to it; one that took over from a removed
/// node answers from the ledger (ran: its record; held: re-attached to its approval; cut off while executing:
/// <c>OutcomeUnknown</c>), so the copy never runs the call a second time, and the run is never left waiting on a dead node.
/// A refusal of a service still starting (<see cref="Core.Errors.Errors.RefusedWhileStarting"/>: nothing ran, and a held key
/// stays bound to its approval) is not the run's outcome either: the copy goes again a few seconds later.
/// </summary>
internal sealed class RunWaiter : ReceiveActor, IWithTimers
{
    /// <summary>When a copy goes after a member's removal (the region must have moved the dead node's shards first).</summary>
    internal static readonly TimeSpan[] ResendAfterRemoval = [TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(15)];

    /// <summary>How many times a run refused by a service still starting is sent again before that refusal is its outcome.</summary>
    internal const int MaxStartRetries = 30;

    /// <summary>The longest wait before such a re-send (a refusal may ask for longer; start-up is seconds).</summary>
    internal static readonly TimeSpan MaxStartRetryDelay = TimeSpan.FromSeconds(5);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ScheduledRun _run;
    private readonly CallSubmission _submission;
    private readonly CallDispatcher _dispatcher;
    private readonly bool _clustered;
    private int _removals;
    private int _startRetries;

    public RunWaiter(ScheduledRun run, CallSubmission submission, CallDispatcher dispatcher, bool clustered)
    {
        _run = run;
        _submission = submission;
        _dispatcher = dispatcher;
        _clustered = clustered;
        Receive<ToolCallResult>(OnResult);
        Receive<GaveUp>(_ => Done(CallDispatcher.TimedOut(_run.Capability.Value, _dispatcher.TimeoutFor(CallMode.Held))));
        Receive<Akka.Cluster.ClusterEvent.MemberRemoved>(_ => MemberRemoved());
        Receive<Akka.Cluster.ClusterEvent.CurrentClusterState>(_ => { });
        Receive<Resend>(_ => _dispatcher.Dispatch(_submission, Self));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ScheduledRun run, CallSubmission submission, CallDispatcher dispatcher, bool clustered) =>
        Akka.Actor.Props.Create(() => new RunWaiter(run, submission, dispatcher, clustered));

    protected override void PreStart()
    {
        Timers.StartSingleTimer("gave-up", GaveUp.Instance, _dispatcher.TimeoutFor(CallMode.Held));
        if (_clustered)
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
                typeof(Akka.Cluster.ClusterEvent.MemberRemoved));
        _dispatcher.Dispatch(_submission, Self);
    }

    protected override void PostStop()
    {
        if (_clustered) Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private void MemberRemoved()
    {
        _removals++;
        for (var i = 0; i < ResendAfterRemoval.Length; i++) Timers.StartSingleTimer(("resend", _removals, i), Resend.Instance, ResendAfterRemoval[i]);
    }

    // A node or session still starting (after a restart, or the entity moved to a node just up) refused the run before it
    // ran: the same run goes again after the refusal's retry-after (1–5 s), a bounded number of times, inside the give-up timer.
    private void OnResult(ToolCallResult result)
    {
        if (Core.Errors.Errors.RefusedWhileStarting(result.Error) && _startRetries < MaxStartRetries)
        {
            _startRetries++;
            var delay = TimeSpan.FromSeconds(Math.Clamp(result.Error!.RetryAfterSeconds ?? 1, 1, MaxStartRetryDelay.TotalSeconds));
            _log.Warning("Scheduled run {0} of {1} met a service still starting ({2}); sending it again in {3:0} s ({4}/{5})",
                _run.RunId, _run.Capability, result.Error.Message, delay.TotalSeconds, _startRetries, MaxStartRetries);
            Timers.StartSingleTimer(("start-retry", _startRetries), Resend.Instance, delay);
            return;
        }
        Done(result);
    }

    private void Done(ToolCallResult result)
    {
        Context.Parent.Tell(new RunOutcome(_run, result));
        Context.Stop(Self);
    }

    private sealed class Resend : INoSerializationVerificationNeeded
    {
        public static readonly Resend Instance = new();
        private Resend() { }
    }

    private sealed class GaveUp : INoSerializationVerificationNeeded
    {
        public static readonly GaveUp Instance = new();
        private GaveUp() { }
    }
}
