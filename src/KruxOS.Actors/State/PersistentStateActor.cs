using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;

namespace KruxOS.Actors.State;

/// <summary>What every persistent-state entity shares.</summary>
public sealed record PersistentStateDependencies(PersistentStateLimits Limits, SnapshotCadence Cadence, TimeProvider Clock, TimeSpan Idle);

/// <summary>
/// One agent's persistent state, event-sourced under <c>state-persistent-{agent}</c> (ADR 0035). Decisions are the pure
/// <see cref="PersistentStateExtensions.ProcessCommand"/>; the actor persists, applies, and answers only once the events
/// are durable. It snapshots on <see cref="SnapshotCadence"/> and, once a snapshot is saved, deletes the events and
/// snapshots older than the previous one, so recovery reads one snapshot plus at most one cadence of events.
/// </summary>
public sealed class PersistentStateActor : ReceivePersistentActor
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "state-persistent-";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AgentName _agent;
    private readonly PersistentStateDependencies _deps;
    private PersistentState _state;
    private readonly SnapshotSchedule _snapshots;

    public PersistentStateActor(string entityId, PersistentStateDependencies deps)
    {
        _agent = AgentName.Parse(entityId);
        _deps = deps;
        _snapshots = new SnapshotSchedule(deps.Cadence);
        _state = PersistentState.Empty(_agent);

        Recover<SnapshotOffer>(offer =>
        {
            // A damaged snapshot throws here: recovery fails loudly instead of serving half a state.
            _state = PersistentState.FromSnapshot((PersistentStateSnapshot)offer.Snapshot);
            _snapshots.Recovered(offer.Metadata.SequenceNr);
        });
        Recover<IPersistentStateEvent>(e =>
        {
            _state = _state.Apply(e);
            Count(e);
        });
        Recover<RecoveryCompleted>(_ => Context.SetReceiveTimeout(_deps.Idle));

        Command<IPersistentStateCommand>(HandleCommand);
        Command<IPersistentStateQuery>(q => Sender.Tell(_state.Query(q, _deps.Limits)));
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f =>
        {
            _snapshots.Failed();
            _log.Warning(f.Cause, "Persistent state of {0}: snapshot failed; the journal still holds every event", _agent);
        });
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning(f.Cause, "Persistent state of {0}: deleting old events failed (they are only replayed)", _agent));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Persistent state of {0}: deleting old snapshots failed", _agent));
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _agent.Value;

    /// <summary>The props of one agent's entity.</summary>
    public static Props Props(string entityId, PersistentStateDependencies deps) =>
        Akka.Actor.Props.Create(() => new PersistentStateActor(entityId, deps));

    private void HandleCommand(IPersistentStateCommand command)
    {
        var (reply, events) = _state.ProcessCommand(command, _deps.Clock.GetUtcNow(), _deps.Limits);
        if (events.IsEmpty)
        {
            Sender.Tell(reply);
            return;
        }
        var replyTo = Sender;
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            Count(e);
            if (--remaining > 0) return;
            replyTo.Tell(reply);
            SnapshotIfDue();
        });
    }

    private void Count(IPersistentStateEvent e) => _snapshots.Count(PersistentStateExtensions.ReplayBytes(e));

    private void SnapshotIfDue()
    {
        if (_snapshots.TryStart()) SaveSnapshot(_state.ToSnapshot());
    }

    private void OnSnapshotSaved(SaveSnapshotSuccess s)
    {
        var previous = _snapshots.Saved(LastSequenceNr, s.Metadata.SequenceNr);
        if (previous <= 0) return;
        DeleteMessages(previous);
        DeleteSnapshots(new SnapshotSelectionCriteria(previous - 1));
    }
}
