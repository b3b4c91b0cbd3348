using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace KruxOS.Actors.Persistence;

/// <summary>
/// An event-sourced entity whose commands are decided by a pure function of its state (in Core): the events are
/// persisted, applied, and only then is the reply sent, so an answer always means "durable". Every
/// <see cref="SnapshotEvery"/> events a snapshot is saved and the older ones deleted. A command the decision cannot
/// handle (a null field from a hostile sender on the wire) is answered with <see cref="Malformed"/> — never dropped,
/// never a crash. Subclasses add their own handlers (e.g. passivation) after this constructor.
/// </summary>
/// <typeparam name="TState">The immutable state.</typeparam>
/// <typeparam name="TCommand">The commands it decides.</typeparam>
/// <typeparam name="TEvent">The events it persists.</typeparam>
/// <typeparam name="TReply">What it answers.</typeparam>
public abstract class DecidingPersistentActor<TState, TCommand, TEvent, TReply> : ReceivePersistentActor
    where TState : class
    where TCommand : class
    where TEvent : class
    where TReply : class
{
    /// <summary>
    /// Registers recovery, the command handler and the snapshot housekeeping.
    /// </summary>
    /// <param name="initial">The state before recovery.</param>
    /// <param name="snapshotEvery">A snapshot every this many events.</param>
    /// <param name="description">How log lines name the entity, e.g. <c>Inbox of alice</c>.</param>
    protected DecidingPersistentActor(TState initial, int snapshotEvery, string description)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(snapshotEvery);
        State = initial;
        SnapshotEvery = snapshotEvery;
        Description = description;
        Recover<SnapshotOffer>(offer =>
        {
            if (FromSnapshot(offer.Snapshot) is { } restored) State = restored;
        });
        Recover<TEvent>(e => State = Apply(State, e));
        Command<TCommand>(Handle);
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => Log.Warning(f.Cause, "{0}: snapshot failed; the journal still holds every event", Description));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => Log.Warning(f.Cause, "{0}: deleting old snapshots failed", Description));
    }

    /// <summary>The current state.</summary>
    protected TState State { get; private set; }

    /// <summary>A snapshot every this many events.</summary>
    protected int SnapshotEvery { get; }

    /// <summary>How log lines name the entity.</summary>
    protected string Description { get; }

    /// <summary>The pure decision: the reply and the events to persist (none: answer at once).</summary>
    protected abstract (TReply Reply, ImmutableArray<TEvent> Events) Decide(TState state, TCommand command);

    /// <summary>The pure transition.</summary>
    protected abstract TState Apply(TState state, TEvent @event);

    /// <summary>The snapshot of a state.</summary>
    protected abstract object ToSnapshot(TState state);

    /// <summary>The state of a snapshot, or null for one this entity does not know (ignored; the journal replays).</summary>
    protected abstract TState? FromSnapshot(object snapshot);

    /// <summary>Called once a command's events are durable and applied, before the reply (e.g. to publish the new state).</summary>
    protected virtual void Persisted()
    {
    }

    /// <summary>The answer to a command the decision could not handle.</summary>
    protected abstract TReply Malformed(TCommand command);

    private void Handle(TCommand command)
    {
        var replyTo = Sender;
        TReply reply;
        ImmutableArray<TEvent> events;
        try
        {
            (reply, events) = Decide(State, command);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NullReferenceException)
        {
            Log.Warning(e, "{0}: refused a malformed {1}", Description, command.GetType().Name);
            replyTo.Tell(Malformed(command));
            return;
        }
        if (events.IsDefaultOrEmpty)
        {
            replyTo.Tell(reply);
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            State = Apply(State, e);
            if (--remaining > 0) return;
            Persisted();
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(ToSnapshot(State));
            replyTo.Tell(reply);
        });
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Log.Error(cause, "{0}: the journal refused an event; the entity stops and recovers on its next message", Description);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}
