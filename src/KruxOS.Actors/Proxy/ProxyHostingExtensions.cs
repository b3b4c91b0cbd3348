using KruxOS.Actors.Capabilities.ProxyCategory;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Capabilities;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Actors.Proxy;

/// <summary>
/// The Service Proxy area (ADR 0054): the buffered-write entities (a shard region <c>proxy-write</c> in a cluster,
/// <c>/user/gateway/proxy-writes</c> on a single node), the node's <see cref="WriteIndex"/> and the child that keeps it
/// and wakes due writes, the sync runner, the service credentials, the module-facing <see cref="IServiceProxy"/>, the
/// operator's <see cref="ProxyAdmin"/>, the <c>proxy.*</c> capabilities, batch protection for the decide stage and the
/// <c>proxy</c> health check. Adapters register themselves (<c>AddServiceAdapter&lt;T&gt;()</c>); with none, the area is idle.
/// </summary>
public static class ProxyHostingExtensions
{
    /// <summary>The write entities' creation order (single node).</summary>
    public const int Order = GatewayAreas.FirstFreeOrder + 70;

    /// <summary>The write index's creation order.</summary>
    public const int IndexOrder = Order + 1;

    /// <summary>The sync runner's creation order.</summary>
    public const int SyncOrder = Order + 2;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddProxyArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var proxy = settings.Proxy;
        // Fails start-up on a bad configuration instead of on the first failed write.
        var writeSettings = proxy.ToWriteSettings();
        if (writeSettings.Backoff.Any(b => b <= TimeSpan.Zero)) throw new ArgumentException("KruxOS:Proxy:Backoff: every wait must be positive");
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(proxy.CallTimeout, TimeSpan.Zero, "KruxOS:Proxy:CallTimeout");
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(proxy.SyncTimeout, TimeSpan.Zero, "KruxOS:Proxy:SyncTimeout");
        services.AddSingleton(proxy);
        services.TryAddSingleton(sp => new ServiceAdapters(sp.GetServices<IServiceAdapter>()));
        services.AddSingleton(sp => new BatchRules(sp.GetRequiredService<ServiceAdapters>().Descriptors));
        services.AddSingleton<WriteIndex>();
        services.AddSingleton(new ProxyReplicas(Path.Combine(settings.DataDir, "proxy")));
        services.AddSingleton<ProxyAuditSink>();
        services.AddSingleton<HostedServiceCredentials>();
        services.AddSingleton<IServiceCredentials>(sp => sp.GetRequiredService<HostedServiceCredentials>());
        services.AddSingleton<ServiceProxy>();
        services.AddSingleton<IServiceProxy>(sp => sp.GetRequiredService<ServiceProxy>());
        services.AddSingleton<IServiceConnections>(sp => sp.GetRequiredService<ServiceProxy>());
        services.AddSingleton<ProxyAdmin>();
        services.AddCapabilityModule<ProxyModule>();
        // Write events are tagged so the index can be rebuilt with a tag query.
        services.AddJournalEventAdapter<WriteEventTagger>("proxy-write-tagger", typeof(IWriteEvent));
        services.AddEntity<WriteRegion>("proxy-write", "proxy-writes", Order, new WriteMessageExtractor(),
            (entityId, ctx) => BufferedWriteActor.Props(entityId, DependenciesFor(ctx)));
        services.AddNodeChild<WriteIndexActor>("proxy-write-index", IndexOrder, ctx => WriteIndexActor.Props(
            ctx.Services.GetRequiredService<WriteIndex>(), ctx.Get<WriteRegion>(), Clock(ctx),
            live: ctx.Settings.UseClustering ? WriteIndexActor.LiveByTag : null));
        services.AddNodeChild<ProxySyncRunner>("proxy-sync", SyncOrder, ctx => ProxySyncActor.Props(
            ctx.Services.GetRequiredService<ServiceAdapters>(), ctx.Services.GetRequiredService<ProxyReplicas>(),
            ctx.Services.GetRequiredService<IServiceCredentials>(), Clock(ctx), ctx.Settings.Proxy.SyncTimeout));
        services.AddHealthCheck("proxy", sp =>
        {
            var admin = sp.GetRequiredService<ProxyAdmin>();
            var index = sp.GetRequiredService<WriteIndex>();
            return ct => Check(admin, index, ct);
        });
        return services;
    }

    /// <summary>What every write entity shares.</summary>
    public static WriteDependencies DependenciesFor(HostingContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var settings = ctx.Settings.Proxy;
        return new(ctx.Services.GetRequiredService<WriteIndex>(), ctx.Services.GetRequiredService<ServiceAdapters>(), settings.ToWriteSettings(), Clock(ctx),
            settings.CallTimeout, settings.EntityIdle);
    }

    // Healthy with every connected service synced and no dead letter; degraded otherwise (what needs the operator is named).
    private static async ValueTask<HealthCheckResult> Check(ProxyAdmin admin, WriteIndex index, CancellationToken ct)
    {
        if (!index.IsReady) return HealthCheckResult.Degraded("the write index is still loading");
        var status = await admin.StatusAsync(ct).ConfigureAwait(false);
        if (!status.IsOk) return HealthCheckResult.Degraded(status.Error!.Message);
        var services = status.Value;
        if (services.IsDefaultOrEmpty) return HealthCheckResult.Healthy("no service adapter registered");
        var problems = services.Where(s => s.Status is "error" or "needs_attention").Select(s => $"{s.Name}: {s.Status}").ToList();
        if (index.DeadLetterDepth > 0) problems.Add($"{index.DeadLetterDepth} dead-lettered write(s)");
        var summary = string.Join(", ", services.Select(s => $"{s.Name} {s.Status}"));
        return problems.Count == 0 ? HealthCheckResult.Healthy(summary) : HealthCheckResult.Degraded(string.Join("; ", problems) + " (" + summary + ")");
    }

    private static TimeProvider Clock(HostingContext ctx) => ctx.Services.GetRequiredService<TimeProvider>();
}
