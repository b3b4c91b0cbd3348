using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Core.Admin;
using KruxOS.Core.Alerts;
using static KruxOS.Core.Alerts.AlertReplies;

namespace KruxOS.Actors.Alerts;

/// <summary>
/// The alerts for every adapter and for the health figures: the operator's listing (every source), acknowledging by id
/// under the operator's identity, and the pending counts (<c>alerts_pending</c>). Agents reach the store only through
/// their capabilities, which are restricted to their own alerts. An operator's acknowledgement is audited here for every
/// surface (<c>operator.alert.acknowledge</c>, attributed to <c>by</c>), and refused when that entry cannot be written (ADR 0057).
/// </summary>
public sealed class AlertAdmin(IRequiredActor<AlertStoreKey> store, KruxOS.Actors.Audit.OperatorAudit audit)
{
    /// <summary>Every alert the operator sees with <paramref name="status"/> (<c>all</c> when null), newest first.</summary>
    public Task<AdminResult<ListResult>> ListAsync(string? status, int? limit, CancellationToken ct) => AdminCalls.Guarded<ListResult>(async () =>
    {
        if (!AlertStoreExtensions.TryParseStatusFilter(status ?? "all", out var filter))
            return AdminErrors.InvalidInput($"unknown status '{status}' (pending, acknowledged or all)");
        return await AskAsync(new AlertCommands.ListAlerts(AlertViewer.Operator, filter, limit), ct).ConfigureAwait(false) switch
        {
            ListResult r => r,
            AlertsRefused r => AdminErrors.InvalidInput(r.Error.Message),
            var other => Unexpected(other),
        };
    });

    /// <summary>Acknowledges <paramref name="id"/> as <paramref name="by"/> (the adapter's authenticated identity).</summary>
    public Task<AdminResult<AcknowledgeResult>> AcknowledgeAsync(string? id, string by, CancellationToken ct)
    {
        // An id that cannot name an alert changes nothing and is answered without an entry.
        if (!AlertIds.IsValid(id)) return Task.FromResult<AdminResult<AcknowledgeResult>>(AdminErrors.NotFound($"alert '{id}' not found"));
        return audit.AuditedAsync(by, "operator.alert.acknowledge", new System.Text.Json.Nodes.JsonObject { ["alert_id"] = id }, () => AcknowledgeCoreAsync(id!, by, ct), ct);
    }

    private Task<AdminResult<AcknowledgeResult>> AcknowledgeCoreAsync(string id, string by, CancellationToken ct) => AdminCalls.Guarded<AcknowledgeResult>(async () =>
    {
        return await AskAsync(new AlertCommands.AcknowledgeAlert(id!, AlertViewer.Operator, by), ct).ConfigureAwait(false) switch
        {
            AcknowledgeResult r => r,
            AlertsRefused { Error.ErrorType: "AlertNotFound" } => AdminErrors.NotFound($"alert '{id}' not found"),
            AlertsRefused r => AdminErrors.InvalidInput(r.Error.Message),
            var other => Unexpected(other),
        };
    });

    /// <summary>Pending alerts and how many are critical; null when the store did not answer in time.</summary>
    public async Task<PendingCount?> PendingAsync(CancellationToken ct)
    {
        try
        {
            return await AskAsync(new AlertCommands.CountPending(AlertViewer.Operator), ct).ConfigureAwait(false) as PendingCount;
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    /// <summary>Asks the store (capability handlers use this with the caller's own viewer).</summary>
    public async Task<IAlertReply> AskAsync(IAlertCommand command, CancellationToken ct)
    {
        var actor = await store.GetAsync(ct).ConfigureAwait(false);
        return await actor.Ask<IAlertReply>(command, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
    }

    private static AdminError Unexpected(IAlertReply reply) =>
        new(AdminErrorKind.Failed, "alerts_error", $"the alert store gave an unexpected answer ({reply.GetType().Name})");
}
