using System.Text.Json;
using KruxOS.Actors.Alerts;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using static KruxOS.Core.Alerts.AlertReplies;

namespace KruxOS.Actors.Capabilities.AlertsCategory;

/// <summary>The <c>alerts.*</c> capabilities: an agent raises alerts to the operator and sees only its own.</summary>
public sealed class AlertsModule() : CapabilityModule("alerts", "alerts");

/// <summary><c>alerts.send</c>: the source is the calling agent, never an argument.</summary>
[Capability("alerts.send")]
public sealed class AlertsSendHandler(AlertAdmin alerts) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var message = arguments.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
        var severityText = arguments.TryGetProperty("severity", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        if (!AlertStoreExtensions.TryParseSeverity(severityText, out var severity))
            throw new CapabilityException(Errors.InvalidInput("severity", "must be info, warning or critical"));
        var alertContext = StoredJson.EmptyObject;
        if (arguments.TryGetProperty("context", out var c) && c.ValueKind != JsonValueKind.Null)
        {
            if (c.ValueKind != JsonValueKind.Object) throw new CapabilityException(Errors.InvalidInput("context", "must be an object"));
            if (!StoredJson.TryCreate(c, AlertLimits.Default.MaxContextBytes, out alertContext, out var reason))
                throw new CapabilityException(Errors.InvalidInput("context", reason));
        }
        var reply = await alerts.AskAsync(new AlertCommands.RaiseAlert(AlertIds.New(), context.Session.Agent.Value, severity, message, alertContext),
            cancellationToken).ConfigureAwait(false);
        return reply switch
        {
            Sent r => CapabilityCatalog.ToElement(new { alert_id = r.AlertId, delivered_to = r.DeliveredTo, severity = r.Severity.ToWire() }),
            AlertsRefused r => throw new CapabilityException(r.Error),
            _ => throw new CapabilityException(Errors.Internal("the alert store gave an unexpected answer")),
        };
    }
}

/// <summary><c>alerts.list</c>: the caller's own alerts, newest first.</summary>
[Capability("alerts.list")]
public sealed class AlertsListHandler(AlertAdmin alerts) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var statusText = arguments.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : "all";
        if (!AlertStoreExtensions.TryParseStatusFilter(statusText, out var filter))
            throw new CapabilityException(Errors.InvalidInput("status", "must be pending, acknowledged or all"));
        int? limit = arguments.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) ? n : null;
        var reply = await alerts.AskAsync(new AlertCommands.ListAlerts(AlertViewer.ForAgent(context.Session.Agent), filter, limit), cancellationToken)
            .ConfigureAwait(false);
        return reply switch
        {
            ListResult r => CapabilityCatalog.ToElement(new { alerts = r.Alerts.Select(AlertsJson.Listed), total = r.Total }),
            AlertsRefused r => throw new CapabilityException(r.Error),
            _ => throw new CapabilityException(Errors.Internal("the alert store gave an unexpected answer")),
        };
    }
}

/// <summary><c>alerts.acknowledge</c>: only the caller's own alerts; recorded under the caller's identity whatever <c>acknowledged_by</c> says.</summary>
[Capability("alerts.acknowledge")]
public sealed class AlertsAcknowledgeHandler(AlertAdmin alerts) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var id = arguments.TryGetProperty("alert_id", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        if (!AlertIds.IsValid(id)) throw new CapabilityException(AlertErrors.AlertNotFound(id ?? ""));
        var reply = await alerts.AskAsync(new AlertCommands.AcknowledgeAlert(id!, AlertViewer.ForAgent(context.Session.Agent), PrincipalText.Of(context.Principal)),
            cancellationToken).ConfigureAwait(false);
        return reply switch
        {
            AcknowledgeResult r => CapabilityCatalog.ToElement(new { acknowledged = r.Acknowledged, alert_id = r.AlertId }),
            AlertsRefused r => throw new CapabilityException(r.Error),
            _ => throw new CapabilityException(Errors.Internal("the alert store gave an unexpected answer")),
        };
    }
}

/// <summary>The wire shape of a listed alert (capability output and admin JSON alike).</summary>
public static class AlertsJson
{
    /// <summary>One alert.</summary>
    public static object Listed(ListedAlert a) => new
    {
        alert_id = a.AlertId,
        message = a.Message,
        severity = a.Severity.ToWire(),
        status = a.Status == AlertStatus.Pending ? "pending" : "acknowledged",
        created_at = a.CreatedAt,
        acknowledged_at = a.AcknowledgedAt,
        acknowledged_by = a.AcknowledgedBy,
        count = a.Count,
        last_seen_at = a.LastSeenAt,
        source = a.Source,
    };
}
