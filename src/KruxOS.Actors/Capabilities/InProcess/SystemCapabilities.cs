using Akka.Actor;
using System.Runtime.InteropServices;
using System.Text.Json;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Capabilities.InProcess;

/// <summary>Facts about this gateway node that in-process capabilities report.</summary>
public sealed record NodeFacts(string DataDirectory, DateTimeOffset StartedAt, string Version);

/// <summary><c>system.time</c>: the current time in UTC and optionally an IANA zone.</summary>
public sealed class SystemTimeHandler : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("system.time");

    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var now = context.Now;
        string? zoneName = arguments.TryGetProperty("timezone", out var tz) && tz.ValueKind == JsonValueKind.String ? tz.GetString() : null;
        string? local = null;
        if (!string.IsNullOrWhiteSpace(zoneName) && !string.Equals(zoneName, "UTC", StringComparison.OrdinalIgnoreCase))
        {
            TimeZoneInfo zone;
            try { zone = TimeZoneInfo.FindSystemTimeZoneById(zoneName); }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
            {
                throw new CapabilityException(StructuredError.Create("InvalidTimezone", $"Unknown time zone '{zoneName}'.")
                    .WithRecovery("fix_input", "Use an IANA zone name such as America/New_York, or omit it for UTC.")
                    .WithContext("timezone", zoneName));
            }
            local = TimeZoneInfo.ConvertTime(now, zone).ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture);
        }
        else if (zoneName is not null)
        {
            local = now.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+00:00'", System.Globalization.CultureInfo.InvariantCulture);
        }
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            utc = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            unix_epoch = now.ToUnixTimeSeconds(),
            unix_epoch_ms = now.ToUnixTimeMilliseconds(),
            local,
            timezone = string.IsNullOrWhiteSpace(zoneName) ? "UTC" : zoneName,
        }));
    }
}

/// <summary><c>system.info</c>: OS, uptime, CPU, memory and the data partition.</summary>
public sealed class SystemInfoHandler(NodeFacts facts, IdentityDirectory identities) : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("system.info");

    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        try
        {
            var (memTotal, memAvail) = ProcStats.ParseMemory(await File.ReadAllTextAsync("/proc/meminfo", cancellationToken).ConfigureAwait(false));
            var uptimeText = await File.ReadAllTextAsync("/proc/uptime", cancellationToken).ConfigureAwait(false);
            var uptime = (long)double.Parse(uptimeText.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            var kernel = File.Exists("/proc/sys/kernel/osrelease")
                ? (await File.ReadAllTextAsync("/proc/sys/kernel/osrelease", cancellationToken).ConfigureAwait(false)).Trim()
                : Environment.OSVersion.Version.ToString();
            var drive = DiskOf(facts.DataDirectory);
            return CapabilityCatalog.ToElement(new
            {
                os_version = $"{RuntimeInformation.OSDescription} (kernel {kernel})",
                uptime_seconds = uptime,
                agent_count = identities.Current.ActiveAgentCount,
                cpu_count = Environment.ProcessorCount,
                memory_total_bytes = memTotal,
                memory_available_bytes = memAvail,
                disk_total_bytes = drive.TotalSize,
                disk_available_bytes = drive.AvailableFreeSpace,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new CapabilityException(StructuredError.Create("SystemInfoError", $"A host statistic could not be read: {e.Message}")
                .WithRecovery("retry", "Try again; the operator can check the gateway log."));
        }
    }

    /// <summary>The drive holding a path (the mount with the longest matching prefix).</summary>
    public static DriveInfo DiskOf(string path)
    {
        var full = Path.GetFullPath(path);
        // The drive whose mount point is the longest prefix of the data directory.
        return DriveInfo.GetDrives()
            .Where(d => d.IsReady && full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
            .OrderByDescending(d => d.RootDirectory.FullName.Length)
            .First();
    }
}

/// <summary><c>system.health</c>: services, resource usage and queue depths.</summary>
public sealed class SystemHealthHandler(HealthRegistry health, HostMetrics metrics, NodeFacts facts, Audit.AuditProbe audit, Approvals.ApprovalIndex approvals)
    : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("system.health");

    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var report = await health.RunAsync(cancellationToken).ConfigureAwait(false);
        var auditBuffer = await AuditBufferAsync(cancellationToken).ConfigureAwait(false);
        var summary = MetricsWindow.Summarise(metrics.Samples, "1m", context.Now);
        var latest = metrics.Latest;
        var drive = SystemInfoHandler.DiskOf(facts.DataDirectory);
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
            // Alerts are not built yet, so nothing can be pending there.
            queue_depths = new { approval_pending = approvals.PendingCount, alerts_pending = 0, audit_buffer = auditBuffer },
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

/// <summary><c>system.metrics</c>: averages and peaks over a window.</summary>
public sealed class SystemMetricsHandler(HostMetrics metrics) : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("system.metrics");

    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var window = arguments.TryGetProperty("window", out var w) ? w.GetString()! : "5m";
        var s = MetricsWindow.Summarise(metrics.Samples, window, context.Now);
        if (s.Samples == 0)
            throw new CapabilityException(StructuredError.Create("MetricsError", "No host samples have been taken yet.", retryable: true)
                .RetryAfter(5).WithRecovery("retry", "Try again in a few seconds."));
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            window,
            cpu = new { average_percent = s.CpuAveragePercent, peak_percent = s.CpuPeakPercent },
            memory = new { average_bytes = s.MemoryAverageBytes, peak_bytes = s.MemoryPeakBytes, average_percent = s.MemoryAveragePercent },
            disk_io = new { read_bytes = s.DiskReadBytes, write_bytes = s.DiskWriteBytes },
            network_io = new { rx_bytes = s.NetRxBytes, tx_bytes = s.NetTxBytes },
        }));
    }
}
