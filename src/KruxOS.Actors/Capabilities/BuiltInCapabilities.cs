using KruxOS.Actors.Capabilities.AgentCategory;
using KruxOS.Actors.Capabilities.AlertsCategory;
using KruxOS.Actors.Capabilities.CommsCategory;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Capabilities.Secrets;
using KruxOS.Actors.Capabilities.StateCategory;
using KruxOS.Actors.Capabilities.SchedulerCategory;
using KruxOS.Actors.Capabilities.SystemCategory;
using KruxOS.Capabilities;
using KruxOS.Network;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Capabilities;

/// <summary>The capability modules every gateway node runs.</summary>
public static class BuiltInCapabilities
{
    /// <summary>
    /// The sandbox area, the five built-in modules and the start-up check of the catalogue they form. A new module is one
    /// line here (ADR 0032).
    /// </summary>
    public static IServiceCollection AddBuiltInCapabilities(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSandboxArea(settings);
        services.AddCapabilityModule<SystemModule>();
        services.AddCapabilityModule<AgentModule>();
        services.AddCapabilityModule<FilesystemModule>();
        services.AddCapabilityModule<ProcessModule>();
        services.AddCapabilityModule<GitModule>();
        services.AddCapabilityModule<SecretsModule>();
        services.AddNetworkCapabilities();
        services.AddCapabilityModule<StateModule>();
        services.AddCapabilityModule<CommsModule>();
        services.AddCapabilityModule<AlertsModule>();
        services.AddCapabilityModule<SchedulerModule>();
        services.AddSingleton<SchedulerCalls>();
        // Before the actor system's hosted service: a bad module set stops the host before anything listens.
        services.AddHostedService<CapabilityCatalogCheck>();
        return services;
    }
}
