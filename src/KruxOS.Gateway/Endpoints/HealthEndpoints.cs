using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Core;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Endpoints;

/// <summary>The unauthenticated loopback health endpoints (spec §4.3).</summary>
public static class HealthEndpoints
{
    /// <summary>Maps <c>GET /health</c> and <c>GET /health/ready</c> on the health listener.</summary>
    public static void MapHealth(this WebApplication app)
    {
        app.MapGet("/health", async (HttpContext http, HealthRegistry health, HostMetrics metrics, StatusService status, ApprovalIndex approvals,
            KruxOS.Actors.Comms.CommsQueueDepth comms, KruxOS.Actors.Alerts.AlertAdmin alerts, KruxOS.Actors.Proxy.WriteIndex writes) =>
        {
            var report = await health.RunAsync(http.RequestAborted).ConfigureAwait(false);
            var body = new JsonObject
            {
                ["status"] = report.Status.ToWire(),
                ["services"] = new JsonArray([.. report.Services.Select(s => (JsonNode)new JsonObject
                {
                    ["name"] = s.Name,
                    ["status"] = s.Status.ToWire(),
                    ["latency_ms"] = Math.Round(s.LatencyMs, 3),
                    ["details"] = s.Message,
                    ["checked_at"] = s.CheckedAt.ToString("O"),
                })]),
                ["resources"] = Resources(metrics, status),
                ["agent_metrics"] = new JsonObject
                {
                    ["active_sessions"] = await status.ActiveConnectionsAsync(http.RequestAborted).ConfigureAwait(false),
                    ["total_invocations"] = status.TotalInvocations,
                    ["approval_queue_depth"] = approvals.PendingCount,
                    ["dead_letter_queue_depth"] = writes.DeadLetterDepth,
                    ["comms_queue_depth"] = comms.Value,
                    ["alerts_pending"] = (await alerts.PendingAsync(http.RequestAborted).ConfigureAwait(false))?.Pending ?? -1,
                    ["collected_at"] = report.GeneratedAt.ToString("O"),
                },
                ["generated_at"] = report.GeneratedAt.ToString("O"),
                ["total_latency_ms"] = Math.Round(report.TotalLatencyMs, 3),
            };
            // A cluster member reports the membership, reachability and shard distribution it sees.
            if ((await status.ClusterAsync(http.RequestAborted).ConfigureAwait(false)).Value is { Enabled: true } cluster)
                body["cluster"] = KruxOS.Gateway.Admin.AdminJson.Cluster(cluster);
            http.Response.StatusCode = report.Status == HealthStatus.Critical ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(body.ToJsonString(CoreJson.Options), http.RequestAborted).ConfigureAwait(false);
        }).On(Listener.Health);

        app.MapGet("/health/ready", async (HttpContext http, HealthRegistry health, IdentityDirectory identities) =>
        {
            var report = await health.RunAsync(http.RequestAborted).ConfigureAwait(false);
            var ready = identities.Ready.IsCompletedSuccessfully && report.Status != HealthStatus.Critical;
            http.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            http.Response.ContentType = "application/json";
            var body = new JsonObject { ["ready"] = ready, ["status"] = ready ? report.Status.ToWire() : HealthStatus.Critical.ToWire() };
            await http.Response.WriteAsync(body.ToJsonString(CoreJson.Options), http.RequestAborted).ConfigureAwait(false);
        }).On(Listener.Health);
    }

    private static JsonObject Resources(HostMetrics metrics, StatusService status)
    {
        var latest = metrics.Latest;
        var load = status.LoadAverage();
        var disk = status.Disk();
        return new JsonObject
        {
            ["cpu_percent"] = MetricsWindow.Summarise(metrics.Samples, "1m", DateTimeOffset.UtcNow).CpuAveragePercent,
            ["memory_used_bytes"] = latest is { } l ? l.MemoryTotalBytes - l.MemoryAvailableBytes : 0,
            ["memory_total_bytes"] = latest?.MemoryTotalBytes ?? 0,
            ["memory_percent"] = latest is { } m && m.MemoryTotalBytes > 0 ? Math.Round(100.0 * (m.MemoryTotalBytes - m.MemoryAvailableBytes) / m.MemoryTotalBytes, 2) : 0,
            ["disk_used_bytes"] = disk.Total - disk.Available,
            ["disk_total_bytes"] = disk.Total,
            ["disk_percent"] = disk.Total == 0 ? 0 : Math.Round(100.0 * (disk.Total - disk.Available) / disk.Total, 2),
            ["load_average_1m"] = load[0],
            ["load_average_5m"] = load[1],
            ["load_average_15m"] = load[2],
            ["collected_at"] = (latest?.At ?? DateTimeOffset.UtcNow).ToString("O"),
        };
    }
}
