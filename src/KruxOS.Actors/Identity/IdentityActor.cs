using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Actors.Agents;
using KruxOS.Core.Agents;
using KruxOS.Core.Identity;
using static KruxOS.Core.Identity.IdentityEvents;

namespace KruxOS.Actors.Identity;

/// <summary>Registry key of the identity registry (a singleton in cluster mode).</summary>
public sealed class IdentityRegistry;

/// <summary>
/// The event-sourced registry of agent identities and user tokens. Decisions are made by the pure
/// <see cref="IdentityStateExtensions.ProcessCommand"/>; the actor persists, applies, publishes the new
/// state to the node's read model, and replies only after the events are durable. Revoking or rotating an
/// agent also terminates its live sessions, because the old token must stop working at once.
/// </summary>
public sealed class IdentityActor : ReceivePersistentActor
{
    /// <summary>The persistence id; never changes.</summary>
    public const string PersistenceIdValue = "identity-registry";

    /// <summary>A snapshot is taken every this many events.</summary>
    public const int SnapshotEvery = 100;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Action<VersionedIdentityState> _publish;
    private readonly IActorRef _sessions;
    private IdentityState _state = IdentityState.Empty;

    public IdentityActor(Action<VersionedIdentityState> publish, IActorRef sessions)
    {
        _publish = publish;
        _sessions = sessions;

        Recover<IIdentityEvent>(e => _state = _state.Apply(e));
        Recover<SnapshotOffer>(offer => { if (offer.Snapshot is IdentityState s) _state = s; });
        Recover<RecoveryCompleted>(_ =>
        {
            _log.Info("Identity registry recovered: {Agents} agents, {Tokens} user tokens", _state.Agents.Count, _state.UserTokens.Count);
            _publish(Versioned());
        });

        Command<IIdentityCommand>(Handle);
        Command<IdentityQueries.GetIdentities>(_ => Sender.Tell(Versioned()));
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Identity snapshot failed; the journal still holds every event"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Deleting old identity snapshots failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdValue;

    public static Props Props(Action<VersionedIdentityState> publish, IActorRef sessions) =>
        Akka.Actor.Props.Create(() => new IdentityActor(publish, sessions));

    private VersionedIdentityState Versioned() => new(LastSequenceNr, _state);

    private void Handle(IIdentityCommand command)
    {
        var (result, events) = _state.ProcessCommand(command);
        if (events.IsEmpty)
        {
            Sender.Tell(result);
            return;
        }
        var replyTo = Sender;
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (--remaining > 0) return;
            _publish(Versioned());
            foreach (var evt in events) TerminateSessionsAfter(evt);
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state);
            replyTo.Tell(result);
        });
    }

    private void TerminateSessionsAfter(IIdentityEvent e)
    {
        switch (e)
        {
            case AgentRevoked r:
                _sessions.Tell(new AgentSessionCommands.Terminate(AgentName.Parse(r.Name), "agent revoked"));
                break;
            case AgentTokenRotated r:
                _sessions.Tell(new AgentSessionCommands.Terminate(AgentName.Parse(r.Name), "agent token rotated"));
                break;
        }
    }
}
