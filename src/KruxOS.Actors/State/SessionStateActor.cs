using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Session;
using static KruxOS.Actors.State.StateAreaMessages;

namespace KruxOS.Actors.State;

/// <summary>What every session-state entity shares.</summary>
public sealed record SessionStateDependencies(SessionStateLimits Limits, TimeSpan CheckpointInterval, TimeProvider Clock, TimeSpan Idle);

/// <summary>
/// One MCP session's state (<c>state.session.*</c>), in memory, checkpointed as one snapshot record under
/// <c>state-session-{agent}-{session}</c> every <see cref="SessionStateDependencies.CheckpointInterval"/> when it changed,
/// so a crash loses at most that window (ADR 0035). A checkpoint read back is untrusted
/// (<see cref="SessionState.Restore"/>). When the session ends its checkpoints are deleted and the entity stops. An idle
/// entity checkpoints, then passivates; it comes back from the checkpoint.
/// </summary>
public sealed class SessionStateActor : ReceivePersistentActor, IWithTimers
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "state-session-";

    private const string CheckpointTimer = "checkpoint";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AgentName _agent;
    private readonly string _sessionId;
    private readonly SessionStateDependencies _deps;
    private SessionState _state;
    private long _checkpointed;
    private long _saving = -1;
    private readonly List<(IActorRef ReplyTo, long Revision)> _waiting = [];
    private IActorRef? _ending;
    private bool _passivating;

    public SessionStateActor(string entityId, SessionStateDependencies deps)
    {
        (_agent, _sessionId) = SessionStateEntityId.Parse(entityId);
        _deps = deps;
        _state = SessionState.Empty(_agent, _sessionId);

        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is SessionStateCheckpoint cp && SessionState.Restore(cp, _agent, _sessionId, _deps.Limits, out var why) is { } restored)
            {
                _state = restored;
                _checkpointed = restored.Revision;
            }
            else
            {
                _log.Warning("Session state of {0} session {1}: the checkpoint was refused ({2}); starting empty", _agent, _sessionId,
                    o.Snapshot is SessionStateCheckpoint ? "invalid content" : "not a checkpoint");
            }
        });
        Recover<RecoveryCompleted>(_ =>
        {
            Timers.StartPeriodicTimer(CheckpointTimer, CheckpointTick.Instance, _deps.CheckpointInterval);
            Context.SetReceiveTimeout(_deps.Idle);
        });

        Command<ISessionStateCommand>(HandleCommand);
        Command<GetSessionUsage>(_ => Sender.Tell(new SessionUsage(_state.UsedBytes, _deps.Limits.QuotaBytes, _state.Entries.Count)));
        Command<CheckpointTick>(_ => Checkpoint());
        Command<CheckpointSessionNow>(_ =>
        {
            if (!_state.NeedsCheckpoint(_checkpointed))
            {
                Sender.Tell(new SessionCheckpointed(_checkpointed));
                return;
            }
            _waiting.Add((Sender, _state.Revision));
            Checkpoint();
        });
        Command<EndSessionState>(_ =>
        {
            _ending = Sender;
            Timers.Cancel(CheckpointTimer);
            DeleteSnapshots(SnapshotSelectionCriteria.Latest);
        });
        Command<SaveSnapshotSuccess>(_ =>
        {
            _checkpointed = Math.Max(_checkpointed, _saving);
            _saving = -1;
            // A session persists no events: every checkpoint has sequence number 0 and replaces the previous one.
            foreach (var (replyTo, _) in _waiting.Where(w => w.Revision <= _checkpointed).ToList())
            {
                replyTo.Tell(new SessionCheckpointed(_checkpointed));
                _waiting.RemoveAll(w => w.ReplyTo.Equals(replyTo));
            }
            if (_passivating) Context.Parent.Tell(new Passivate(PoisonPill.Instance));
        });
        Command<SaveSnapshotFailure>(f =>
        {
            _saving = -1;
            _passivating = false;
            _log.Warning(f.Cause, "Session state of {0} session {1}: checkpoint failed; retried at the next interval", _agent, _sessionId);
        });
        Command<DeleteSnapshotsSuccess>(_ => Ended());
        Command<DeleteSnapshotsFailure>(f =>
        {
            _log.Warning(f.Cause, "Session state of {0} session {1}: deleting checkpoints failed", _agent, _sessionId);
            Ended();
        });
        Command<ReceiveTimeout>(_ =>
        {
            // Durable first: the next message brings it back from the checkpoint.
            if (_state.NeedsCheckpoint(_checkpointed))
            {
                _passivating = true;
                Checkpoint();
            }
            else
            {
                Context.Parent.Tell(new Passivate(PoisonPill.Instance));
            }
        });
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _agent.Value + "-" + _sessionId;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The props of one session's entity.</summary>
    public static Props Props(string entityId, SessionStateDependencies deps) =>
        Akka.Actor.Props.Create(() => new SessionStateActor(entityId, deps));

    private void HandleCommand(ISessionStateCommand command)
    {
        if (_ending is not null)
        {
            Sender.Tell(new StateRefused(StateErrors.SessionNotFound(command.SessionId)));
            return;
        }
        var (reply, events) = _state.ProcessCommand(command, _deps.Clock.GetUtcNow(), _deps.Limits);
        _state = _state.ApplyAll(events);
        Sender.Tell(reply);
    }

    private void Checkpoint()
    {
        if (_saving >= 0 || _ending is not null || !_state.NeedsCheckpoint(_checkpointed)) return;
        _saving = _state.Revision;
        SaveSnapshot(_state.Checkpoint(_deps.Clock.GetUtcNow()));
    }

    private void Ended()
    {
        if (_ending is null) return;
        _ending.Tell(new SessionStateEnded(_agent, _sessionId));
        Context.Parent.Tell(new Passivate(PoisonPill.Instance));
    }

    private sealed class CheckpointTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly CheckpointTick Instance = new();
        private CheckpointTick() { }
    }
}
