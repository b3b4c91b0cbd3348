using System.Collections.Immutable;
using Akka.Actor;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Alerts;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Health;
using KruxOS.Actors.Pauses;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.Approvals;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Snapshots;
using static KruxOS.Actors.State.StateAreaMessages;

namespace KruxOS.Actors.State;

/// <summary>A part of a snapshot could not be read; the snapshot is not taken (nothing partial is written).</summary>
public sealed class SnapshotSourceException(StructuredError error) : Exception(error.Message)
{
    /// <summary>Why.</summary>
    public StructuredError Error { get; } = error;
}

/// <summary>
/// Gathers <see cref="SystemSnapshotInputs"/> from the services that own each part — agents (<see cref="IdentityDirectory"/>,
/// <see cref="PauseAdmin"/>, the policy in force, this node's open sessions), approvals (<see cref="ApprovalIndex"/>), alerts (<see cref="AlertAdmin"/>,
/// operator view, counts only), health (<see cref="HealthRegistry"/>), host resources and the state area's own
/// statistics. Only names, statuses, counts and sizes are taken: no token hash, purpose, approval argument or reason,
/// alert text, state key or value. A part that does not answer fails the snapshot instead of recording a guess.
/// </summary>
public sealed class SystemSnapshotSource(
    IdentityDirectory identities,
    PauseAdmin pauses,
    ApprovalIndex approvals,
    AlertAdmin alerts,
    HealthRegistry health,
    HostMetrics metrics,
    NodeFacts facts,
    StateAccess state,
    ActorSystem system,
    TimeProvider clock)
{
    /// <summary>The inputs as they stand now; <paramref name="policy"/> names each agent's policy group.</summary>
    public async Task<SystemSnapshotInputs> GatherAsync(IPolicyView policy, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var now = clock.GetUtcNow();
        var live = await state.LiveSessionsAsync(ct).ConfigureAwait(false)
            ?? throw new SnapshotSourceException(Errors.ServiceUnavailable("state", "the session-state hub did not answer"));
        var sessionsOf = live.Sessions.GroupBy(s => s.Agent.Value, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var records = identities.Current.Agents.Values.ToList();
        var agentList = records.Select(a =>
        {
            var sessions = sessionsOf.GetValueOrDefault(a.Name);
            return new SnapshotAgent(a.Name, a.Status == AgentStatus.Active ? "active" : "revoked", pauses.IsPaused(a.Name), PolicyGroup(policy, a.Name),
                a.CreatedAt, sessions > 0, sessions);
        }).ToImmutableArray();

        var report = await health.RunAsync(ct).ConfigureAwait(false);
        var healthPart = new SnapshotHealth(report.Status.ToCapabilityWire(),
            [.. report.Services.Select(s => new SnapshotService(s.Name, s.Status.ToCapabilityWire(), s.Message))]);

        var alertPart = await AlertsAsync(ct).ConfigureAwait(false);
        var persistent = await Task.WhenAll(records.Select(a => PersistentUsageAsync(a.Name, ct))).ConfigureAwait(false);
        var (sharedUsed, sharedKeys) = await state.SharedUsageAsync(ct).ConfigureAwait(false);
        var session = await SessionUsageAsync(live, ct).ConfigureAwait(false);

        return new SystemSnapshotInputs(
            new SnapshotGateway(facts.Version, system is ExtendedActorSystem ext ? ext.Provider.DefaultAddress.ToString() : system.Name, (long)Math.Max(0, (now - facts.StartedAt).TotalSeconds)),
            agentList,
            Approvals(approvals.List()),
            alertPart,
            healthPart,
            Resources(now),
            new SnapshotStateStatistics([.. persistent.OfType<SnapshotAgentState>()],
                new SnapshotSharedState(sharedKeys, sharedUsed, state.Settings.Shared.QuotaBytes), session));
    }

    /// <summary>Counts by status and the pending requests (id, agent, capability, time — never arguments or reasons).</summary>
    public static SnapshotApprovals Approvals(IReadOnlyList<ApprovalState> all)
    {
        ArgumentNullException.ThrowIfNull(all);
        var known = all.Where(a => a.Request is not null).ToList();
        int Count(ApprovalStatus s) => known.Count(a => a.Status == s);
        return new SnapshotApprovals(Count(ApprovalStatus.Pending), Count(ApprovalStatus.Approved), Count(ApprovalStatus.Rejected),
            Count(ApprovalStatus.TimedOut), Count(ApprovalStatus.Expired), Count(ApprovalStatus.Consumed),
            [.. known.Where(a => a.Status == ApprovalStatus.Pending)
                .Select(a => new SnapshotPendingApproval(a.Request!.Id.Value, a.Request.Agent.Value, a.Request.Capability, a.Request.RequestedAt))]);
    }

    private static string PolicyGroup(IPolicyView policy, string agent) =>
        AgentName.TryParse(agent, out var name, out _) ? policy.Effective(Principal.ForAgent(name)).PolicyGroup : string.Empty;

    private async Task<SnapshotAlerts> AlertsAsync(CancellationToken ct)
    {
        IAlertReply pending, acknowledged;
        try
        {
            pending = await alerts.AskAsync(new AlertCommands.ListAlerts(AlertViewer.Operator, AlertStatusFilter.Pending, AlertLimits.Default.MaxListLimit), ct)
                .ConfigureAwait(false);
            acknowledged = await alerts.AskAsync(new AlertCommands.ListAlerts(AlertViewer.Operator, AlertStatusFilter.Acknowledged, 1), ct)
                .ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw new SnapshotSourceException(Errors.ServiceUnavailable("alerts", "the alert store did not answer"));
        }
        var counts = await alerts.PendingAsync(ct).ConfigureAwait(false);
        if (pending is not AlertReplies.ListResult p || acknowledged is not AlertReplies.ListResult a || counts is null)
            throw new SnapshotSourceException(Errors.ServiceUnavailable("alerts", "the alert store did not answer"));
        // Critical is counted over every pending alert; warning and info over the listed (newest) ones, the rest being info.
        var warning = p.Alerts.Count(x => x.Severity == AlertSeverity.Warning);
        return new SnapshotAlerts(counts.Pending, a.Total, counts.Critical, warning, Math.Max(0, counts.Pending - counts.Critical - warning));
    }

    private async Task<SnapshotAgentState?> PersistentUsageAsync(string agent, CancellationToken ct)
    {
        if (!AgentName.TryParse(agent, out var name, out _)) return null;
        return await state.PersistentAsync(new PersistentStateQueries.GetUsage(name), ct).ConfigureAwait(false) switch
        {
            PersistentStateReplies.UsageResult u => new SnapshotAgentState(agent, u.Keys, u.UsedBytes, u.LimitBytes),
            StateRefused r => throw new SnapshotSourceException(r.Error),
            var other => throw new SnapshotSourceException(Errors.ServiceUnavailable("state", $"unexpected answer {other.GetType().Name}")),
        };
    }

    private async Task<SnapshotSessionState> SessionUsageAsync(LiveSessions live, CancellationToken ct)
    {
        var usage = await Task.WhenAll(live.Sessions.Select(s => state.SessionAsync(new GetSessionUsage(s.Agent, s.SessionId), ct))).ConfigureAwait(false);
        // A session that ended between the listing and the question has no state to count.
        return new SnapshotSessionState(live.Sessions.Length, usage.OfType<SessionUsage>().Sum(u => u.UsedBytes));
    }

    private SnapshotResources Resources(DateTimeOffset now)
    {
        var summary = MetricsWindow.Summarise(metrics.Samples, "1m", now);
        var latest = metrics.Latest;
        var memory = latest is { MemoryTotalBytes: > 0 } l ? Math.Round(100.0 * (l.MemoryTotalBytes - l.MemoryAvailableBytes) / l.MemoryTotalBytes, 2) : 0;
        var drive = DiskSpace.DiskOf(facts.DataDirectory);
        var disk = drive.TotalSize == 0 ? 0 : Math.Round(100.0 * (drive.TotalSize - drive.AvailableFreeSpace) / drive.TotalSize, 2);
        return new SnapshotResources(summary.CpuAveragePercent, memory, disk);
    }
}
