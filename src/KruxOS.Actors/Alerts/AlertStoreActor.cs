using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Alerts;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Alerts;

/// <summary>Registry key of the alert store (a cluster singleton <c>alerts</c>, or <c>/user/gateway/alerts</c>).</summary>
public sealed class AlertStoreKey;

/// <summary>
/// The deployment's one alert store, event-sourced under <see cref="AlertStore.PersistenceId"/>. Commands are decided by
/// the pure <see cref="AlertStoreExtensions.ProcessCommand"/>; the answer is sent once the events are durable. A command
/// it cannot decide is refused with <see cref="AlertsRefused"/>, never dropped and never a crash.
/// </summary>
public sealed class AlertStoreActor : ReceivePersistentActor
{
    /// <summary>A snapshot is taken every this many events.</summary>
    public const int SnapshotEvery = 500;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AlertLimits _limits;
    private readonly TimeProvider _clock;
    private AlertStore _store = AlertStore.Empty;

    public AlertStoreActor(AlertLimits limits, TimeProvider clock)
    {
        _limits = limits;
        _clock = clock;
        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is AlertStoreSnapshot s) _store = AlertStore.FromSnapshot(s);
        });
        Recover<IAlertEvent>(e => _store = _store.Apply(e));
        Command<IAlertCommand>(Handle);
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Alert store: snapshot failed; the journal still holds every event"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Alert store: deleting old snapshots failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId => AlertStore.PersistenceId;

    /// <summary>The store's props.</summary>
    public static Props Props(AlertLimits limits, TimeProvider clock) => Akka.Actor.Props.Create(() => new AlertStoreActor(limits, clock));

    private void Handle(IAlertCommand command)
    {
        var replyTo = Sender;
        IAlertReply reply;
        System.Collections.Immutable.ImmutableArray<IAlertEvent> events;
        try
        {
            (reply, events) = _store.ProcessCommand(command, _clock.GetUtcNow(), _limits);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NullReferenceException)
        {
            _log.Warning(e, "Alert store: refused a malformed {0}", command.GetType().Name);
            replyTo.Tell(new AlertsRefused(Errors.InvalidInput("command", "malformed alert command")));
            return;
        }
        if (events.IsEmpty)
        {
            replyTo.Tell(reply);
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _store = _store.Apply(e);
            if (--remaining > 0) return;
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_store.ToSnapshot());
            replyTo.Tell(reply);
        });
    }
}
