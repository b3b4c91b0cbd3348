using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KruxOS.Actors.Capabilities;

/// <summary>
/// Builds the node's capability catalogue when the host starts, before the actor system and any listener: a module set
/// that cannot form a catalogue (<see cref="CapabilityCatalog.FromModules"/>), or a shipped category that no module
/// claims, stops the host with a <see cref="CapabilityModuleException"/> that names the module and the capability.
/// </summary>
public sealed class CapabilityCatalogCheck(IServiceProvider services) : IHostedService
{
    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Check(services.GetServices<CapabilityModule>());
        services.GetRequiredService<CapabilityCatalog>();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Every category of the shipped definitions is claimed by a module: the gateway offers what the offline tools know.</summary>
    public static void Check(IEnumerable<CapabilityModule> modules)
    {
        var claimed = modules.SelectMany(m => m.Categories).ToHashSet(StringComparer.Ordinal);
        foreach (var d in DefinitionLoader.BuiltIn())
            if (!claimed.Contains(d.Name.Category))
                throw new CapabilityModuleException($"no capability module claims the category '{d.Name.Category}' (first definition: '{d.Name}')");
    }
}
