using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Vault;

namespace KruxOS.Actors.Vault;

/// <summary>Registry key of the vault entity (a cluster singleton, or <c>/user/gateway/vault</c> on a single node).</summary>
public sealed class VaultRegistry
{
    private VaultRegistry() { }
}

/// <summary>
/// The event-sourced vault (ADR 0033, option 1): one entity per deployment, persistence id <c>vault</c>, so every node of
/// a cluster on PostgreSQL shares it. It holds ciphertext only and never a key: callers seal values before they send a
/// command (<see cref="KruxOS.Vault.VaultOperations"/>), the pure <see cref="VaultStateExtensions.ProcessCommand"/> decides,
/// the actor persists, applies, publishes the new state to the node read models and answers only after the events are
/// durable.
/// </summary>
public sealed class VaultActor : ReceivePersistentActor
{
    /// <summary>The persistence id; never changes.</summary>
    public const string PersistenceIdValue = "vault";

    /// <summary>A snapshot is taken every this many events.</summary>
    public const int SnapshotEvery = 100;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Action<VersionedVaultState> _publish;
    private VaultState _state = VaultState.Empty;

    public VaultActor(Action<VersionedVaultState> publish)
    {
        _publish = publish;

        Recover<IVaultEvent>(e => _state = _state.Apply(e));
        Recover<SnapshotOffer>(offer => { if (offer.Snapshot is VaultState s) _state = s; });
        Recover<RecoveryCompleted>(_ =>
        {
            _log.Info("Vault recovered: {0}, {1} records", _state.IsInitialized ? "initialised" : "not initialised", _state.Records.Count);
            _publish(Versioned());
        });

        Command<IVaultCommand>(Handle);
        Command<VaultQueries.GetVaultState>(_ => Sender.Tell(Versioned()));
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Vault snapshot failed; the journal still holds every event"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Deleting old vault snapshots failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdValue;

    public static Props Props(Action<VersionedVaultState> publish) => Akka.Actor.Props.Create(() => new VaultActor(publish));

    private VersionedVaultState Versioned() => new(LastSequenceNr, _state);

    private void Handle(IVaultCommand command)
    {
        VaultResult result;
        System.Collections.Immutable.ImmutableArray<IVaultEvent> events;
        try
        {
            (result, events) = _state.ProcessCommand(command);
        }
        catch (Exception ex) when (ex is ArgumentException or NullReferenceException or InvalidOperationException)
        {
            // A malformed command (missing fields from a peer) is refused, never a crash that loses the state.
            Sender.Tell(new VaultResult(VaultResultCode.Invalid, "the command is malformed"));
            return;
        }
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
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state);
            replyTo.Tell(result);
        });
    }
}
