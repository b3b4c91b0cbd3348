using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Actors.Calls;

/// <summary>Registers the call pipeline's entry point: the <see cref="CallDispatcher"/> and its timeout policy.</summary>
public static class PipelineHostingExtensions
{
    /// <summary>
    /// The dispatcher and <see cref="DispatchTimeouts.From"/> the node's settings. A host with its own edge
    /// settings (the gateway) replaces the <see cref="DispatchTimeouts"/> registration.
    /// </summary>
    public static IServiceCollection AddCallPipeline(this IServiceCollection services, KruxOsSettings settings)
    {
        services.TryAddSingleton(DispatchTimeouts.From(settings));
        services.TryAddSingleton<CallDispatcher>();
        return services;
    }
}
