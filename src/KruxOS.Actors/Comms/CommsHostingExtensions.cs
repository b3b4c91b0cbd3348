using KruxOS.Actors.Hosting;
using KruxOS.Core.Comms;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Comms;

/// <summary>
/// The comms area: the inbox entities (<c>comms-inbox</c>, one per agent) and channel entities (<c>comms-channel</c>,
/// one per channel), the node's <see cref="PostOffice"/> and the <see cref="CommsQueueDepth"/> gauge.
/// </summary>
public static class CommsHostingExtensions
{
    /// <summary>The inbox entities' creation order (single node).</summary>
    public const int InboxOrder = GatewayAreas.FirstFreeOrder + 10;

    /// <summary>The channel entities' creation order (single node).</summary>
    public const int ChannelOrder = GatewayAreas.FirstFreeOrder + 11;

    /// <summary>An entity idle this long passivates (it recovers from the journal on its next message).</summary>
    public static readonly TimeSpan Idle = TimeSpan.FromMinutes(10);

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddCommsArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var comms = settings.Comms;
        var limits = comms.Limits();
        services.AddSingleton(comms);
        services.AddSingleton<PostOffice>();
        services.AddSingleton<CommsQueueDepth>();
        services.AddHostedService<CommsQueueDepthService>();
        services.AddEntity<InboxRegion>("comms-inbox", "comms-inboxes", InboxOrder, new InboxMessageExtractor(),
            (entityId, ctx) => InboxActor.Props(entityId, limits, ctx.Services.GetRequiredService<TimeProvider>(), Idle));
        services.AddEntity<ChannelRegion>("comms-channel", "comms-channels", ChannelOrder, new ChannelMessageExtractor(),
            (entityId, ctx) => ChannelActor.Props(entityId, ChannelLimits.Default, ctx.Services.GetRequiredService<TimeProvider>(), Idle));
        return services;
    }
}
