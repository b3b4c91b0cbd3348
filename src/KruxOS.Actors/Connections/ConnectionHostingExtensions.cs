using KruxOS.Actors.Agents;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Connections;

/// <summary>The connections area: the node's parent of live client connections, registered under <see cref="ConnectionRegistry"/>.</summary>
public static class ConnectionHostingExtensions
{
    /// <summary>The connection parent's creation order: after the sessions its connections attach to.</summary>
    public const int Order = 70;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddConnectionArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddNodeChild<ConnectionRegistry>("connections", Order,
            ctx => ConnectionsActor.Props(ctx.Get<AgentSessionRegion>(), ctx.Services.GetRequiredService<TimeProvider>()));
        return services;
    }
}
