using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.State;
using KruxOS.Core.State.Shared;
using static KruxOS.Core.State.Shared.SharedQuotaCommands;

namespace KruxOS.Actors.State;

/// <summary>
/// The shared-state quota ledger (<c>state-shared-quota</c>, one per deployment): grants partitions their share of the
/// global quota by compare-and-set (<see cref="SharedQuotaLedgerExtensions.ProcessCommand"/>, ADR 0035) and answers
/// only once a grant is durable.
/// </summary>
public sealed class SharedQuotaLedgerActor : ReceivePersistentActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly long _limitBytes;
    private readonly TimeProvider _clock;
    private readonly int _snapshotEvery;
    private SharedQuotaLedger _ledger = SharedQuotaLedger.Empty;

    public SharedQuotaLedgerActor(long limitBytes, TimeProvider clock, int snapshotEvery)
    {
        _limitBytes = limitBytes;
        _clock = clock;
        _snapshotEvery = Math.Max(1, snapshotEvery);
        Recover<SnapshotOffer>(o => _ledger = SharedQuotaLedger.FromSnapshot((SharedQuotaLedgerSnapshot)o.Snapshot));
        Recover<ISharedQuotaEvent>(e => _ledger = _ledger.Apply(e));
        Command<GetLedgerUsage>(_ => Sender.Tell(_ledger.Usage(_limitBytes)));
        Command<ISharedQuotaMessage>(Handle);
        Command<SaveSnapshotSuccess>(s => DeleteMessages(s.Metadata.SequenceNr));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Shared quota ledger: snapshot failed; the journal still holds every grant"));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning(f.Cause, "Shared quota ledger: deleting old events failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId => SharedQuotaLedger.PersistenceId;

    /// <summary>The ledger's props.</summary>
    public static Props Props(long limitBytes, TimeProvider clock, int snapshotEvery) =>
        Akka.Actor.Props.Create(() => new SharedQuotaLedgerActor(limitBytes, clock, snapshotEvery));

    private void Handle(ISharedQuotaMessage request)
    {
        var (reply, events) = _ledger.ProcessCommand(request, _clock.GetUtcNow(), _limitBytes);
        if (events.IsEmpty)
        {
            Sender.Tell(reply);
            return;
        }
        var replyTo = Sender;
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _ledger = _ledger.Apply(e);
            if (--remaining > 0) return;
            replyTo.Tell(reply);
            if (LastSequenceNr % _snapshotEvery == 0) SaveSnapshot(_ledger.ToSnapshot());
        });
    }
}
