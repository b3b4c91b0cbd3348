using System.Threading.Channels;
using Akka.Actor;
using KruxOS.Core.Supervision;

namespace KruxOS.Actors.Agents;

/// <summary>
/// Live supervision events of this node for a watcher (<c>kruxos watch</c>, later the dashboard's event stream), filtered
/// by agent and type. Each subscription buffers at most <see cref="Capacity"/> events and drops the oldest when its reader
/// falls behind, so a slow watcher never holds up the event stream.
/// </summary>
public sealed class SupervisionFeed(ActorSystem system)
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
        var forwarder = system.ActorOf(Props.Create(() => new Forwarder(channel.Writer, agent, types)));
        system.EventStream.Subscribe(forwarder, typeof(SupervisionEvent));
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
        public Forwarder(ChannelWriter<SupervisionEvent> writer, string? agent, IReadOnlySet<string> types) =>
            Receive<SupervisionEvent>(e =>
            {
                if (agent is not null && e.Agent != agent) return;
                if (types.Count > 0 && !types.Contains(e.Type)) return;
                writer.TryWrite(e);
            });
    }
}
