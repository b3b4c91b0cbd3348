using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Health;
using KruxOS.Capabilities;

namespace KruxOS.Actors.Capabilities.SystemCategory;

/// <summary><c>system.health</c>: services, resource usage and queue depths.</summary>
[Capability("system.health")]
public sealed class SystemHealthHandler(HealthRegistry health, HostMetrics metrics, NodeFacts facts, Audit.AuditProbe audit, Approvals.ApprovalIndex approvals,
    Alerts.AlertAdmin alerts)
    : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var report = await health.RunAsync(cancellationToken).ConfigureAwait(false);
        var auditBuffer = await AuditBufferAsync(cancellationToken).ConfigureAwait(false);
        var alertsPending = (await alerts.PendingAsync(cancellationToken).ConfigureAwait(false))?.Pending ?? -1;
        var summary = MetricsWindow.Summarise(metrics.Samples, "1m", context.Now);
        var latest = metrics.Latest;
        var drive = DiskSpace.DiskOf(facts.DataDirectory);
        var openFiles = Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : 0;
        return CapabilityCatalog.ToElement(new
        {
            overall_status = report.Status.ToCapabilityWire(),
            services = report.Services.Select(s => new { name = s.Name, status = s.Status.ToCapabilityWire(), message = s.Message }),
            resource_usage = new
            {
                cpu_percent = summary.CpuAveragePercent,
                memory_percent = latest is { } l ? Math.Round(100.0 * (l.MemoryTotalBytes - l.MemoryAvailableBytes) / l.MemoryTotalBytes, 2) : 0,
                disk_percent = drive.TotalSize == 0 ? 0 : Math.Round(100.0 * (drive.TotalSize - drive.AvailableFreeSpace) / drive.TotalSize, 2),
                open_files = openFiles,
            },
            // -1 when the alert store did not answer in time.
            queue_depths = new { approval_pending = approvals.PendingCount, alerts_pending = alertsPending, audit_buffer = auditBuffer },
        });
    }

    // Entries accepted by the audit writer and not yet on disk; -1 when the writer did not answer.
    private async Task<int> AuditBufferAsync(CancellationToken ct)
    {
        try
        {
            return (await audit.GetAsync(ct).ConfigureAwait(false))?.BufferedEntries ?? -1;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return -1;
        }
    }
}
