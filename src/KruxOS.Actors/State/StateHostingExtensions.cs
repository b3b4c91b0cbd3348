using KruxOS.Actors.Agents;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.State.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Actors.State;

/// <summary>
/// The state area (issue 18, ADR 0035): the shared-state quota ledger (singleton), the 64 shared-state partitions, the
/// per-agent persistent state and the per-session state (entities, sharded in a cluster), the node's watch hub, and
/// <see cref="StateAccess"/> for the edges.
/// </summary>
public static class StateHostingExtensions
{
    /// <summary>The ledger's creation order; the entities and the hub follow.</summary>
    public const int Order = 150;

    /// <summary>How long a partition waits for the ledger before the write is refused (nothing written).</summary>
    public static readonly TimeSpan LedgerTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddStateArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var state = settings.State;
        // Fails start-up on a bad configuration instead of on the first write.
        _ = (state.Persistent, state.Shared, state.Session, state.Cadence);
        services.AddSingleton<StateAccess>();
        services.AddSingleton<BriefingFeeds>();
        services.AddSingleton<BriefingSource>();
        services.AddSingleton<StateAdmin>();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(state.SnapshotRetention, "KruxOS:State:SnapshotRetention");
        services.AddSingleton(new SnapshotStore(Path.Combine(settings.DataDir, "state", "snapshots"), state.SnapshotRetention));
        services.AddSingleton<SystemSnapshotSource>();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(state.BackupRetention, "KruxOS:State:BackupRetention");
        services.AddSingleton(new Backups.BackupStore(Path.Combine(settings.DataDir, "backups"), state.BackupRetention));
        // TryAdd: a spec's customisation (registered first) may put a failing edge in front of the entities (ADR 0060).
        services.TryAddSingleton<Backups.IRestoreTarget, Backups.StateRestoreTarget>();
        // The undo log of a restore (ADR 0060): put back at start-up when a restore was interrupted.
        services.AddSingleton(new Backups.RestoreJournal(Path.Combine(settings.DataDir, "state", "restore")));
        services.AddSingleton<Backups.BackupService>();
        services.AddHostedService<Backups.RestoreRecovery>();
        services.AddHealthCheck("state", sp =>
        {
            var access = sp.GetRequiredService<StateAccess>();
            var journal = sp.GetRequiredService<Backups.RestoreJournal>();
            return ct => journal.Status switch
            {
                Backups.RestoreRecoveryStatus.Pending => ValueTask.FromResult(HealthCheckResult.Degraded(
                    "recovering: putting back a backup restore interrupted by a crash; no restore starts until it is done")),
                Backups.RestoreRecoveryStatus.Failed => ValueTask.FromResult(HealthCheckResult.Critical(
                    "a backup restore could not be put back (see the critical alerts, component backup); its undo log is kept for the next start")),
                _ => access.CheckAsync(ct),
            };
        });
        services.AddNodeSingleton<SharedQuotaLedgerKey>("state-shared-quota", Order, ctx => SharedQuotaLedgerActor.Props(
            ctx.Settings.State.Shared.QuotaBytes, Clock(ctx), ctx.Settings.State.SnapshotEveryEvents));
        services.AddEntity<SharedStateRegion>("state-shared", "state-shared", Order + 1, new SharedStateMessageExtractor(),
            (entityId, ctx) => SharedPartitionActor.Props(entityId, new SharedPartitionDependencies(ctx.Settings.State.Shared,
                ctx.Settings.State.Cadence, Clock(ctx), ctx.Settings.State.EntityIdle, ctx.Get<SharedQuotaLedgerKey>(),
                ctx.Mode == HostingMode.Cluster, LedgerTimeout)));
        services.AddEntity<PersistentStateRegion>("state-persistent", "state-persistent", Order + 2, new PersistentStateMessageExtractor(),
            (entityId, ctx) => PersistentStateActor.Props(entityId, new PersistentStateDependencies(ctx.Settings.State.Persistent,
                ctx.Settings.State.Cadence, Clock(ctx), ctx.Settings.State.EntityIdle)));
        services.AddEntity<SessionStateRegion>("state-session", "state-sessions", Order + 3, new SessionStateMessageExtractor(),
            (entityId, ctx) => SessionStateActor.Props(entityId, new SessionStateDependencies(ctx.Settings.State.Session,
                ctx.Settings.State.SessionCheckpointInterval, Clock(ctx), ctx.Settings.State.EntityIdle)));
        services.AddNodeChild<StateWatchHub>("state-watch", Order + 4, ctx => StateWatchHubActor.Props(
            ctx.Get<AgentSessionRegion>(), ctx.Get<SessionStateRegion>(), Clock(ctx), SharedWatchLimits.Default, ctx.Mode == HostingMode.Cluster));
        return services;
    }

    private static TimeProvider Clock(HostingContext ctx) => ctx.Services.GetRequiredService<TimeProvider>();
}
