using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using KruxOS.Core.Vault;

namespace KruxOS.Actors.Vault;

/// <summary>
/// In a cluster, keeps this node's <see cref="VaultDirectory"/> current: it subscribes to the states the vault singleton
/// publishes after each persist and also asks the singleton for its state every <see cref="SyncInterval"/>, because a
/// publish can be missed (the subscription is still spreading, the singleton is moving). Only newer versions are
/// applied. Only ciphertext crosses nodes; every node unlocks with its own passphrase.
/// </summary>
public sealed class VaultReplicaActor : ReceiveActor, IWithTimers
{
    /// <summary>The pub-sub topic vault states are published on.</summary>
    public const string Topic = "kruxos.vault";

    /// <summary>How often the replica asks the singleton for its current state.</summary>
    public static readonly TimeSpan SyncInterval = TimeSpan.FromSeconds(2);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly VaultDirectory _directory;
    private readonly IActorRef _vault;

    public VaultReplicaActor(VaultDirectory directory, IActorRef vault)
    {
        _directory = directory;
        _vault = vault;
        Receive<VersionedVaultState>(Handle);
        Receive<SubscribeAck>(_ => { });
        Receive<Sync>(_ => _vault.Tell(VaultQueries.GetVaultState.Instance));
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(VaultDirectory directory, IActorRef vault) => Akka.Actor.Props.Create(() => new VaultReplicaActor(directory, vault));

    /// <inheritdoc />
    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(Topic, Self));
        _vault.Tell(VaultQueries.GetVaultState.Instance);
        Timers.StartPeriodicTimer("sync", Sync.Instance, SyncInterval);
        _log.Debug("Vault replica started");
    }

    private void Handle(VersionedVaultState state)
    {
        if (state.State is null) return;
        _directory.Publish(state);
    }

    private sealed class Sync : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sync Instance = new();
        private Sync() { }
    }
}
