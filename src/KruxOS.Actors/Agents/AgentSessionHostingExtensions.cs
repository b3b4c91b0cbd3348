using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core.Policy;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Agents;

/// <summary>
/// The agent-session area: one entity per agent (a shard region <c>agent-session</c> in a cluster,
/// <c>/user/gateway/agent-sessions</c> on a single node), registered under <see cref="AgentSessionRegion"/>.
/// </summary>
public static class AgentSessionHostingExtensions
{
    /// <summary>The session entities' creation order (single node): after the audit writer and the approvals they use.</summary>
    public const int Order = 50;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddAgentSessionArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddEntity<AgentSessionRegion>("agent-session", "agent-sessions", Order, new AgentSessionMessageExtractor(),
            (entityId, ctx) => AgentSessionActor.Props(entityId, DependenciesFor(ctx)));
        return services;
    }

    /// <summary>What every session entity shares.</summary>
    public static AgentSessionDependencies DependenciesFor(HostingContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var sp = ctx.Services;
        var settings = ctx.Settings;
        return new(sp.GetRequiredService<CapabilityCatalog>(), sp.GetRequiredService<IPolicySeam>(), sp.GetRequiredService<IdentityDirectory>(),
            ctx.Get<AuditWriter>(), new ToolRunSettings(settings.ToolCallTimeout, ToolRunSettings.Default.AuditTimeout), settings.MaxConnectionsPerAgent,
            settings.SessionIdleTimeout, sp.GetRequiredService<TimeProvider>(), ctx.Get<ApprovalRegion>(), sp.GetRequiredService<ApprovalIndex>(),
            settings.ApprovalHoldTimeout, settings.Idempotency.Limits, sp.GetRequiredService<AuditAvailability>(),
            sp.GetService<Pauses.PauseDirectory>(), sp.GetService<KruxOS.Core.Proxy.BatchRules>());
    }
}
