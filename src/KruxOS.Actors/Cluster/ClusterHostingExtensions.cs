using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Cluster;

/// <summary>Registry key of the node's cluster lease keeper.</summary>
public sealed class ClusterLeaseKeeperKey;

/// <summary>
/// The cluster area (docs/cluster.md): the node's <see cref="ClusterView"/> (both modes), and in a cluster the journal lease
/// keeper (<c>/user/gateway/cluster-lease</c>), the supervision relay that shares every node's events with the others
/// (<c>/user/gateway/supervision-relay</c>, ADR 0059) and the <c>cluster</c> health check that readiness follows.
/// </summary>
public static class ClusterHostingExtensions
{
    /// <summary>The lease keeper's creation order.</summary>
    public const int Order = GatewayAreas.FirstFreeOrder + 10;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddClusterArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<ClusterLeaseState>();
        services.AddSingleton(sp => new ClusterView(sp.GetRequiredService<Akka.Actor.ActorSystem>(), settings, sp.GetRequiredService<ClusterLeaseState>()));
        if (!settings.UseClustering) return services;
        services.AddSingleton(_ => new ClusterLeaseStore(settings.Persistence.Provider, settings.JournalConnectionString));
        services.AddNodeChild<ClusterLeaseKeeperKey>("cluster-lease", Order, ctx => ClusterLeaseKeeper.Props(
            ctx.Services.GetRequiredService<ClusterLeaseStore>(), ctx.Services.GetRequiredService<ClusterLeaseState>(), settings.Cluster.LeaseTtl), HostingModes.Cluster);
        services.AddNodeChild<SupervisionRelayKey>("supervision-relay", Order + 1, _ => SupervisionRelayActor.Props(NodeId.Of(settings)), HostingModes.Cluster);
        services.AddHealthCheck("cluster", sp =>
        {
            var view = sp.GetRequiredService<ClusterView>();
            return _ => ValueTask.FromResult(view.Health());
        });
        return services;
    }
}
