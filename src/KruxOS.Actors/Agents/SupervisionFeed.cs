using System.Threading.Channels;
using Akka.Actor;
using KruxOS.Core.Supervision;

namespace KruxOS.Actors.Agents;

/// <summary>
/// Live supervision events for a watcher (<c>kruxos watch</c>, the dashboard's event stream), filtered by agent and type:
/// this node's, and in a cluster every other node's too (<see cref="RemoteSupervisionEvent"/>, brought by the
/// supervision relay), each naming its node. Each subscription buffers at most <see cref="Capacity"/> events and drops the
/// oldest when its reader falls behind, so a slow watcher never holds up the event stream.
/// </summary>
/// <param name="system">The node's actor system.</param>
/// <param name="node">In a cluster, this node's id, stamped on its own events; null on a single node.</param>
public sealed class SupervisionFeed(ActorSystem system, string? node = null)
{
    /// <summary>The events a subscription holds for a slow reader before it drops the oldest.</summary>
    public const int Capacity = 1024;

    /// <summary>
    /// Subscribes to the events of <paramref name="agent"/> (every agent when null) whose type is in
    /// <paramref name="types"/> (every type when empty). Dispose the subscription to stop it.
    /// </summary>
    public Subscription Subscribe(string? agent, IReadOnlySet<string> types)
    {
        var channel = Channel.CreateBounded<SupervisionEvent>(new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest });
        var self = node;
        var forwarder = system.ActorOf(Props.Create(() => new Forwarder(channel.Writer, agent, types, self)));
        system.EventStream.Subscribe(forwarder, typeof(SupervisionEvent));
        if (node is not null) system.EventStream.Subscribe(forwarder, typeof(RemoteSupervisionEvent));
        return new Subscription(channel.Reader, () =>
        {
            system.EventStream.Unsubscribe(forwarder);
            system.Stop(forwarder);
        });
    }

    /// <summary>One watcher's events; disposing it unsubscribes.</summary>
    public sealed class Subscription(ChannelReader<SupervisionEvent> events, Action stop) : IDisposable
    {
        private int _disposed;

        /// <summary>The matching events, oldest first.</summary>
        public ChannelReader<SupervisionEvent> Events { get; } = events;

        /// <inheritdoc />
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) stop();
        }
    }

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(ChannelWriter<SupervisionEvent> writer, string? agent, IReadOnlySet<string> types, string? node)
        {
            Receive<SupervisionEvent>(e =>
            {
                if (Matches(e)) writer.TryWrite(node is null || e.Node is not null ? e : e with { Node = node });
            });
            Receive<RemoteSupervisionEvent>(r =>
            {
                if (r.Event is { } e && Matches(e)) writer.TryWrite(e);
            });

            bool Matches(SupervisionEvent e) => (agent is null || e.Agent == agent) && (types.Count == 0 || types.Contains(e.Type));
        }
    }
}
