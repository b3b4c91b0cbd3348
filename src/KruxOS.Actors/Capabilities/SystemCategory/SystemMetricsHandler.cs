using System.Text.Json;
using KruxOS.Actors.Health;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Capabilities.SystemCategory;

/// <summary><c>system.metrics</c>: averages and peaks over a window.</summary>
[Capability("system.metrics")]
public sealed class SystemMetricsHandler(HostMetrics metrics) : ICapabilityHandler
{
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
