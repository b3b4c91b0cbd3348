using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Pauses;

/// <summary>The pause area: the durable pause registry (singleton <c>pauses</c>), each node's <see cref="PauseDirectory"/> and <see cref="PauseAdmin"/>.</summary>
public static class PauseHostingExtensions
{
    /// <summary>The registry's creation order: before the session entities' first call can need it is not required (an unknown state reads as not paused until it loads).</summary>
    public const int Order = GatewayAreas.FirstFreeOrder + 30;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddPauseArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<PauseDirectory>();
        services.AddSingleton<PauseAdmin>();
        services.AddNodeSingleton<PauseRegistryKey>("pauses", Order,
            ctx => PauseRegistryActor.Props(ctx.Services.GetRequiredService<PauseDirectory>(), ctx.Services.GetRequiredService<TimeProvider>()));
        services.AddNodeChild<PauseReplicaActor>("pause-replica", Order + 1,
            ctx => PauseReplicaActor.Props(ctx.Services.GetRequiredService<PauseDirectory>(), ctx.Get<PauseRegistryKey>()), HostingModes.Cluster);
        return services;
    }
}
