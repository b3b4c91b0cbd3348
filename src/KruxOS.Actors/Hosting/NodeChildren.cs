using System.Collections.Immutable;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Hosting;

/// <summary>One node-local child of the gateway root (<c>/user/gateway/{Name}</c>), registered under <see cref="Key"/> as it is created.</summary>
/// <param name="Name">The child's name under <c>/user/gateway</c>.</param>
/// <param name="Order">Creation order among the root's children (lower first; equal orders keep registration order).</param>
/// <param name="Key">The ActorRegistry key the child is registered under as soon as it exists.</param>
/// <param name="Props">Its props, given the node's <see cref="HostingContext"/> (whose registry already holds every child of a lower order).</param>
/// <param name="Modes">The modes the child exists in.</param>
/// <param name="RestartsWithoutLimit">
/// Restarted after every failure, however many: for a child the node cannot do without that paces its own restarts
/// (the audit writer backs off and refuses calls while it does). Every other child is restarted at most 10 times a
/// minute, then stopped.
/// </param>
public sealed record NodeChild(string Name, int Order, Type Key, Func<HostingContext, Props> Props, HostingModes Modes = HostingModes.Both,
    bool RestartsWithoutLimit = false)
{
    /// <summary>A child registered under <typeparamref name="TKey"/>.</summary>
    public static NodeChild Of<TKey>(string name, int order, Func<HostingContext, Props> props, HostingModes modes = HostingModes.Both,
        bool restartsWithoutLimit = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(props);
        if (!ActorPath.IsValidPathElement(name)) throw new ArgumentException($"'{name}' is not a valid actor name", nameof(name));
        if (modes is not (HostingModes.SingleNode or HostingModes.Cluster or HostingModes.Both)) throw new ArgumentOutOfRangeException(nameof(modes));
        return new NodeChild(name, order, typeof(TKey), props, modes, restartsWithoutLimit);
    }
}

/// <summary>Registration of node-local children; the gateway root creates them (see <see cref="KruxOsHostingExtensions.WithHostedAreas"/>).</summary>
public static class NodeChildren
{
    /// <summary>
    /// A node-local child of <c>/user/gateway</c>, created in (<paramref name="order"/>, registration) order and registered
    /// under <typeparamref name="TKey"/> as it is created, in the modes given.
    /// </summary>
    public static IServiceCollection AddNodeChild<TKey>(this IServiceCollection services, string name, int order, Func<HostingContext, Props> props,
        HostingModes modes = HostingModes.Both, bool restartsWithoutLimit = false) =>
        services.AddNodeChild(NodeChild.Of<TKey>(name, order, props, modes, restartsWithoutLimit));

    /// <summary>Adds a child built elsewhere (see <see cref="NodeChild.Of{TKey}"/>).</summary>
    public static IServiceCollection AddNodeChild(this IServiceCollection services, NodeChild child)
    {
        ArgumentNullException.ThrowIfNull(child);
        services.AddSingleton(child);
        return services;
    }

    /// <summary>
    /// The children of one mode in creation order: by order, then registration order. Two children with the same name or the
    /// same key are refused: the second would either fail to start or silently replace the first in the registry.
    /// </summary>
    /// <exception cref="HostingException">A name or a key is used twice.</exception>
    public static ImmutableArray<NodeChild> InCreationOrder(IEnumerable<NodeChild> registered, HostingMode mode)
    {
        var flag = mode == HostingMode.Cluster ? HostingModes.Cluster : HostingModes.SingleNode;
        var children = registered.Where(c => c.Modes.HasFlag(flag)).OrderBy(c => c.Order).ToImmutableArray(); // OrderBy is stable
        foreach (var name in children.GroupBy(c => c.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
            throw new HostingException($"two node children are named '{name.Key}'");
        foreach (var key in children.GroupBy(c => c.Key).Where(g => g.Count() > 1))
            throw new HostingException($"node children '{string.Join("', '", key.Select(c => c.Name))}' are all registered under '{key.Key.Name}'");
        return children;
    }
}
