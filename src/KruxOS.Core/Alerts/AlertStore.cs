using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using KruxOS.Core.State;
using static KruxOS.Core.Alerts.AlertCommands;
using static KruxOS.Core.Alerts.AlertEvents;
using static KruxOS.Core.Alerts.AlertReplies;

namespace KruxOS.Core.Alerts;

/// <summary>The alert store's snapshot; indexes are rebuilt on load.</summary>
[WireName("alerts.snapshot.v1")]
public sealed record AlertStoreSnapshot(ImmutableArray<AlertRecord> Alerts) : IKruxMessage;

/// <summary>
/// Every alert of the gateway (one entity: alerts are rare, and collapsing keeps floods to one record).
/// Changed only through <see cref="AlertStoreExtensions.ProcessCommand"/> / <see cref="AlertStoreExtensions.Apply"/>.
/// </summary>
public sealed class AlertStore
{
    /// <summary>The persistence id; never changes.</summary>
    public const string PersistenceId = "alerts";

    internal AlertStore(ImmutableSortedDictionary<string, AlertRecord> alerts, ImmutableDictionary<string, string> pendingByFingerprint)
    {
        Alerts = alerts;
        PendingByFingerprint = pendingByFingerprint;
    }

    /// <summary>No alerts.</summary>
    public static readonly AlertStore Empty = new(ImmutableSortedDictionary.Create<string, AlertRecord>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, string>(StringComparer.Ordinal));

    /// <summary>Alerts by id.</summary>
    public ImmutableSortedDictionary<string, AlertRecord> Alerts { get; }

    /// <summary>The pending alert of each fingerprint (where repeats collapse).</summary>
    public ImmutableDictionary<string, string> PendingByFingerprint { get; }

    /// <summary>The snapshot to store.</summary>
    public AlertStoreSnapshot ToSnapshot() => new([.. Alerts.Values]);

    /// <summary>Loads a snapshot; throws <see cref="InvalidDataException"/> when it is damaged.</summary>
    public static AlertStore FromSnapshot(AlertStoreSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var store = Empty;
        foreach (var a in snapshot.Alerts.IsDefault ? [] : snapshot.Alerts)
        {
            if (!AlertIds.IsValid(a.AlertId) || store.Alerts.ContainsKey(a.AlertId)) throw new InvalidDataException("the alert snapshot is damaged");
            store = store.Apply(new AlertRaised(a, [], a.CreatedAt));
        }
        return store;
    }
}

/// <summary>The pure functions of the alert store.</summary>
public static class AlertStoreExtensions
{
    /// <summary><c>delivered_to</c> on a single node (spec §18 row 33).</summary>
    public const string DeliveredTo = "dashboard";

    private static readonly JsonWriterOptions Canonical = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary><c>info</c>, <c>warning</c>, <c>critical</c>.</summary>
    public static string ToWire(this AlertSeverity severity) => severity switch
    {
        AlertSeverity.Warning => "warning",
        AlertSeverity.Critical => "critical",
        _ => "info",
    };

    /// <summary>Parses a severity (<c>info</c> when absent).</summary>
    public static bool TryParseSeverity(string? text, out AlertSeverity severity)
    {
        severity = AlertSeverity.Info;
        switch (text)
        {
            case null or "info": return true;
            case "warning": severity = AlertSeverity.Warning; return true;
            case "critical": severity = AlertSeverity.Critical; return true;
            default: return false;
        }
    }

    /// <summary>Parses <c>status</c> of <c>alerts.list</c> (<c>all</c> when absent).</summary>
    public static bool TryParseStatusFilter(string? text, out AlertStatusFilter filter)
    {
        filter = AlertStatusFilter.All;
        switch (text)
        {
            case null or "all": return true;
            case "pending": filter = AlertStatusFilter.Pending; return true;
            case "acknowledged": filter = AlertStatusFilter.Acknowledged; return true;
            default: return false;
        }
    }

    /// <summary>
    /// What makes two alerts identical: the same source, severity, message (exact text) and context (as
    /// canonical JSON: property order and whitespace do not matter). <c>sha256:</c> + hex.
    /// </summary>
    public static string Fingerprint(string source, AlertSeverity severity, string message, StoredJson context)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, Canonical))
        {
            w.WriteStartArray();
            w.WriteStringValue(source);
            w.WriteStringValue(severity.ToWire());
            w.WriteStringValue(message);
            w.WriteRawValue(context.Utf8, skipInputValidation: true);
            w.WriteEndArray();
        }
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    /// <summary>Decides a command: the reply and the events to persist.</summary>
    public static (IAlertReply Reply, ImmutableArray<IAlertEvent> Events) ProcessCommand(this AlertStore store, IAlertCommand command,
        DateTimeOffset now, AlertLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        switch (command)
        {
            case RaiseAlert c:
                return Raise(store, c, now, limits);
            case AcknowledgeAlert c:
            {
                if (!AlertIds.IsValid(c.AlertId)) return Refuse(Errors.Errors.InvalidInput("alert_id", "is not an alert id"));
                if (!store.Alerts.TryGetValue(c.AlertId, out var alert) || !c.Viewer.Sees(alert.Source)) return Refuse(AlertErrors.AlertNotFound(c.AlertId));
                if (string.IsNullOrWhiteSpace(c.AcknowledgedBy) || c.AcknowledgedBy.Length > 128 || !StoredJson.IsValidUnicode(c.AcknowledgedBy)
                    || c.AcknowledgedBy.Any(char.IsControl))
                    return Refuse(Errors.Errors.InvalidInput("acknowledged_by", "must be 1-128 printable characters"));
                if (alert.Status == AlertStatus.Acknowledged) return (new AcknowledgeResult(false, c.AlertId), []);
                return (new AcknowledgeResult(true, c.AlertId), [new AlertAcknowledged(c.AlertId, c.AcknowledgedBy, now)]);
            }
            case ListAlerts c:
            {
                var limit = c.Limit ?? AlertLimits.DefaultListLimit;
                if (limit < 1 || limit > limits.MaxListLimit) return Refuse(Errors.Errors.InvalidInput("limit", $"must be between 1 and {limits.MaxListLimit}"));
                var matching = store.Alerts.Values
                    .Where(a => c.Viewer.Sees(a.Source) && c.Status switch
                    {
                        AlertStatusFilter.Pending => a.Status == AlertStatus.Pending,
                        AlertStatusFilter.Acknowledged => a.Status == AlertStatus.Acknowledged,
                        _ => true,
                    })
                    .OrderByDescending(a => a.LastAt).ThenByDescending(a => a.AlertId, StringComparer.Ordinal)
                    .ToList();
                var listed = matching.Take(limit).Select(a => new ListedAlert(a.AlertId, a.Message, a.Severity, a.Status, a.CreatedAt,
                    a.AcknowledgedAt, a.AcknowledgedBy, a.Count, a.LastAt, a.Source));
                return (new ListResult([.. listed], matching.Count), []);
            }
            case CountPending c:
            {
                var pending = store.Alerts.Values.Where(a => a.Status == AlertStatus.Pending && c.Viewer.Sees(a.Source)).ToList();
                return (new PendingCount(pending.Count, pending.Count(a => a.Severity == AlertSeverity.Critical)), []);
            }
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock or the configuration.</summary>
    public static AlertStore Apply(this AlertStore store, IAlertEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt)
        {
            case AlertRaised e:
            {
                var alerts = store.Alerts;
                var pending = store.PendingByFingerprint;
                foreach (var id in e.Evicted.IsDefault ? [] : e.Evicted)
                {
                    if (!alerts.TryGetValue(id, out var gone)) continue;
                    alerts = alerts.Remove(id);
                    if (pending.TryGetValue(gone.Fingerprint, out var p) && p == id) pending = pending.Remove(gone.Fingerprint);
                }
                alerts = alerts.SetItem(e.Alert.AlertId, e.Alert);
                if (e.Alert.Status == AlertStatus.Pending) pending = pending.SetItem(e.Alert.Fingerprint, e.Alert.AlertId);
                return new AlertStore(alerts, pending);
            }
            case AlertRepeated e:
                return store.Alerts.TryGetValue(e.AlertId, out var a)
                    ? new AlertStore(store.Alerts.SetItem(e.AlertId, a with { Count = a.Count == int.MaxValue ? a.Count : a.Count + 1, LastAt = e.At > a.LastAt ? e.At : a.LastAt }),
                        store.PendingByFingerprint)
                    : store;
            case AlertAcknowledged e:
            {
                if (!store.Alerts.TryGetValue(e.AlertId, out var alert)) return store;
                var pending = store.PendingByFingerprint.TryGetValue(alert.Fingerprint, out var p) && p == e.AlertId
                    ? store.PendingByFingerprint.Remove(alert.Fingerprint)
                    : store.PendingByFingerprint;
                return new AlertStore(store.Alerts.SetItem(e.AlertId, alert with { Status = AlertStatus.Acknowledged, AcknowledgedAt = e.At, AcknowledgedBy = e.By }), pending);
            }
            default:
                return store;
        }
    }

    /// <summary>Applies events in order.</summary>
    public static AlertStore ApplyAll(this AlertStore store, IEnumerable<IAlertEvent> events) => events.Aggregate(store, (s, e) => s.Apply(e));

    private static (IAlertReply, ImmutableArray<IAlertEvent>) Raise(AlertStore store, RaiseAlert c, DateTimeOffset now, AlertLimits limits)
    {
        var isSystem = c.Source is not null && PrincipalText.IsSystem(c.Source);
        if (c.Source is null || !isSystem && !PrincipalText.IsAgent(c.Source, out _))
            return Refuse(Errors.Errors.InvalidInput("source", "must be an agent name or 'system:<component>'"));
        if (!AlertIds.IsValid(c.NewAlertId)) return Refuse(Errors.Errors.InvalidInput("alert_id", "is not an alert id"));
        if (string.IsNullOrWhiteSpace(c.Message) || c.Message.Length > limits.MaxMessageLength || !StoredJson.IsValidUnicode(c.Message)
            || c.Message.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\t')))
            return Refuse(Errors.Errors.InvalidInput("message", $"must be 1-{limits.MaxMessageLength} characters of printable text"));
        if (c.Context.Kind != JsonValueKind.Object) return Refuse(Errors.Errors.InvalidInput("context", "must be an object"));
        if (c.Context.ByteCount > limits.MaxContextBytes)
            return Refuse(Errors.Errors.InvalidInput("context", $"must be at most {limits.MaxContextBytes} bytes as canonical JSON"));

        var fingerprint = Fingerprint(c.Source, c.Severity, c.Message, c.Context);
        if (store.PendingByFingerprint.TryGetValue(fingerprint, out var existing))
            return (new Sent(existing, DeliveredTo, c.Severity), [new AlertRepeated(existing, now)]);
        if (store.Alerts.ContainsKey(c.NewAlertId)) return Refuse(Errors.Errors.InvalidInput("alert_id", "is already in use"));

        var evicted = new List<string>();
        var remaining = store.Alerts;
        // Acknowledged alerts past their retention go first.
        foreach (var old in remaining.Values.Where(a => a.Status == AlertStatus.Acknowledged && a.AcknowledgedAt + limits.AcknowledgedRetention <= now).ToList())
        {
            evicted.Add(old.AlertId);
            remaining = remaining.Remove(old.AlertId);
        }
        var ownPending = remaining.Values.Where(a => a.Source == c.Source && a.Status == AlertStatus.Pending)
            .OrderBy(a => a.LastAt).ThenBy(a => a.AlertId, StringComparer.Ordinal).ToList();
        var cap = isSystem ? limits.MaxPendingPerSystemSource : limits.MaxPendingPerAgent;
        if (ownPending.Count >= cap)
        {
            // An agent cannot flood the store; a gateway component's oldest pending alert makes room for its newest.
            if (!isSystem) return Refuse(AlertErrors.TooManyPending(c.Source, cap));
            evicted.Add(ownPending[0].AlertId);
            remaining = remaining.Remove(ownPending[0].AlertId);
            ownPending.RemoveAt(0);
        }
        while (remaining.Count >= limits.MaxAlerts)
        {
            // Room is made from acknowledged alerts (oldest first); pending alerts of others are never displaced.
            var victim = remaining.Values.Where(a => a.Status == AlertStatus.Acknowledged)
                .OrderBy(a => a.LastAt).ThenBy(a => a.AlertId, StringComparer.Ordinal).FirstOrDefault();
            if (victim is null && isSystem && ownPending.Count > 0)
            {
                victim = ownPending[0];
                ownPending.RemoveAt(0);
            }
            if (victim is null) return Refuse(AlertErrors.TooManyPending(c.Source, limits.MaxAlerts));
            evicted.Add(victim.AlertId);
            remaining = remaining.Remove(victim.AlertId);
        }
        var alert = new AlertRecord(c.NewAlertId, c.Source, c.Severity, c.Message, c.Context, fingerprint, AlertStatus.Pending, now, now, 1, null, null);
        return (new Sent(alert.AlertId, DeliveredTo, alert.Severity), [new AlertRaised(alert, [.. evicted], now)]);
    }

    private static (IAlertReply, ImmutableArray<IAlertEvent>) Refuse(StructuredError error) => (new AlertsRefused(error), []);
}
