using System.Collections.Immutable;
using System.Globalization;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.State;
using KruxOS.Core.State.Shared;
using static KruxOS.Core.State.Shared.SharedQuotaCommands;
using static KruxOS.Core.State.Shared.SharedQuotaReplies;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateReplies;

namespace KruxOS.Actors.State;

/// <summary>What every shared-state partition shares.</summary>
/// <param name="Limits">Quota and size limits.</param>
/// <param name="Cadence">When to snapshot.</param>
/// <param name="Clock">The clock events are stamped with.</param>
/// <param name="Idle">A partition without messages for this long passivates.</param>
/// <param name="Ledger">The quota ledger (singleton proxy or node child).</param>
/// <param name="Clustered">Changes are published through distributed pub-sub (true) or the node's event stream.</param>
/// <param name="LedgerTimeout">How long a write waits for the ledger's grant.</param>
public sealed record SharedPartitionDependencies(SharedStateLimits Limits, SnapshotCadence Cadence, TimeProvider Clock, TimeSpan Idle,
    IActorRef Ledger, bool Clustered, TimeSpan LedgerTimeout);

/// <summary>
/// One shared-state partition, event-sourced under <c>state-shared-{n}</c> (ADR 0035). Optimistic locking is a local
/// decision of this entity (its mailbox orders racing writers). A write that does not fit the partition's grant waits
/// (other messages stashed) while the ledger is asked once by compare-and-set; a refusal is <c>QuotaExceeded</c> and
/// nothing changes. After every persisted change the change (without its value) is published to the watch hubs, and
/// slack above two grant chunks is given back. After recovery the partition reconciles its grant with the ledger.
/// </summary>
public sealed class SharedPartitionActor : ReceivePersistentActor, IWithTimers
{
    private const string GrantTimer = "grant";
    private const int MaxGrantAttempts = 4;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly int _partition;
    private readonly SharedPartitionDependencies _deps;
    private SharedPartitionState _state;
    private readonly SnapshotSchedule _snapshots;
    private long _correlation;
    private Pending? _pending;

    public SharedPartitionActor(string entityId, SharedPartitionDependencies deps)
    {
        _partition = int.Parse(entityId, NumberStyles.None, CultureInfo.InvariantCulture);
        _deps = deps;
        _snapshots = new SnapshotSchedule(deps.Cadence);
        _state = SharedPartitionState.Empty(_partition);

        Recover<SnapshotOffer>(o =>
        {
            _state = SharedPartitionState.FromSnapshot((SharedPartitionSnapshot)o.Snapshot);
            _snapshots.Recovered(o.Metadata.SequenceNr);
        });
        Recover<ISharedStateEvent>(e =>
        {
            _state = _state.Apply(e);
            Count(e);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            Context.SetReceiveTimeout(_deps.Idle);
            // A release lost before the restart is applied; an increase this partition never heard of is adopted.
            _deps.Ledger.Tell(_state.Reconcile());
        });

        Command<ISharedStateCommand>(c => Decide(c, Sender, 0));
        Command<ISharedStateQuery>(q => Sender.Tell(_state.Query(q, _deps.Limits)));
        Command<GrantReply>(r => Decide(new AdoptGrant(r), ActorRefs.Nobody, 0));
        // The answer to its own ReleaseSlack when there was nothing to give back.
        Command<GrantState>(_ => { });
        CommonCommands();
    }

    /// <inheritdoc />
    public override string PersistenceId => SharedStatePartitions.PersistenceId(_partition);

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The props of one partition.</summary>
    public static Props Props(string entityId, SharedPartitionDependencies deps) =>
        Akka.Actor.Props.Create(() => new SharedPartitionActor(entityId, deps));

    private void CommonCommands()
    {
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f =>
        {
            _snapshots.Failed();
            _log.Warning(f.Cause, "Shared state partition {0}: snapshot failed; the journal still holds every event", _partition);
        });
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning(f.Cause, "Shared state partition {0}: deleting old events failed", _partition));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Shared state partition {0}: deleting old snapshots failed", _partition));
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
    }

    private void Decide(ISharedStateCommand command, IActorRef replyTo, int attempt)
    {
        var (reply, events) = _state.ProcessCommand(command, _deps.Clock.GetUtcNow(), _deps.Limits);
        switch (reply)
        {
            case GrantNeeded needed:
                AskLedger(command, replyTo, needed.Request, attempt);
                return;
            case GrantReleased released:
                PersistThen(events, () => _deps.Ledger.Tell(released.Request));
                return;
            default:
                PersistThen(events, () =>
                {
                    replyTo.Tell(reply);
                    if (command is SetShared or DeleteShared && !events.IsEmpty) Self.Tell(new ReleaseSlack(_partition));
                });
                return;
        }
    }

    private void AskLedger(ISharedStateCommand command, IActorRef replyTo, RequestGrant request, int attempt)
    {
        var asked = request with { Correlation = ++_correlation };
        _pending = new Pending(command, replyTo, asked, attempt);
        _deps.Ledger.Tell(asked);
        Timers.StartSingleTimer(GrantTimer, new LedgerSilent(asked.Correlation), _deps.LedgerTimeout);
        BecomeStacked(AwaitingGrant);
    }

    private void AwaitingGrant()
    {
        Command<GrantReply>(r => r.Correlation == _pending!.Request.Correlation, OnGrantAnswer);
        Command<LedgerSilent>(s =>
        {
            if (_pending is not { } p || s.Correlation != p.Request.Correlation) return;
            Resume();
            p.ReplyTo.Tell(new StateRefused(Core.Errors.Errors.ServiceUnavailable("state.shared quota ledger",
                "the quota ledger did not answer in time; nothing was written")));
        });
        CommonCommands();
        CommandAny(_ => Stash.Stash());
    }

    private void OnGrantAnswer(GrantReply answer)
    {
        var p = _pending!;
        Timers.Cancel(GrantTimer);
        var (adopted, adoptEvents) = _state.ProcessCommand(new AdoptGrant(answer), _deps.Clock.GetUtcNow(), _deps.Limits);
        PersistThen(adoptEvents, () =>
        {
            if (adopted is GrantReleased released) _deps.Ledger.Tell(released.Request);
            Resume();
            var (again, _) = _state.ProcessCommand(p.Command, _deps.Clock.GetUtcNow(), _deps.Limits);
            if (again is GrantNeeded && (answer.Refused || p.Attempt + 1 >= MaxGrantAttempts))
            {
                p.ReplyTo.Tell(new StateRefused(SharedQuotaLedgerExtensions.QuotaRefusal(answer, p.Request)));
                return;
            }
            Decide(p.Command, p.ReplyTo, p.Attempt + 1);
        });
    }

    private void Resume()
    {
        _pending = null;
        UnbecomeStacked();
        Stash.UnstashAll();
    }

    private void PersistThen(ImmutableArray<ISharedStateEvent> events, Action after)
    {
        if (events.IsEmpty)
        {
            after();
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            Count(e);
            if (SharedStateChange.From(e) is { } change) StateChangePublishing.Publish(Context, _deps.Clustered, change);
            if (--remaining > 0) return;
            after();
            SnapshotIfDue();
        });
    }

    private void Count(ISharedStateEvent e) => _snapshots.Count(e is SharedStateEvents.ValueSet v ? v.Value.ByteCount + v.Key.Length : 0);

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

    private sealed record Pending(ISharedStateCommand Command, IActorRef ReplyTo, RequestGrant Request, int Attempt);

    private sealed record LedgerSilent(long Correlation) : INoSerializationVerificationNeeded, IDeadLetterSuppression;
}
