using System.Collections.Immutable;
using Akka.Actor;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Alerts;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Comms;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.Approvals;
using KruxOS.Core.Comms;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Briefings;
using KruxOS.Core.State.Shared;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.State;

/// <summary>
/// Gathers one agent's <see cref="BriefingInputs"/> from the services that own each part, as that agent may see them:
/// its own approvals (<see cref="ApprovalIndex"/>), its own alerts (the alert store with the agent as viewer, the rule of
/// <c>alerts.list</c>), its own inbox's unread headers (never a body), shared-state keys last written by others (what
/// <c>state.shared.list</c> shows every agent), the policy revisions of this node that changed a layer applying to it,
/// its workspace changes and process ends (<see cref="BriefingFeeds"/>), and health. A part that does not answer fails
/// the briefing (<c>ServiceUnavailable</c>) instead of reporting a guess.
/// </summary>
public sealed class BriefingSource(
    IdentityDirectory identities,
    ApprovalIndex approvals,
    AlertAdmin alerts,
    PostOffice post,
    HealthRegistry health,
    StateAccess state,
    BriefingFeeds feeds,
    IServiceProvider services)
{
    /// <summary>Most alerts of the agent read for a briefing (newest first).</summary>
    public const int MaxAlerts = 200;

    /// <summary>The inputs of <paramref name="agent"/>'s briefing now.</summary>
    public async Task<BriefingInputs> GatherAsync(AgentName agent, CancellationToken ct)
    {
        var record = identities.Current.Agents.GetValueOrDefault(agent.Value)
            ?? throw new SnapshotSourceException(Errors.ServiceUnavailable("identity", $"agent '{agent}' is not in this node's directory yet"));
        var mine = approvals.List().Where(a => a.Request is { } r && r.Agent == agent).ToList();
        var decisions = mine.Select(Decision).OfType<BriefingApprovalDecision>().ToImmutableArray();
        var pending = mine.Count(a => a.Status == ApprovalStatus.Pending);

        var shared = await state.SharedListAsync(null, ct).ConfigureAwait(false) switch
        {
            SharedStateReplies.ListResult r => r.Entries.Select(e => new BriefingSharedChange(e.Key, e.Version, SharedChangeKind.Set, e.OwnerAgent, e.UpdatedAt))
                .ToImmutableArray(),
            StateRefused r => throw new SnapshotSourceException(r.Error),
            var other => throw Unanswered("state", other.GetType().Name),
        };
        var unread = await UnreadAsync(agent, ct).ConfigureAwait(false);
        var alertList = await AlertsAsync(agent, ct).ConfigureAwait(false);
        var report = await health.RunAsync(ct).ConfigureAwait(false);
        var lastSessionEnd = services.GetService<AgentActivity>()?.LastSessionEnded(agent.Value);
        // Resolved here, not injected: the policy store is built from the capability catalogue, which builds this handler's source.
        var policy = services.GetService<PolicyStore>()
            ?? throw new SnapshotSourceException(Errors.ServiceUnavailable("policy", "the policy store is not hosted on this node"));

        return new BriefingInputs(agent, lastSessionEnd, record.CreatedAt, decisions, pending, shared,
            BriefingFeedRules.UpdatesFor(policy.Revisions, agent.Value), feeds.FileChanges(agent), feeds.ProcessEvents(agent), unread, alertList,
            new BriefingHealth(report.Status.ToCapabilityWire(),
                [.. report.Services.Where(s => s.Status != HealthStatus.Healthy).Select(s => s.Name)]))
        {
            HistoryFrom = feeds.StartedAt,
        };
    }

    // A decided approval: a human's decision at its time, or how it closed without one.
    private static BriefingApprovalDecision? Decision(ApprovalState a)
    {
        var request = a.Request!;
        if (a.Decision is { } d) return new BriefingApprovalDecision(request.Id.Value, request.Capability, d.Approved ? "approved" : "rejected", d.At);
        return a.Status switch
        {
            ApprovalStatus.TimedOut => new BriefingApprovalDecision(request.Id.Value, request.Capability, "timed_out", a.ClosedAt ?? request.RequestedAt),
            ApprovalStatus.Expired => new BriefingApprovalDecision(request.Id.Value, request.Capability, "expired", a.ClosedAt ?? request.RequestedAt),
            _ => null,
        };
    }

    private async Task<ImmutableArray<BriefingUnreadMessage>> UnreadAsync(AgentName agent, CancellationToken ct)
    {
        ICommsReply reply;
        try { reply = await post.InboxAsync(new InboxCommands.GetInboxStatus(agent), ct).ConfigureAwait(false); }
        catch (AskTimeoutException) { throw Unanswered("comms", "timeout"); }
        return reply is InboxReplies.InboxStatus s
            ? [.. s.Unread.Select(h => new BriefingUnreadMessage(h.MessageId, h.From, h.Priority == MessagePriority.High, h.SentAt))]
            : throw Unanswered("comms", reply.GetType().Name);
    }

    private async Task<ImmutableArray<BriefingAlert>> AlertsAsync(AgentName agent, CancellationToken ct)
    {
        IAlertReply reply;
        try { reply = await alerts.AskAsync(new AlertCommands.ListAlerts(AlertViewer.ForAgent(agent), AlertStatusFilter.All, MaxAlerts), ct).ConfigureAwait(false); }
        catch (AskTimeoutException) { throw Unanswered("alerts", "timeout"); }
        return reply is AlertReplies.ListResult l
            ? [.. l.Alerts.Select(a => new BriefingAlert(a.AlertId, a.Severity.ToWire(), a.Status == AlertStatus.Pending ? "pending" : "acknowledged", a.LastSeenAt))]
            : throw Unanswered("alerts", reply.GetType().Name);
    }

    private static SnapshotSourceException Unanswered(string service, string what) =>
        new(Errors.ServiceUnavailable(service, $"the {service} service did not answer ({what})"));
}
