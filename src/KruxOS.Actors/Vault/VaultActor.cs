using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Actors.Persistence;
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
public sealed class VaultActor : DecidingPersistentActor<VaultState, IVaultCommand, IVaultEvent, VaultResult>
{
    /// <summary>The persistence id; never changes.</summary>
    public const string PersistenceIdValue = "vault";

    /// <summary>A snapshot is taken every this many events.</summary>
    public const int Snapshots = 100;

    private readonly Action<VersionedVaultState> _publish;

    public VaultActor(Action<VersionedVaultState> publish) : base(VaultState.Empty, Snapshots, "Vault")
    {
        _publish = publish;
        Recover<RecoveryCompleted>(_ =>
        {
            Log.Info("Vault recovered: {0}, {1} records", State.IsInitialized ? "initialised" : "not initialised", State.Records.Count);
            _publish(Versioned());
        });
        Command<VaultQueries.GetVaultState>(_ => Sender.Tell(Versioned()));
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdValue;

    public static Props Props(Action<VersionedVaultState> publish) => Akka.Actor.Props.Create(() => new VaultActor(publish));

    private VersionedVaultState Versioned() => new(LastSequenceNr, State);

    /// <inheritdoc />
    protected override (VaultResult Reply, ImmutableArray<IVaultEvent> Events) Decide(VaultState state, IVaultCommand command) =>
        state.ProcessCommand(command);

    /// <inheritdoc />
    protected override VaultState Apply(VaultState state, IVaultEvent @event) => state.Apply(@event);

    /// <inheritdoc />
    protected override object ToSnapshot(VaultState state) => state;

    /// <inheritdoc />
    protected override VaultState? FromSnapshot(object snapshot) => snapshot as VaultState;

    /// <inheritdoc />
    protected override void Persisted() => _publish(Versioned());

    /// <inheritdoc />
    protected override VaultResult Malformed(IVaultCommand command) => new(VaultResultCode.Invalid, "the command is malformed");
}
