using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Health;

/// <summary>The health area: the node's <see cref="HealthRegistry"/> (holding every area's checks) and its host metrics sampler.</summary>
public static class HealthHostingExtensions
{
    /// <summary>The host-metrics sampler's name under the gateway root.</summary>
    public const string MetricsName = "host-metrics";

    /// <summary>The sampler's creation order among the node children.</summary>
    public const int Order = 10;

    /// <summary>
    /// The <see cref="HealthRegistry"/> with the checks areas add through <see cref="HealthChecks.AddHealthCheck"/>, the
    /// <see cref="HostMetrics"/> every health surface reads, and the node child that samples them every
    /// <see cref="KruxOsSettings.MetricsInterval"/> (registered under <see cref="HostMetricsActor"/>).
    /// </summary>
    public static IServiceCollection AddHealthArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<HostMetrics>();
        services.AddSingleton(sp => new HealthRegistry(sp.GetRequiredService<TimeProvider>(), sp.GetServices<HealthCheckRegistration>(), sp));
        services.AddNodeChild<HostMetricsActor>(MetricsName, Order, ctx => HostMetricsActor.Props(ctx.Services.GetRequiredService<HostMetrics>(),
            ctx.Services.GetRequiredService<TimeProvider>(), ctx.Settings.MetricsInterval));
        return services;
    }
}
