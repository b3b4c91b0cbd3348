using KruxOS.Actors.Audit;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core.Approvals;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Approvals;

/// <summary>
/// The approvals area: the approval entities (a shard region <c>approval</c> in a cluster, <c>/user/gateway/approvals</c>
/// on a single node), the node's <see cref="ApprovalIndex"/> and the child that keeps it, and the journal tagger the
/// index rebuilds from.
/// </summary>
public static class ApprovalHostingExtensions
{
    /// <summary>The approval entities' creation order (single node).</summary>
    public const int Order = 30;

    /// <summary>The approval index child's creation order.</summary>
    public const int IndexOrder = 40;

    /// <summary>How long a settled approval entity stays in memory.</summary>
    public static readonly TimeSpan ResolvedIdle = TimeSpan.FromSeconds(30);

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddApprovalArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<ApprovalIndex>();
        // Approval events are tagged so the approval index can be rebuilt from the journal with a tag query.
        services.AddJournalEventAdapter<ApprovalEventTagger>("approval-tagger", typeof(IApprovalEvent));
        services.AddEntity<ApprovalRegion>("approval", "approvals", Order, new ApprovalMessageExtractor(),
            (entityId, ctx) => ApprovalActor.Props(entityId, DependenciesFor(ctx)));
        services.AddNodeChild<ApprovalIndexActor>("approval-index", IndexOrder, ctx => ApprovalIndexActor.Props(
            ctx.Services.GetRequiredService<ApprovalIndex>(), ctx.Get<ApprovalRegion>(), ctx.Services.GetRequiredService<TimeProvider>(),
            live: ctx.Settings.UseClustering ? ApprovalIndexActor.LiveByTag : null));
        return services;
    }

    /// <summary>What every approval entity shares.</summary>
    public static ApprovalDependencies DependenciesFor(HostingContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return new(ctx.Services.GetRequiredService<ApprovalIndex>(), ctx.Settings.ApprovalGrantWindow, ResolvedIdle,
            ctx.Services.GetRequiredService<TimeProvider>(), ctx.Get<AuditWriter>(), ToolRunSettings.Default.AuditTimeout);
    }
}
