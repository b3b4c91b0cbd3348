using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using KruxOS.Core.Identity;

namespace KruxOS.Actors.Identity;

/// <summary>
/// In a cluster, keeps this node's <see cref="IdentityDirectory"/> current: it subscribes to the
/// registry's published states and also asks the singleton for the current one every
/// <see cref="SyncInterval"/>. A publish can be missed (the subscription is still spreading through the
/// cluster, the singleton is moving), so the periodic answer bounds how stale a node can be; states
/// carry the registry's version and only newer ones are applied, so no late answer brings back an older
/// state (a token revoked in between).
/// </summary>
public sealed class IdentityReplicaActor : ReceiveActor, IWithTimers
{
    /// <summary>The pub-sub topic identity states are published on.</summary>
    public const string Topic = "kruxos.identities";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IdentityDirectory _directory;
    private readonly IActorRef _registry;
    private long _version = -1;

    /// <summary>How often the replica asks the registry for its current state.</summary>
    public static readonly TimeSpan SyncInterval = TimeSpan.FromSeconds(2);

    public IdentityReplicaActor(IdentityDirectory directory, IActorRef registry)
    {
        _directory = directory;
        _registry = registry;
        Receive<VersionedIdentityState>(v =>
        {
            if (v.Version <= _version) return;
            _version = v.Version;
            _directory.Publish(v.State);
        });
        Receive<SubscribeAck>(_ => { });
        Receive<Sync>(_ => _registry.Tell(IdentityQueries.GetIdentities.Instance));
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IdentityDirectory directory, IActorRef registry) =>
        Akka.Actor.Props.Create(() => new IdentityReplicaActor(directory, registry));

    /// <inheritdoc />
    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(Topic, Self));
        _registry.Tell(IdentityQueries.GetIdentities.Instance);
        Timers.StartPeriodicTimer("sync", Sync.Instance, SyncInterval);
        _log.Debug("Identity replica started");
    }

    private sealed class Sync : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sync Instance = new();
        private Sync() { }
    }
}
