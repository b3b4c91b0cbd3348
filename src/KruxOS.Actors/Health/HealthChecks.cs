using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Health;

/// <summary>A named health check an area contributes to the node's <see cref="HealthRegistry"/>.</summary>
/// <param name="Name">The check's name in every health report (reports are in name order).</param>
/// <param name="Check">Builds the check from the node's services (once, when it first runs).</param>
public sealed record HealthCheckRegistration(string Name, Func<IServiceProvider, Func<CancellationToken, ValueTask<HealthCheckResult>>> Check);

/// <summary>Registration of an area's health checks.</summary>
public static class HealthChecks
{
    /// <summary>Adds the check <paramref name="name"/> to the node's <see cref="HealthRegistry"/>.</summary>
    public static IServiceCollection AddHealthCheck(this IServiceCollection services, string name,
        Func<IServiceProvider, Func<CancellationToken, ValueTask<HealthCheckResult>>> check)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(check);
        services.AddSingleton(new HealthCheckRegistration(name, check));
        return services;
    }
}
