using Akka.Actor;
using Akka.Hosting;

namespace KruxOS.Actors.Hosting;

/// <summary>How this node hosts entities: one process, or a member of a cluster (<see cref="KruxOsSettings.UseClustering"/>).</summary>
public enum HostingMode { SingleNode, Cluster }

/// <summary>The modes a node child is created in.</summary>
[Flags]
public enum HostingModes { SingleNode = 1, Cluster = 2, Both = SingleNode | Cluster }

/// <summary>
/// What a node child's, an entity's or a singleton's factory may use: the ActorSystem, the typed registry (node children
/// created before it, shard regions, singletons), the node's services and its settings.
/// </summary>
public sealed record HostingContext(ActorSystem System, ActorRegistry Registry, IServiceProvider Services, KruxOsSettings Settings)
{
    /// <summary>The node's mode.</summary>
    public HostingMode Mode => Settings.UseClustering ? HostingMode.Cluster : HostingMode.SingleNode;

    /// <summary>
    /// The actor registered under <typeparamref name="TKey"/>. A node child may use only what exists before it: shard
    /// regions, singletons and node children of a lower order. Anything else fails start-up, naming the key.
    /// </summary>
    /// <exception cref="HostingException">Nothing is registered under <typeparamref name="TKey"/> yet.</exception>
    public IActorRef Get<TKey>() => Registry.TryGet<TKey>(out var actor)
        ? actor
        : throw new HostingException($"'{typeof(TKey).Name}' is not registered yet: a node child may use only shard regions, singletons and " +
            "node children created before it (a lower order)");

    /// <summary>True when this node's mode is one of <paramref name="modes"/>.</summary>
    public bool Includes(HostingModes modes) => modes.HasFlag(Mode == HostingMode.Cluster ? HostingModes.Cluster : HostingModes.SingleNode);
}

/// <summary>An area registered its actors inconsistently (a missing dependency, a name or key used twice); start-up stops.</summary>
public sealed class HostingException(string message, Exception? inner = null) : Exception(message, inner);
