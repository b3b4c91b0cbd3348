using System.Collections.Immutable;
using System.Globalization;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Actors.Connections;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Core.Admin;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Core.Policy;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Tls;

namespace KruxOS.Gateway.Hosting;

/// <summary>How many agents exist, are active, and are revoked.</summary>
public sealed record AgentCounts(int Total, int Active, int Revoked);

/// <summary>This node at one moment (<c>kruxos status</c>, <c>GET /api/status</c>).</summary>
public sealed record NodeStatusReport(
    string Version,
    long UptimeSeconds,
    string DataDir,
    string Bind,
    int GatewayPort,
    GatewayRuntimeInfo? Endpoints,
    NodeCertificates? Certificates,
    int HealthPort,
    int UserApiPort,
    bool Clustering,
    HealthReport Health,
    AgentCounts Agents,
    int ActiveSessions,
    long TotalInvocations,
    int Capabilities,
    PolicyStatus Policy,
    int PendingApprovals,
    KruxOS.Gateway.Telemetry.TelemetryStatus? Telemetry = null,
    KruxOS.Actors.Cluster.ClusterStatusReport? Cluster = null);

/// <summary>One check of <c>kruxos verify</c>.</summary>
public sealed record VerifyCheck(string Name, bool Pass, string Detail);

/// <summary>What <c>kruxos verify</c> found; it passes when every check does.</summary>
public sealed record VerifyReport(ImmutableArray<VerifyCheck> Checks)
{
    /// <summary>True when every check passed.</summary>
    public bool Passed => Checks.All(c => c.Pass);
}

/// <summary>
/// Status and self-check of this node for every adapter, and its live counters for the health endpoint: open connections
/// (asked of the connection parent), invocations since start (from <see cref="AgentActivity"/>), load and disk.
/// </summary>
public sealed class StatusService(
    IRequiredActor<ConnectionRegistry> connections,
    NodeFacts facts,
    AgentActivity activity,
    HealthRegistry health,
    IdentityDirectory directory,
    CapabilityCatalog catalog,
    PolicyStore policies,
    ApprovalIndex approvals,
    GatewaySettings gateway,
    KruxOsSettings settings,
    BoundAddresses addresses,
    TimeProvider clock,
    GatewayEndpoints? endpoints = null,
    NodeCertificates? certificates = null,
    KruxOS.Gateway.Telemetry.TelemetrySettings? telemetry = null,
    KruxOS.Actors.Cluster.ClusterView? cluster = null)
{
    /// <summary>How long a status waits for each shard region's statistics.</summary>
    public static readonly TimeSpan ShardStatsTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The cluster as this node sees it (disabled on a single node).</summary>
    public async Task<AdminResult<KruxOS.Actors.Cluster.ClusterStatusReport>> ClusterAsync(CancellationToken ct) =>
        cluster is null
            ? new KruxOS.Actors.Cluster.ClusterStatusReport(false, null, null, null, [], [], null, null, null)
            : await cluster.StatusAsync(ShardStatsTimeout, ct).ConfigureAwait(false);

    /// <summary>Capability calls since this node started.</summary>
    public long TotalInvocations => activity.TotalInvocations;

    /// <summary>Open MCP connections on this node.</summary>
    public async Task<int> ActiveConnectionsAsync(CancellationToken ct)
    {
        var parent = await connections.GetAsync(ct).ConfigureAwait(false);
        return await parent.Ask<int>(ConnectionMessages.Count.Instance, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
    }

    /// <summary>1, 5 and 15 minute load averages (zeros where unavailable).</summary>
    public double[] LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return [.. parts.Take(3).Select(p => double.Parse(p, CultureInfo.InvariantCulture))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return [0, 0, 0];
        }
    }

    /// <summary>Size and free space of the data partition.</summary>
    public (long Total, long Available) Disk()
    {
        var drive = DiskSpace.DiskOf(facts.DataDirectory);
        return (drive.TotalSize, drive.AvailableFreeSpace);
    }

    /// <summary>This node's status: listeners, health, agents, sessions, catalogue, policy and approval queue.</summary>
    public Task<AdminResult<NodeStatusReport>> StatusAsync(CancellationToken ct) => AdminCalls.Guarded<NodeStatusReport>(async () =>
    {
        var report = await health.RunAsync(ct).ConfigureAwait(false);
        var agents = directory.Current.Agents.Values.ToList();
        var counts = new AgentCounts(agents.Count, agents.Count(a => a.Status == AgentStatus.Active), agents.Count(a => a.Status == AgentStatus.Revoked));
        return new NodeStatusReport(
            facts.Version,
            (long)(clock.GetUtcNow() - facts.StartedAt).TotalSeconds,
            settings.DataDir,
            gateway.Bind,
            addresses.GatewayPort,
            endpoints?.Current(),
            certificates,
            addresses.HealthPort,
            addresses.UserApiPort,
            settings.UseClustering,
            report,
            counts,
            await ActiveConnectionsAsync(ct).ConfigureAwait(false),
            TotalInvocations,
            catalog.Registry.All.Length,
            policies.Status,
            approvals.PendingCount,
            telemetry is null ? null : KruxOS.Gateway.Telemetry.GatewayTelemetry.Status(telemetry, addresses.HealthPort),
            settings.UseClustering && cluster is not null ? (await cluster.StatusAsync(ShardStatsTimeout, ct).ConfigureAwait(false)).Value : null);
    });

    /// <summary>Checks listeners, identities, catalogue, a write to the data directory and every health check.</summary>
    public async Task<VerifyReport> VerifyAsync(CancellationToken ct)
    {
        var checks = ImmutableArray.CreateBuilder<VerifyCheck>();
        void Check(string name, bool pass, string detail) => checks.Add(new VerifyCheck(name, pass, detail));

        Check("gateway", addresses.GatewayPort > 0, $"MCP listening on {gateway.Bind}:{addresses.GatewayPort}" + (endpoints is null ? "" : $" ({endpoints.Current().Mcp}{(endpoints.Current().McpPlainText is { } p ? ", plain text on loopback: " + p : ", plain text refused")})"));
        Check("health", addresses.HealthPort > 0, $"Health listening on 127.0.0.1:{addresses.HealthPort}");
        Check("user-api", addresses.UserApiPort > 0, $"User API listening on 127.0.0.1:{addresses.UserApiPort}");
        Check("identities", directory.Ready.IsCompletedSuccessfully, $"{directory.Current.Agents.Count} agents, {directory.Current.UserTokens.Count} user tokens recovered");
        var categories = catalog.Registry.Categories.Length;
        Check("capabilities", catalog.Registry.All.Length > 0, $"{catalog.Registry.All.Length} capabilities across {categories} categories");
        var probe = Path.Combine(settings.DataDir, ".verify-" + Guid.NewGuid().ToString("N"));
        try
        {
            await File.WriteAllTextAsync(probe, "ok", ct).ConfigureAwait(false);
            File.Delete(probe);
            Check("data-dir", true, $"{settings.DataDir} is writable");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Check("data-dir", false, $"{settings.DataDir} is not writable: {e.Message}");
        }
        var report = await health.RunAsync(ct).ConfigureAwait(false);
        foreach (var s in report.Services) Check($"health:{s.Name}", s.Status != HealthStatus.Critical, $"{s.Status.ToWire()}: {s.Message}");
        return new VerifyReport(checks.ToImmutable());
    }
}
