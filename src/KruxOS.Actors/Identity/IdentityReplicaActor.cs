using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using KruxOS.Core.Identity;

namespace KruxOS.Actors.Identity;

/// <summary>
/// In a cluster, keeps this node's <see cref="IdentityDirectory"/> current: it subscribes to the
/// registry's published states and asks the singleton for the current one at start (and again until it
/// gets an answer), so every node authenticates against the same identities.
/// </summary>
public sealed class IdentityReplicaActor : ReceiveActor, IWithTimers
{
    /// <summary>The pub-sub topic identity states are published on.</summary>
    public const string Topic = "kruxos.identities";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IdentityDirectory _directory;
    private readonly IActorRef _registry;
    private bool _synced;

    public IdentityReplicaActor(IdentityDirectory directory, IActorRef registry)
    {
        _directory = directory;
        _registry = registry;
        Receive<IdentityState>(s =>
        {
            _synced = true;
            Timers.Cancel("sync");
            _directory.Publish(s);
        });
        Receive<SubscribeAck>(_ => { });
        Receive<Sync>(_ => { if (!_synced) _registry.Tell(IdentityQueries.GetIdentities.Instance); });
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
        Timers.StartPeriodicTimer("sync", Sync.Instance, TimeSpan.FromSeconds(1));
        _log.Debug("Identity replica started");
    }

    private sealed class Sync : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sync Instance = new();
        private Sync() { }
    }
}
