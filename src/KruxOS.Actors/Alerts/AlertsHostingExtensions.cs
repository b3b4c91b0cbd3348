using KruxOS.Actors.Hosting;
using KruxOS.Core.Alerts;
using KruxOS.Sandbox;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Alerts;

/// <summary>
/// The alerts area: the one durable alert store (<see cref="EntityHosting.AddNodeSingleton{TKey}"/> <c>alerts</c>), the
/// <see cref="AlertAdmin"/> service, and on every node the <see cref="SystemAlertsActor"/> that raises the gateway's own
/// alerts (system alerts published on the event stream, disk, sandbox, dead letters).
/// </summary>
public static class AlertsHostingExtensions
{
    /// <summary>The store's creation order (single node).</summary>
    public const int StoreOrder = GatewayAreas.FirstFreeOrder + 20;

    /// <summary>The system alerts child's creation order.</summary>
    public const int SystemOrder = GatewayAreas.FirstFreeOrder + 21;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddAlertsArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<AlertAdmin>();
        services.AddNodeSingleton<AlertStoreKey>("alerts", StoreOrder,
            ctx => AlertStoreActor.Props(AlertLimits.Default, ctx.Services.GetRequiredService<TimeProvider>()));
        services.AddNodeChild<SystemAlertsActor>("system-alerts", SystemOrder, ctx => SystemAlertsActor.Props(ctx.Get<AlertStoreKey>(),
            new SystemAlertSettings(ctx.Settings.DataDir, 90, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10), ctx.Services.GetService<ISandbox>())));
        return services;
    }
}
