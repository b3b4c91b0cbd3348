using KruxOS.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Network;

/// <summary>
/// The <c>network.*</c> capabilities (spec §8.10): run in the gateway process, which is the agent's network proxy (the
/// sandbox has no network). Definitions ship in Core's catalogue (<c>network.yaml</c>) so the offline tools know them.
/// </summary>
public sealed class NetworkModule() : CapabilityModule("network", "network");

/// <summary>Registration of the network capabilities.</summary>
public static class NetworkServiceCollectionExtensions
{
    /// <summary>
    /// The network module, the node's one <see cref="EgressClient"/> (one connection pool per node) and the system resolver
    /// (a test may register its own <see cref="IHostResolver"/> first).
    /// </summary>
    public static IServiceCollection AddNetworkCapabilities(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<IHostResolver, SystemHostResolver>();
        services.TryAddSingleton(new NetworkOptions());
        services.TryAddSingleton(sp => new EgressClient(sp.GetRequiredService<IHostResolver>(), sp.GetRequiredService<NetworkOptions>()));
        services.AddCapabilityModule<NetworkModule>();
        return services;
    }
}
