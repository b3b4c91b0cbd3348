using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Capabilities;

/// <summary>Registration of capability modules.</summary>
public static class CapabilityModuleServiceCollectionExtensions
{
    /// <summary>
    /// Registers a module. The node's <see cref="CapabilityCatalog"/> is built from every registered module when it is
    /// first resolved (<see cref="CapabilityCatalog.FromModules"/>); registering the same module twice has no effect.
    /// </summary>
    public static IServiceCollection AddCapabilityModule<TModule>(this IServiceCollection services) where TModule : CapabilityModule, new()
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<CapabilityModule, TModule>(_ => new TModule()));
        services.TryAddSingleton(sp => CapabilityCatalog.FromModules(sp.GetServices<CapabilityModule>(), sp));
        return services;
    }
}
