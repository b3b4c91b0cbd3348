using System.Collections.Immutable;
using System.Security.Cryptography;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using KruxOS.Core.State;

namespace KruxOS.Core.Alerts;

/// <summary>Severity of an alert.</summary>
public enum AlertSeverity
{
    /// <summary><c>info</c> (default).</summary>
    Info,
    /// <summary><c>warning</c>.</summary>
    Warning,
    /// <summary><c>critical</c> (the dashboard shows a banner on every page).</summary>
    Critical,
}

/// <summary>Where an alert stands.</summary>
public enum AlertStatus
{
    /// <summary>Not acknowledged yet.</summary>
    Pending,
    /// <summary>Acknowledged.</summary>
    Acknowledged,
}

/// <summary>Which alerts <c>alerts.list</c> returns.</summary>
public enum AlertStatusFilter
{
    /// <summary>Every alert (default).</summary>
    All,
    /// <summary>Pending only.</summary>
    Pending,
    /// <summary>Acknowledged only.</summary>
    Acknowledged,
}

/// <summary>Alert ids: <c>alrt-</c> + 16 lower-case hex characters. Alerts may be kept as files named by id, so only ids that parse are ever used.</summary>
public static class AlertIds
{
    /// <summary>The prefix.</summary>
    public const string Prefix = "alrt-";

    /// <summary>A new random id (reads the CSPRNG: call it when deciding).</summary>
    public static string New() => Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>True for the prefix followed by exactly 16 lower-case hex characters.</summary>
    public static bool IsValid(string? text) =>
        text is not null && text.Length == Prefix.Length + 16 && text.StartsWith(Prefix, StringComparison.Ordinal)
        && text.AsSpan(Prefix.Length).IndexOfAnyExcept("0123456789abcdef") < 0;
}

/// <summary>Who is looking: the operator sees every alert, an agent only those it raised (spec §8.5 "own alerts").</summary>
/// <param name="Agent">The agent; null for the operator.</param>
public sealed record AlertViewer(AgentName? Agent)
{
    /// <summary>The operator (CLI, dashboard, User API).</summary>
    public static readonly AlertViewer Operator = new((AgentName?)null);

    /// <summary>An agent.</summary>
    public static AlertViewer ForAgent(AgentName agent) => new(agent);

    /// <summary>Whether the viewer may see an alert from <paramref name="source"/>.</summary>
    public bool Sees(string source) => Agent is not { } a || source == a.Value;
}

/// <summary>
/// An alert. Identical alerts (<see cref="Fingerprint"/>: same source, severity, message and context)
/// collapse into one pending record: <see cref="Count"/> occurrences between <see cref="CreatedAt"/> and
/// <see cref="LastAt"/>.
/// </summary>
/// <param name="AlertId">The id.</param>
/// <param name="Source">Who raised it: an agent name or <c>system:&lt;component&gt;</c> (<see cref="PrincipalText"/>).</param>
/// <param name="Severity">The severity.</param>
/// <param name="Message">The text.</param>
/// <param name="Context">Structured details (an object).</param>
/// <param name="Fingerprint"><c>sha256:</c> of the canonical JSON of source, severity, message and context.</param>
/// <param name="Status">Pending or acknowledged.</param>
/// <param name="CreatedAt">First occurrence.</param>
/// <param name="LastAt">Latest occurrence.</param>
/// <param name="Count">Occurrences.</param>
/// <param name="AcknowledgedAt">When it was acknowledged.</param>
/// <param name="AcknowledgedBy">By whom.</param>
public sealed record AlertRecord(string AlertId, string Source, AlertSeverity Severity, string Message, StoredJson Context, string Fingerprint,
    AlertStatus Status, DateTimeOffset CreatedAt, DateTimeOffset LastAt, int Count, DateTimeOffset? AcknowledgedAt, string? AcknowledgedBy);

/// <summary>Limits of the alert store.</summary>
/// <param name="MaxMessageLength">Longest message. Default 2,000 characters.</param>
/// <param name="MaxContextBytes">Largest context (canonical JSON). Default 16 KiB.</param>
/// <param name="MaxPendingPerAgent">Distinct pending alerts one agent may have; beyond it new ones are refused. Default 100.</param>
/// <param name="MaxPendingPerSystemSource">Distinct pending alerts one gateway component may have; beyond it its own oldest pending one makes room. Default 1,000.</param>
/// <param name="MaxAlerts">Alerts kept in all. Default 10,000.</param>
/// <param name="AcknowledgedRetention">How long acknowledged alerts are kept. Default 30 days.</param>
/// <param name="MaxListLimit">Largest <c>limit</c> of <c>alerts.list</c>. Default 500.</param>
public sealed record AlertLimits(int MaxMessageLength, int MaxContextBytes, int MaxPendingPerAgent, int MaxPendingPerSystemSource, int MaxAlerts,
    TimeSpan AcknowledgedRetention, int MaxListLimit)
{
    /// <summary>The defaults above.</summary>
    public static readonly AlertLimits Default = new(2000, 16 * 1024, 100, 1000, 10_000, TimeSpan.FromDays(30), 500);

    /// <summary><c>alerts.list</c>'s default <c>limit</c> (spec §17).</summary>
    public const int DefaultListLimit = 50;
}

/// <summary>Messages to the alert store (one entity, persistence id <see cref="AlertStore.PersistenceId"/>).</summary>
public interface IAlertCommand : IKruxMessage;

/// <summary>The commands.</summary>
public static class AlertCommands
{
    /// <summary><c>alerts.send</c>, or an alert the gateway raises itself (<c>system:…</c> source).</summary>
    [WireName("alerts.raise.v1")]
    public sealed record RaiseAlert(string NewAlertId, string Source, AlertSeverity Severity, string Message, StoredJson Context) : IAlertCommand;

    /// <summary><c>alerts.acknowledge</c>; <paramref name="AcknowledgedBy"/> is decided by the caller's identity, never taken from an agent's input.</summary>
    [WireName("alerts.acknowledge.v1")]
    public sealed record AcknowledgeAlert(string AlertId, AlertViewer Viewer, string AcknowledgedBy) : IAlertCommand;

    /// <summary><c>alerts.list</c>.</summary>
    [WireName("alerts.list.v1")]
    public sealed record ListAlerts(AlertViewer Viewer, AlertStatusFilter Status = AlertStatusFilter.All, int? Limit = null) : IAlertCommand;

    /// <summary>Pending counts (<c>alerts_pending</c> of <c>system.health</c> and <c>/health</c>, the dashboard badge).</summary>
    [WireName("alerts.count-pending.v1")]
    public sealed record CountPending(AlertViewer Viewer) : IAlertCommand;
}

/// <summary>Persisted events of the alert store; each carries its time.</summary>
public interface IAlertEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The events.</summary>
public static class AlertEvents
{
    /// <summary>A new alert; <paramref name="Evicted"/> are dropped to make room (decided with the command, so replay does not depend on configuration).</summary>
    [WireName("alerts.raised.v1")]
    public sealed record AlertRaised(AlertRecord Alert, ImmutableArray<string> Evicted, DateTimeOffset At) : IAlertEvent;

    /// <summary>An identical alert occurred again.</summary>
    [WireName("alerts.repeated.v1")]
    public sealed record AlertRepeated(string AlertId, DateTimeOffset At) : IAlertEvent;

    /// <summary>An alert was acknowledged.</summary>
    [WireName("alerts.acknowledged.v1")]
    public sealed record AlertAcknowledged(string AlertId, string By, DateTimeOffset At) : IAlertEvent;
}

/// <summary>A reply of the alert store: an output record of spec §8.5, or <see cref="AlertsRefused"/>.</summary>
public interface IAlertReply : IKruxMessage;

/// <summary>Refused; nothing changed.</summary>
[WireName("alerts.refused.v1")]
public sealed record AlertsRefused(StructuredError Error) : IAlertReply;

/// <summary>The replies.</summary>
public static class AlertReplies
{
    /// <summary><c>alert_id, delivered_to, severity</c>; <c>delivered_to</c> is <c>dashboard</c> (spec §18 row 33). A repeat returns the collapsed alert's id.</summary>
    [WireName("alerts.sent.v1")]
    public sealed record Sent(string AlertId, string DeliveredTo, AlertSeverity Severity) : IAlertReply;

    /// <summary><c>acknowledged</c> (false when it already was), <c>alert_id</c>.</summary>
    [WireName("alerts.acknowledge-result.v1")]
    public sealed record AcknowledgeResult(bool Acknowledged, string AlertId) : IAlertReply;

    /// <summary>
    /// One alert of a listing: spec §8.5's <c>alert_id, message, severity, status, created_at, acknowledged_at,
    /// acknowledged_by</c>, plus the collapse (<c>count</c>, <c>last_seen_at</c>) and the <c>source</c>.
    /// </summary>
    public sealed record ListedAlert(string AlertId, string Message, AlertSeverity Severity, AlertStatus Status, DateTimeOffset CreatedAt,
        DateTimeOffset? AcknowledgedAt, string? AcknowledgedBy, int Count, DateTimeOffset LastSeenAt, string Source);

    /// <summary><c>alerts[]</c> newest first (by latest occurrence), <c>total</c> matching before the limit.</summary>
    [WireName("alerts.list-result.v1")]
    public sealed record ListResult(ImmutableArray<ListedAlert> Alerts, int Total) : IAlertReply;

    /// <summary>Pending alerts the viewer sees, and how many of them are critical.</summary>
    [WireName("alerts.pending-count.v1")]
    public sealed record PendingCount(int Pending, int Critical) : IAlertReply;
}

/// <summary>The alert errors (spec §16.2 <c>AlertError</c>, <c>AlertNotFound</c>).</summary>
public static class AlertErrors
{
    /// <summary>No alert with this id that the caller may see (the two are not told apart).</summary>
    public static StructuredError AlertNotFound(string alertId) =>
        StructuredError.Create("AlertNotFound", $"There is no alert '{alertId}' you can see.")
            .WithRecovery("list_alerts", "List your alerts.", "alerts.list")
            .WithContext("alert_id", alertId);

    /// <summary>Too many distinct pending alerts from this agent.</summary>
    public static StructuredError TooManyPending(string source, int limit) =>
        StructuredError.Create("AlertError", $"'{source}' already has {limit} pending alerts; the alert was not stored.", retryable: true)
            .RetryAfter(300)
            .WithRecovery("wait_for_acknowledgement", "Wait for the operator to acknowledge your alerts; repeating an identical alert only raises its count.")
            .WithContext("source", source).WithContext("limit", limit);
}
