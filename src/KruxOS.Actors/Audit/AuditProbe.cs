using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Audit;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Audit;

/// <summary>
/// Reads the node's audit writer health for surfaces outside the actor system: the <c>audit</c> health
/// check and the <c>audit_buffer</c> queue depth of <c>system.health</c>. Not for use inside actors.
/// </summary>
public sealed class AuditProbe(ActorRegistry registry, KruxOsSettings settings)
{
    /// <summary>How long the writer has to answer.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(1.5);

    /// <summary>The writer's health, or null when the writer is not running yet.</summary>
    public async Task<AuditHealth?> GetAsync(CancellationToken ct)
    {
        if (!registry.TryGet<AuditWriter>(out var writer)) return null;
        return await writer.Ask<AuditHealth>(AuditCommands.GetAuditHealth.Instance, AskTimeout, ct).ConfigureAwait(false);
    }

    /// <summary>The <c>audit</c> health check.</summary>
    public async ValueTask<HealthCheckResult> CheckAsync(CancellationToken ct) =>
        Assess(await GetAsync(ct).ConfigureAwait(false), settings.Audit.RingCapacity);

    /// <summary>
    /// Critical when the writer is degraded, halted or restarting after a failure, or when at least half of the ring is waiting;
    /// degraded while it opens the log or when it found a chain break at startup; healthy otherwise.
    /// </summary>
    public static HealthCheckResult Assess(AuditHealth? h, int ringCapacity)
    {
        if (h is null) return HealthCheckResult.Critical("audit writer not running");
        return h.Status switch
        {
            AuditHealthStatus.Degraded => HealthCheckResult.Critical(
                $"audit writer degraded: {h.BufferedEntries} of {ringCapacity} entries held in memory; {h.LastError}"),
            AuditHealthStatus.Halted => HealthCheckResult.Critical($"audit writer halted (fail_mode halt): calls fail; {h.LastError}"),
            AuditHealthStatus.Restarting => HealthCheckResult.Critical(
                $"audit writer restarting after a failure: no call runs until it is back; {h.BufferedEntries} entries waiting; {h.LastError}"),
            AuditHealthStatus.Starting => HealthCheckResult.Degraded("audit writer opening the log"),
            _ when h.BufferedEntries * 2 >= ringCapacity => HealthCheckResult.Critical(
                $"audit buffer filling: {h.BufferedEntries} of {ringCapacity} entries waiting for disk"),
            _ when h.StartupBreak is { } issue => HealthCheckResult.Degraded(
                $"chain break found at startup ({issue.Kind.ToWire()} in {issue.File} at entry {issue.EntryIndex}); logging continues on a new chain"),
            _ => HealthCheckResult.Healthy($"{h.EntriesWritten} entries written, {h.BufferedEntries} waiting"),
        };
    }
}
