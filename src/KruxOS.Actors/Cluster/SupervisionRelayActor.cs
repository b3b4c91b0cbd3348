using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using KruxOS.Core.Supervision;

namespace KruxOS.Actors.Cluster;

/// <summary>Registry key of the node's supervision relay (cluster mode only).</summary>
public sealed class SupervisionRelayKey;

/// <summary>
/// Shares supervision events across the cluster (ADR 0059): every event this node publishes on its event stream goes to
/// the other nodes on <see cref="Topic"/>, stamped with this node's id; every event another node shares is put on this
/// node's event stream as a <see cref="RemoteSupervisionEvent"/>, which only watchers take (<c>kruxos watch</c>, the
/// dashboard's activity). Delivery is at most once, like the local stream: a watcher is a live view, the audit log is the
/// record.
/// </summary>
public sealed class SupervisionRelayActor : ReceiveActor
{
    /// <summary>The pub-sub topic supervision events are shared on.</summary>
    public const string Topic = "kruxos.supervision";

    private readonly string _node;
    private readonly IActorRef _mediator;

    public SupervisionRelayActor(string node)
    {
        _node = node;
        _mediator = DistributedPubSub.Get(Context.System).Mediator;
        Receive<SupervisionEvent>(Relay);
        Receive<SubscribeAck>(_ => { });
    }

    /// <summary>The relay of the node <paramref name="node"/> (<see cref="NodeId.Of(KruxOS.Actors.Hosting.KruxOsSettings)"/>).</summary>
    public static Props Props(string node) => Akka.Actor.Props.Create(() => new SupervisionRelayActor(node));

    /// <inheritdoc />
    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(SupervisionEvent));
        _mediator.Tell(new Subscribe(Topic, Self));
    }

    /// <inheritdoc />
    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Relay(SupervisionEvent e)
    {
        if (e.Node is null)
        {
            // One of this node's own events (the local stream never carries a node): share it.
            _mediator.Tell(new Publish(Topic, e with { Node = _node }));
        }
        else if (e.Node != _node)
        {
            Context.System.EventStream.Publish(new RemoteSupervisionEvent(e));
        }
        // else: this node's own event coming back from the topic.
    }
}
