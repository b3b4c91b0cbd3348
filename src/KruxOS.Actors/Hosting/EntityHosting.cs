using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using KruxOS.Actors.Sharding;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Hosting;

/// <summary>
/// Entity types and singletons, hosted the same way on a single node and in a cluster. This is the only place the
/// single-node / cluster switch is written: an area says what it hosts once, and the node's mode chooses how.
/// </summary>
public static class EntityHosting
{
    /// <summary>
    /// An entity type, registered under <typeparamref name="TRegion"/>. Cluster: a shard region named
    /// <paramref name="typeName"/> (distributed-data state store, the gateway role, entities not remembered).
    /// Single node: a node child named <paramref name="localName"/> at <paramref name="order"/> that keeps one child per
    /// entity (<see cref="GenericChildPerEntityParent"/>). Both use <paramref name="extractor"/> and
    /// <paramref name="entityProps"/> (called once per entity incarnation), so entity code cannot tell them apart.
    /// </summary>
    public static IServiceCollection AddEntity<TRegion>(this IServiceCollection services, string typeName, string localName, int order,
        IMessageExtractor extractor, Func<string, HostingContext, Props> entityProps)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(typeName);
        ArgumentNullException.ThrowIfNull(extractor);
        ArgumentNullException.ThrowIfNull(entityProps);
        services.AddNodeChild<TRegion>(localName, order,
            ctx => GenericChildPerEntityParent.Props(extractor, entityId => entityProps(entityId, ctx)), HostingModes.SingleNode);
        services.AddSingleton<ClusterHosted>(new ShardedEntity<TRegion>(typeName, order, extractor, entityProps));
        return services;
    }

    /// <summary>
    /// One actor for the whole deployment, registered under <typeparamref name="TKey"/>. Cluster: a cluster singleton
    /// named <paramref name="name"/> on the gateway role, reached through its proxy (which is what is registered).
    /// Single node: a node child named <paramref name="name"/> at <paramref name="order"/>.
    /// </summary>
    public static IServiceCollection AddNodeSingleton<TKey>(this IServiceCollection services, string name, int order, Func<HostingContext, Props> props)
    {
        ArgumentNullException.ThrowIfNull(props);
        services.AddNodeChild<TKey>(name, order, props, HostingModes.SingleNode);
        services.AddSingleton<ClusterHosted>(new Singleton<TKey>(name, order, props));
        return services;
    }
}

/// <summary>
/// What a cluster node starts before its gateway root (shard regions, singletons), in order; see
/// <see cref="EntityHosting"/>.
/// </summary>
public abstract class ClusterHosted(string name, int order)
{
    /// <summary>The shard type name or singleton name.</summary>
    public string Name { get; } = name;

    /// <summary>Start order among the cluster-hosted actors (the same order as the single-node children).</summary>
    public int Order { get; } = order;

    /// <summary>Adds the region or singleton to the ActorSystem's configuration.</summary>
    public abstract void Apply(AkkaConfigurationBuilder builder, IServiceProvider services, KruxOsSettings settings);

    /// <summary>The context an entity or singleton factory gets in a cluster.</summary>
    protected static HostingContext Context(ActorSystem system, IServiceProvider services, KruxOsSettings settings) =>
        new(system, services.GetRequiredService<ActorRegistry>(), services, settings);
}

internal sealed class ShardedEntity<TRegion>(string typeName, int order, IMessageExtractor extractor, Func<string, HostingContext, Props> entityProps)
    : ClusterHosted(typeName, order)
{
    public override void Apply(AkkaConfigurationBuilder builder, IServiceProvider services, KruxOsSettings settings) =>
        builder.WithShardRegion<TRegion>(Name, (system, _, _) =>
            {
                var ctx = Context(system, services, settings);
                return entityId => entityProps(entityId, ctx);
            },
            extractor,
            new ShardOptions { StateStoreMode = StateStoreMode.DData, Role = KruxOsHostingExtensions.GatewayRole, RememberEntities = false });
}

internal sealed class Singleton<TKey>(string name, int order, Func<HostingContext, Props> props) : ClusterHosted(name, order)
{
    public override void Apply(AkkaConfigurationBuilder builder, IServiceProvider services, KruxOsSettings settings) =>
        builder.WithSingleton<TKey>(Name, (system, _, _) => props(Context(system, services, settings)),
            new ClusterSingletonOptions { Role = KruxOsHostingExtensions.GatewayRole }, createProxyToo: true);
}
