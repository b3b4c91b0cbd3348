using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using KruxOS.Core.State.Shared;

namespace KruxOS.Core.State.Briefings;

/// <summary>An approval of the agent's that was decided; <c>Outcome</c> is <c>approved</c>, <c>rejected</c>, <c>timed_out</c> or <c>expired</c>.</summary>
public sealed record BriefingApprovalDecision(string RequestId, string Capability, string Outcome, DateTimeOffset DecidedAt);

/// <summary>A shared-state change (the briefing counts only those made by others).</summary>
public sealed record BriefingSharedChange(string Key, long Version, SharedChangeKind Change, string OwnerAgent, DateTimeOffset At);

/// <summary>
/// A policy reload that changed the revision in force; <paramref name="Layers"/> names the changed layers that apply to
/// the agent (<c>system</c>, <c>org</c>, <c>agent:&lt;name&gt;</c>), empty when not known.
/// </summary>
public sealed record BriefingPolicyUpdate(string Revision, DateTimeOffset At, IReadOnlyList<string>? Layers = null);

/// <summary>
/// A change the agent's own calls made in its workspace (<c>written</c>, <c>edited</c>, <c>appended</c>, <c>deleted</c>,
/// <c>moved</c>, <c>copied</c>, <c>restored</c>), recorded from the sandbox's results, never by reading the workspace.
/// </summary>
public sealed record BriefingFileChange(string Path, string Change, DateTimeOffset At);

/// <summary>The end of one of the agent's processes (<c>exited</c> with its code, <c>killed</c>, <c>timed_out</c>), foreground or background.</summary>
public sealed record BriefingProcessEvent(string ProcessId, string Event, int? ExitCode, DateTimeOffset At);

/// <summary>An unread message in the agent's inbox.</summary>
public sealed record BriefingUnreadMessage(string MessageId, string From, bool HighPriority, DateTimeOffset SentAt);

/// <summary>An alert the agent may see (its own, by <c>alerts.list</c>'s rule), at its latest occurrence.</summary>
public sealed record BriefingAlert(string AlertId, string Severity, string Status, DateTimeOffset At);

/// <summary>Health now: <c>healthy</c>, <c>degraded</c> or <c>unhealthy</c>, and the services that are not healthy.</summary>
public sealed record BriefingHealth(string OverallStatus, ImmutableArray<string> UnhealthyServices);

/// <summary>
/// Everything a briefing is computed from, gathered by the caller. Facts may cover more than the
/// window; the briefing keeps those strictly after <c>since</c> (unread messages and pending approvals
/// are counted as they stand now).
/// </summary>
public sealed record BriefingInputs(
    AgentName Agent,
    DateTimeOffset? LastActivity,
    DateTimeOffset AgentCreatedAt,
    ImmutableArray<BriefingApprovalDecision> ApprovalDecisions,
    int PendingApprovals,
    ImmutableArray<BriefingSharedChange> SharedChanges,
    ImmutableArray<BriefingPolicyUpdate> PolicyUpdates,
    ImmutableArray<BriefingFileChange> FileChanges,
    ImmutableArray<BriefingProcessEvent> ProcessEvents,
    ImmutableArray<BriefingUnreadMessage> UnreadMessages,
    ImmutableArray<BriefingAlert> Alerts,
    BriefingHealth Health)
{
    /// <summary>
    /// Since when the node-local feeds (file changes, process events, policy updates) are complete — the node's start
    /// (ADR 0057); null when they are complete for any <c>since</c>.
    /// </summary>
    public DateTimeOffset? HistoryFrom { get; init; }
}

/// <summary>The items behind the counts (<c>detail_level: detailed</c>): newest first, at most <see cref="Briefings.MaxDetailItems"/> of each.</summary>
public sealed record BriefingDetails(
    ImmutableArray<BriefingApprovalDecision> ApprovalsDecided,
    ImmutableArray<BriefingSharedChange> SharedStateChanges,
    ImmutableArray<BriefingPolicyUpdate> PolicyUpdates,
    ImmutableArray<BriefingFileChange> FilesystemChanges,
    ImmutableArray<BriefingProcessEvent> ProcessEvents,
    ImmutableArray<BriefingUnreadMessage> UnreadMessages,
    ImmutableArray<BriefingAlert> Alerts,
    ImmutableArray<string> UnhealthyServices);

/// <summary>
/// The briefing (spec §8.15 <c>briefing{since, filesystem_changes, process_events, pending_approvals,
/// unread_messages, alerts, health, summary}</c>, plus the §12.6 items <c>approvals_decided</c>,
/// <c>shared_state_changes</c> and <c>policy_updates</c>). Every count is an integer; <c>details</c> is null
/// at <c>summary</c> level.
/// </summary>
public sealed record Briefing(
    DateTimeOffset Since,
    int ApprovalsDecided,
    int PendingApprovals,
    int SharedStateChanges,
    int PolicyUpdates,
    int FilesystemChanges,
    int ProcessEvents,
    int UnreadMessages,
    int Alerts,
    string Health,
    string Summary,
    BriefingDetails? Details)
{
    /// <summary>
    /// Set when <c>since</c> lies before the node-local feeds begin: file changes, process events and policy updates are
    /// counted from this moment only (the audit log has the earlier ones).
    /// </summary>
    public DateTimeOffset? HistoryFrom { get; init; }
}

/// <summary>The reply of <c>state.briefing.generate</c>: <c>briefing{…}</c>.</summary>
[WireName("state.briefing.result.v1")]
public sealed record BriefingResult(Briefing Briefing) : IStateReply;

/// <summary>How much a briefing says.</summary>
public enum BriefingDetail
{
    /// <summary>Counts and the summary (default).</summary>
    Summary,
    /// <summary>Counts, summary, and the items behind them.</summary>
    Detailed,
}

/// <summary>
/// <c>state.briefing.generate</c> (spec §12.6): a rule-based, deterministic digest — the same inputs give
/// the same briefing, byte for byte. The summary is a fixed template filled with counts and
/// gateway-defined words only (outcomes, severities, service names); nothing an agent wrote (keys, paths,
/// message text, alert text) is ever put into it, so the summary cannot carry another agent's
/// instructions into the reader's context.
/// </summary>
public static partial class Briefings
{
    /// <summary>Most items of each kind listed at <c>detailed</c> level.</summary>
    public const int MaxDetailItems = 20;

    /// <summary>
    /// Parses a <c>since</c> argument: RFC 3339 with a <c>Z</c> or numeric offset, seconds required, at most
    /// seven fraction digits. Anything else — a date alone, a local time without offset, "yesterday" — is
    /// refused rather than guessed.
    /// </summary>
    public static bool TryParseTimestamp(string? text, out DateTimeOffset value, out string reason)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) { reason = "is empty"; return false; }
        if (text.Length > 40 || !Rfc3339().IsMatch(text))
        {
            reason = "is not an RFC 3339 time with an offset (e.g. 2026-03-25T14:00:00Z)";
            return false;
        }
        if (!DateTimeOffset.TryParse(text.ToUpperInvariant(), CultureInfo.InvariantCulture, DateTimeStyles.None, out value))
        {
            reason = "names a date or time that does not exist";
            return false;
        }
        reason = string.Empty;
        return true;
    }

    /// <summary>Parses <c>detail_level</c> (<c>summary</c> when absent).</summary>
    public static bool TryParseDetail(string? text, out BriefingDetail detail)
    {
        detail = BriefingDetail.Summary;
        if (string.IsNullOrEmpty(text) || text == "summary") return true;
        if (text == "detailed") { detail = BriefingDetail.Detailed; return true; }
        return false;
    }

    /// <summary>
    /// Generates the briefing. <paramref name="sinceText"/> null means the agent's last activity (or its
    /// creation when it has none). Refused with <c>InvalidTimestamp</c> for a malformed or future
    /// <c>since</c>, and <c>InvalidInput</c> for an unknown <c>detail_level</c>.
    /// </summary>
    public static IStateReply Generate(BriefingInputs inputs, string? sinceText, string? detailLevel, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        DateTimeOffset since;
        if (sinceText is null) since = inputs.LastActivity ?? inputs.AgentCreatedAt;
        else if (!TryParseTimestamp(sinceText, out since, out var reason))
            return new StateRefused(StateErrors.InvalidTimestamp("since", sinceText, reason));
        if (since > now) return new StateRefused(StateErrors.InvalidTimestamp("since", sinceText ?? since.ToString("O"), "is in the future"));
        if (!TryParseDetail(detailLevel, out var detail))
            return new StateRefused(Errors.Errors.InvalidInput("detail_level", "must be 'summary' or 'detailed'"));

        var decisions = Window(inputs.ApprovalDecisions, d => d.DecidedAt, since, d => d.RequestId);
        var shared = Window(inputs.SharedChanges, c => c.At, since, c => c.Key + "\0" + c.Version.ToString(CultureInfo.InvariantCulture))
            .Where(c => c.OwnerAgent != inputs.Agent.Value).ToImmutableArray();
        var policy = Window(inputs.PolicyUpdates, p => p.At, since, p => p.Revision);
        var files = Window(inputs.FileChanges, f => f.At, since, f => f.Path);
        var processes = Window(inputs.ProcessEvents, p => p.At, since, p => p.ProcessId);
        var alerts = Window(inputs.Alerts, a => a.At, since, a => a.AlertId);
        var unread = OrEmpty(inputs.UnreadMessages)
            .OrderByDescending(m => m.SentAt).ThenBy(m => m.MessageId, StringComparer.Ordinal).ToImmutableArray();
        var unhealthy = OrEmpty(inputs.Health.UnhealthyServices).Order(StringComparer.Ordinal).ToImmutableArray();
        var pending = Math.Max(0, inputs.PendingApprovals);

        var summary = Summarize(since, decisions, pending, shared.Length, policy.Length, files.Length, processes.Length, unread, alerts,
            inputs.Health.OverallStatus, unhealthy);
        var details = detail == BriefingDetail.Detailed
            ? new BriefingDetails(Top(decisions), Top(shared), Top(policy), Top(files), Top(processes), Top(unread), Top(alerts), unhealthy)
            : null;
        var partial = inputs.HistoryFrom is { } from && from > since ? from : (DateTimeOffset?)null;
        if (partial is { } begins)
            summary += " File changes, process events and policy updates are known from "
                + begins.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) + " only.";
        return new BriefingResult(new Briefing(since, decisions.Length, pending, shared.Length, policy.Length, files.Length, processes.Length,
            unread.Length, alerts.Length, inputs.Health.OverallStatus, summary, details) { HistoryFrom = partial });
    }

    private static string Summarize(DateTimeOffset since, ImmutableArray<BriefingApprovalDecision> decisions, int pending, int shared, int policy,
        int files, int processes, ImmutableArray<BriefingUnreadMessage> unread, ImmutableArray<BriefingAlert> alerts, string health,
        ImmutableArray<string> unhealthy)
    {
        var sb = new StringBuilder();
        sb.Append("Since ").Append(since.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)).Append(": ");
        sb.Append(Count(decisions.Length, "approval decision", "approval decisions"));
        if (decisions.Length > 0)
        {
            var parts = decisions.GroupBy(d => KnownOutcome(d.Outcome)).OrderBy(g => OutcomeOrder(g.Key))
                .Select(g => $"{g.Count().ToString(CultureInfo.InvariantCulture)} {g.Key}");
            sb.Append(" (").Append(string.Join(", ", parts)).Append(')');
        }
        sb.Append(", ").Append(Count(pending, "pending approval", "pending approvals"));
        sb.Append(", ").Append(Count(shared, "shared-state change by other agents", "shared-state changes by other agents"));
        sb.Append(", ").Append(Count(policy, "policy update", "policy updates"));
        sb.Append(", ").Append(Count(files, "file change", "file changes"));
        sb.Append(", ").Append(Count(processes, "process event", "process events"));
        sb.Append(", ").Append(Count(unread.Length, "unread message", "unread messages"));
        var high = unread.Count(m => m.HighPriority);
        if (high > 0) sb.Append(" (").Append(high.ToString(CultureInfo.InvariantCulture)).Append(" high priority)");
        sb.Append(", ").Append(Count(alerts.Length, "alert", "alerts"));
        var critical = alerts.Count(a => a.Severity == "critical");
        if (critical > 0) sb.Append(" (").Append(critical.ToString(CultureInfo.InvariantCulture)).Append(" critical)");
        sb.Append(". Health: ").Append(KnownHealth(health));
        var names = unhealthy.Where(IsServiceName).ToList();
        if (names.Count > 0) sb.Append(" (").Append(string.Join(", ", names)).Append(')');
        sb.Append('.');
        return sb.ToString();
    }

    // Only words the gateway defines reach the summary; anything else is named generically.
    private static string KnownOutcome(string outcome) => outcome is "approved" or "rejected" or "timed_out" or "expired" ? outcome.Replace('_', ' ') : "other";

    private static int OutcomeOrder(string outcome) => outcome switch { "approved" => 0, "rejected" => 1, "timed out" => 2, "expired" => 3, _ => 4 };

    private static string KnownHealth(string health) => health is "healthy" or "degraded" or "unhealthy" ? health : "unknown";

    private static bool IsServiceName(string name) => name.Length is > 0 and <= 40 && ServiceName().IsMatch(name);

    private static string Count(int n, string one, string many) => n.ToString(CultureInfo.InvariantCulture) + " " + (n == 1 ? one : many);

    private static ImmutableArray<T> Window<T>(ImmutableArray<T> items, Func<T, DateTimeOffset> at, DateTimeOffset since, Func<T, string> id) =>
        [.. OrEmpty(items).Where(i => at(i) > since).OrderByDescending(at).ThenBy(id, StringComparer.Ordinal)];

    private static ImmutableArray<T> Top<T>(ImmutableArray<T> items) => [.. items.Take(MaxDetailItems)];

    private static IEnumerable<T> OrEmpty<T>(ImmutableArray<T> items) => items.IsDefault ? [] : items;

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?([Zz]|[+-][0-9]{2}:[0-9]{2})$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex Rfc3339();

    [GeneratedRegex("^[a-z0-9][a-z0-9_.-]*$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex ServiceName();
}
