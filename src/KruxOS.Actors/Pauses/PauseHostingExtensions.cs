using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Pauses;

/// <summary>The pause area: the durable pause registry (singleton <c>pauses</c>), each node's <see cref="PauseDirectory"/> and <see cref="PauseAdmin"/>.</summary>
public static class PauseHostingExtensions
{
    /// <summary>The registry's creation order. Sessions refuse calls until it has loaded (health check <c>pauses</c>).</summary>
    public const int Order = GatewayAreas.FirstFreeOrder + 30;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddPauseArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<PauseDirectory>();
        services.AddSingleton<PauseAdmin>();
        services.AddNodeSingleton<PauseRegistryKey>("pauses", Order,
            ctx => PauseRegistryActor.Props(ctx.Services.GetRequiredService<PauseDirectory>(), ctx.Services.GetRequiredService<TimeProvider>()));
        // Until the durable pause list is known every call is refused (fail closed), so the node is not ready before it.
        services.AddHealthCheck("pauses", sp =>
        {
            var directory = sp.GetRequiredService<PauseDirectory>();
            return _ => ValueTask.FromResult(directory.Ready.IsCompleted
                ? HealthCheckResult.Healthy("pause list loaded")
                : HealthCheckResult.Critical("the pause list is still loading; calls are refused until it is"));
        });
        services.AddNodeChild<PauseReplicaActor>("pause-replica", Order + 1,
            ctx => PauseReplicaActor.Props(ctx.Services.GetRequiredService<PauseDirectory>(), ctx.Get<PauseRegistryKey>()), HostingModes.Cluster);
        return services;
    }
}
