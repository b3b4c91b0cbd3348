using System.Collections.Immutable;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Audit;
using KruxOS.Core.Admin;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;
using Microsoft.Extensions.Logging;
using static KruxOS.Core.Proxy.WriteCommands;

namespace KruxOS.Actors.Proxy;

/// <summary>One service as <c>kruxos proxy status</c> and <c>GET /api/proxy/status</c> show it.</summary>
/// <param name="Name">The service (<c>gmail</c>).</param>
/// <param name="DisplayName">For people (<c>Gmail</c>).</param>
/// <param name="Status"><c>connected</c>, <c>disconnected</c>, <c>needs_attention</c>, <c>locked</c> (vault locked on this node) or <c>error</c> (last sync failed).</param>
/// <param name="Account">The connected account, when known.</param>
/// <param name="LastSync">When the last successful sync ended.</param>
/// <param name="LastSyncError">The last failed sync's reason, when the last sync failed.</param>
/// <param name="SyncIntervalSeconds">Time between syncs.</param>
/// <param name="ReplicaEntries">Entries in the replica.</param>
/// <param name="Writes">Counts of buffered, executing and dead-lettered writes and live rollback points.</param>
public sealed record ProxyServiceStatus(string Name, string DisplayName, string Status, string? Account, DateTimeOffset? LastSync, string? LastSyncError,
    long SyncIntervalSeconds, long ReplicaEntries, WriteCounts Writes);

/// <summary>The outcome of a connect: connected, or the URL the operator must open (OAuth), with the message to show.</summary>
public sealed record ProxyConnectResult(string Service, string Status, string Message, string? AuthorizeUrl, DateTimeOffset? ExpiresAt);

/// <summary>The outcome of a disconnect: what was cancelled, revoked and purged.</summary>
public sealed record ProxyDisconnectResult(string Service, int CancelledWrites, bool RevokedAtProvider, string? ProviderError, bool Purged, string Message);

/// <summary>
/// Service Proxy administration for every adapter (control socket, User API, dashboard): status per service, the
/// write lists, cancel / retry / discard of a write, connect and disconnect. Every change is audited (<c>proxy.*</c>,
/// naming the operator); nothing here returns or logs a credential.
/// </summary>
public sealed class ProxyAdmin(ServiceAdapters adapters, IServiceCredentials credentials, ServiceProxy proxy, ProxyReplicas replicas, WriteIndex index,
    IRequiredActor<WriteRegion> writes, ProxyAuditSink audit, TimeProvider clock, ILogger<ProxyAdmin> log, OperatorAudit operatorAudit, ProxySettings settings)
{
    /// <summary>The operator-audit action of a rollback (requested before, outcome after).</summary>
    public const string RollbackAction = "operator.proxy.rollback";

    /// <summary>The statuses a write list can be filtered by.</summary>
    public static readonly ImmutableArray<string> Filters = ["pending", "buffered", "executing", "dead_lettered", "done", "cancelled", "discarded", "all"];

    /// <summary>Every registered service with its connection, sync and write counts.</summary>
    public async Task<AdminResult<ImmutableArray<ProxyServiceStatus>>> StatusAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var list = ImmutableArray.CreateBuilder<ProxyServiceStatus>();
        foreach (var a in adapters.All)
        {
            var d = a.Descriptor;
            var sync = ReplicaSyncState.Empty;
            try { sync = await replicas.For(d.Name).ReadSyncStateAsync(ct).ConfigureAwait(false); }
            catch (Exception e) when (e is ReplicaUnavailableException or Microsoft.Data.Sqlite.SqliteException)
            {
                log.LogWarning("The {Service} replica could not be read for the status ({Error})", d.Name.Value, e.GetType().Name);
            }
            var cred = credentials.Status(d.Name).State;
            var status = cred switch
            {
                CredentialState.Absent or CredentialState.Revoked => "disconnected",
                CredentialState.NeedsAttention => "needs_attention",
                CredentialState.Locked => "locked",
                _ => sync.LastError is not null && (sync.LastSyncAt is null || sync.LastErrorAt > sync.LastSyncAt) ? "error" : "connected",
            };
            list.Add(new ProxyServiceStatus(d.Name.Value, d.DisplayName, status, sync.Account, sync.LastSyncAt,
                status == "error" ? sync.LastError : null, (long)d.SyncInterval.TotalSeconds, sync.Entries, index.Counts(d.Name, now)));
        }
        return list.ToImmutable();
    }

    /// <summary>
    /// Writes, newest first: <paramref name="filter"/> <c>pending</c> (buffered and executing; the default), a single status,
    /// or <c>all</c>; optionally of one service.
    /// </summary>
    public async Task<AdminResult<ImmutableArray<BufferedWriteState>>> WritesAsync(string? filter, string? service, CancellationToken ct)
    {
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the write index is still loading; retry shortly");
        ServiceName? svc = null;
        if (!string.IsNullOrEmpty(service))
        {
            if (!ServiceName.TryParse(service, out var s, out var reason)) return AdminErrors.InvalidInput(reason);
            svc = s;
        }
        WriteStatus[]? statuses = (filter ?? "pending") switch
        {
            "pending" => [WriteStatus.Buffered, WriteStatus.Executing],
            "buffered" => [WriteStatus.Buffered],
            "executing" => [WriteStatus.Executing],
            "dead_lettered" => [WriteStatus.DeadLettered],
            "done" => [WriteStatus.Done],
            "cancelled" => [WriteStatus.Cancelled],
            "discarded" => [WriteStatus.Discarded],
            "all" => null,
            _ => [],
        };
        if (statuses is { Length: 0 }) return AdminErrors.InvalidInput($"unknown filter; use one of {string.Join(", ", Filters)}");
        return index.List(svc, statuses);
    }

    /// <summary>Cancels a buffered write (as <paramref name="by"/>, an operator).</summary>
    public Task<AdminResult<BufferedWriteState>> CancelAsync(string? id, string by, CancellationToken ct) =>
        ChangeAsync("proxy.cancel", id, by, w => new CancelWrite(w, OperatorAudit.ActorOf(by).ToString(), null, "cancelled by the operator", clock.GetUtcNow()), ct);

    /// <summary>Runs a dead-lettered write again.</summary>
    public Task<AdminResult<BufferedWriteState>> RetryAsync(string? id, string by, CancellationToken ct) =>
        ChangeAsync("proxy.retry", id, by, w => new RetryWrite(w, OperatorAudit.ActorOf(by).ToString(), clock.GetUtcNow()), ct);

    /// <summary>Discards a dead-lettered write.</summary>
    public Task<AdminResult<BufferedWriteState>> DiscardAsync(string? id, string by, CancellationToken ct) =>
        ChangeAsync("proxy.discard", id, by, w => new DiscardWrite(w, OperatorAudit.ActorOf(by).ToString(), "discarded by the operator", clock.GetUtcNow()), ct);

    /// <summary>
    /// Applies an executed write's rollback point (untrash, reverse labels, <c>chat.delete</c>) once, as
    /// <paramref name="by"/> (ADR 0065): only a write that executed and recorded a point, only within the point's retention
    /// (<c>RollbackExpired</c>, <c>NotRollbackable</c>, <c>NoRollbackPoint</c> otherwise). The write's entity persists the
    /// attempt before the provider is called; a second request gets the first one's result and calls nobody. Audited as an
    /// operator change (<c>operator.proxy.rollback</c>: requested before, outcome after; refused with <c>audit_error</c> when
    /// the first entry cannot be written). A malformed or unknown id is answered without an entry.
    /// </summary>
    public Task<AdminResult<BufferedWriteState>> RollbackAsync(string? id, string by, CancellationToken ct) =>
        AdminCalls.Guarded<BufferedWriteState>(async () =>
        {
            if (!WriteId.TryParse(id, out var writeId, out var reason)) return AdminErrors.InvalidInput(reason);
            if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the write index is still loading; retry shortly");
            if (index.Get(writeId) is not { } known) return AdminErrors.NotFound($"no write '{writeId.Value}'");
            var subject = new System.Text.Json.Nodes.JsonObject
            {
                ["write_id"] = writeId.Value,
                ["service"] = known.Service.Value,
                ["operation"] = known.Operation?.Value,
                ["rollback"] = known.Rollback?.Kind,
            };
            return await operatorAudit.AuditedAsync(by, RollbackAction, subject, () => ApplyRollbackAsync(writeId, by, ct), ct,
                w => new System.Text.Json.Nodes.JsonObject
                {
                    ["rollback_status"] = w.RollbackApplied?.Status.ToWire(),
                    ["rollback_attempts"] = w.RollbackApplied?.Attempts,
                }).ConfigureAwait(false);
        });

    private Task<AdminResult<BufferedWriteState>> ApplyRollbackAsync(WriteId writeId, string by, CancellationToken ct) =>
        AdminCalls.Guarded<BufferedWriteState>(async () =>
        {
            var region = await writes.GetAsync(ct).ConfigureAwait(false);
            // the entity answers after the provider call and its record: allow the adapter's whole step
            var result = await region.Ask<WriteResult>(new WriteMessages.RollbackRequest(writeId, OperatorAudit.ActorOf(by).ToString(), clock.GetUtcNow()),
                settings.CallTimeout + AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            return RollbackAnswer(writeId, result);
        });

    /// <summary>How a rollback request's answer reads on every surface.</summary>
    public static AdminResult<BufferedWriteState> RollbackAnswer(WriteId writeId, WriteResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var state = result.State;
        var status = state.Status.ToWire();
        return result.Code switch
        {
            WriteResultCode.NotFound => AdminErrors.NotFound($"no write '{writeId.Value}'"),
            WriteResultCode.Expired => new AdminError(AdminErrorKind.Conflict, "RollbackExpired", $"write '{writeId.Value}' can no longer be rolled back: {result.Message}")
                { ReportsStatus = true, Status = status },
            WriteResultCode.Conflict when state.Status == WriteStatus.Done => new AdminError(AdminErrorKind.Conflict, "NoRollbackPoint",
                $"write '{writeId.Value}' cannot be rolled back: {result.Message}") { ReportsStatus = true, Status = status },
            WriteResultCode.Conflict => new AdminError(AdminErrorKind.Conflict, "NotRollbackable", $"write '{writeId.Value}' cannot be rolled back: {result.Message}")
                { ReportsStatus = true, Status = status },
            WriteResultCode.Ok => state.RollbackApplied switch
            {
                { Status: RollbackApplyStatus.Applied } => state,
                { Status: RollbackApplyStatus.Failed } f => new AdminError(AdminErrorKind.Failed, "RollbackFailed",
                    $"the rollback of write '{writeId.Value}' was refused by the provider: {f.Outcome}") { ReportsStatus = true, Status = "failed" },
                { Status: RollbackApplyStatus.FailedTransient } f => new AdminError(AdminErrorKind.Unavailable, "RollbackFailed",
                    $"the rollback of write '{writeId.Value}' failed for now ({f.Outcome}); ask again to retry it") { ReportsStatus = true, Status = "failed_retryable" },
                _ => new AdminError(AdminErrorKind.Failed, "RollbackFailed", $"the rollback of write '{writeId.Value}' has no recorded outcome"),
            },
            _ => AdminErrors.InvalidInput(result.Message),
        };
    }

    /// <summary>
    /// Connects <paramref name="service"/> through its adapter's connect flow: a verified credential is stored (audited) and
    /// the first sync starts; an OAuth flow answers with the URL to open.
    /// </summary>
    public Task<AdminResult<ProxyConnectResult>> ConnectAsync(string? service, IReadOnlyDictionary<string, string>? connectSettings, ReadOnlyMemory<byte> secret,
        string by, CancellationToken ct) => AdminCalls.Guarded<ProxyConnectResult>(async () =>
    {
        if (Adapter(service, out var error) is not { } adapter) return error!;
        var name = adapter.Descriptor.Name;
        var request = new ConnectRequest(name, (connectSettings ?? ImmutableDictionary<string, string>.Empty).ToImmutableDictionary(StringComparer.Ordinal), secret);
        ConnectResult result;
        try
        {
            result = await adapter.ConnectAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            log.LogWarning("Connecting {Service} failed in the adapter ({Error})", name.Value, e.GetType().Name);
            result = new ConnectResult.Refused($"the adapter failed ({e.GetType().Name})");
        }
        switch (result)
        {
            case ConnectResult.Connected c:
                try
                {
                    var change = await proxy.CompleteAsync(name, c.Account, c.Credential, ct).ConfigureAwait(false);
                    await Audit("proxy.connect", by, name.Value, change.Ok, change.Message, ct).ConfigureAwait(false);
                    return change.Ok
                        ? new ProxyConnectResult(name.Value, "connected", change.Message, null, null)
                        : new AdminError(AdminErrorKind.Conflict, "ConnectFailed", change.Message);
                }
                finally
                {
                    Array.Clear(c.Credential);
                }
            case ConnectResult.Pending p:
                await Audit("proxy.connect", by, name.Value, true, "authorization started", ct).ConfigureAwait(false);
                return new ProxyConnectResult(name.Value, "pending", "Open the URL to authorize the gateway; the connection completes on the redirect.",
                    p.AuthorizeUrl.AbsoluteUri, p.ExpiresAt);
            case ConnectResult.Refused r:
                await Audit("proxy.connect", by, name.Value, false, r.Reason, ct).ConfigureAwait(false);
                return new AdminError(AdminErrorKind.InvalidInput, "ConnectRefused", r.Reason);
            default:
                return new AdminError(AdminErrorKind.Failed, "ConnectFailed", "the adapter gave no answer");
        }
    });

    /// <summary>
    /// Disconnects <paramref name="service"/>: cancels its buffered writes, revokes the credential at the provider (when the
    /// provider cannot be reached this is reported, the rest still happens), revokes the vault entry and purges the replica.
    /// </summary>
    public Task<AdminResult<ProxyDisconnectResult>> DisconnectAsync(string? service, string by, CancellationToken ct) =>
        AdminCalls.Guarded<ProxyDisconnectResult>(async () =>
    {
        if (Adapter(service, out var error) is not { } adapter) return error!;
        var name = adapter.Descriptor.Name;
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the write index is still loading; retry shortly");
        var region = await writes.GetAsync(ct).ConfigureAwait(false);
        var cancelled = 0;
        foreach (var w in index.List(name, [WriteStatus.Buffered], limit: int.MaxValue))
        {
            var r = await region.Ask<WriteResult>(new CancelForDisconnect(w.Id, OperatorAudit.ActorOf(by).ToString(), clock.GetUtcNow()), AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            if (r.IsOk && r.State.Status == WriteStatus.Cancelled) cancelled++;
        }
        ProviderCallResult revoked;
        try
        {
            revoked = credentials.Status(name).State is CredentialState.Absent or CredentialState.Revoked
                ? ProviderCallResult.Success
                : await adapter.RevokeAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            revoked = ProviderCallResult.Failure($"the adapter failed ({e.GetType().Name})");
        }
        var removed = await credentials.RemoveAsync(name, $"disconnected by {by}", ct).ConfigureAwait(false);
        var purged = await replicas.For(name).PurgeAsync(ct).ConfigureAwait(false);
        var message = $"{cancelled} buffered write(s) cancelled; provider revocation {(revoked.Ok ? "done" : "failed: " + revoked.Reason)}; "
            + $"vault entry {(removed.Ok ? "revoked" : "not revoked: " + removed.Message)}; replica {(purged ? "purged" : "NOT purged (connections stayed open)")}";
        await Audit("proxy.disconnect", by, name.Value, removed.Ok && purged, message, ct).ConfigureAwait(false);
        if (!removed.Ok) return new AdminError(AdminErrorKind.Failed, "DisconnectFailed", message);
        return new ProxyDisconnectResult(name.Value, cancelled, revoked.Ok, revoked.Ok ? null : revoked.Reason, purged, message);
    });

    private Task<AdminResult<BufferedWriteState>> ChangeAsync(string action, string? id, string by, Func<WriteId, IWriteCommand> command, CancellationToken ct) =>
        AdminCalls.Guarded<BufferedWriteState>(async () =>
        {
            if (!WriteId.TryParse(id, out var writeId, out var reason)) return AdminErrors.InvalidInput(reason);
            // Unknown ids are answered here: asking would start an empty entity for every typo.
            if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the write index is still loading; retry shortly");
            if (index.Get(writeId) is null) return AdminErrors.NotFound($"no write '{writeId.Value}'");
            var region = await writes.GetAsync(ct).ConfigureAwait(false);
            var result = await region.Ask<WriteResult>(command(writeId), AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            await Audit(action, by, writeId.Value, result.IsOk, result.Message, ct).ConfigureAwait(false);
            return result.Code switch
            {
                WriteResultCode.Ok => result.State,
                WriteResultCode.NotFound => AdminErrors.NotFound($"no write '{writeId.Value}'"),
                WriteResultCode.Conflict => new AdminError(AdminErrorKind.Conflict, "Conflict", $"write '{writeId.Value}': {result.Message}")
                    { ReportsStatus = true, Status = result.State.Status.ToWire() },
                _ => AdminErrors.InvalidInput(result.Message),
            };
        });

    private IServiceAdapter? Adapter(string? service, out AdminError? error)
    {
        error = null;
        if (!ServiceName.TryParse(service, out var name, out var reason))
        {
            error = AdminErrors.InvalidInput(reason);
            return null;
        }
        if (adapters.Find(name) is { } adapter) return adapter;
        error = AdminErrors.NotFound($"no service '{name.Value}' (known: {string.Join(", ", adapters.All.Select(a => a.Descriptor.Name.Value))})");
        return null;
    }

    private async Task Audit(string action, string by, string target, bool ok, string outcome, CancellationToken ct)
    {
        var failure = await audit.AppendAsync(ServiceCredentialAudit.Change(action, by, target, ok, outcome, clock.GetUtcNow()), ct).ConfigureAwait(false);
        if (failure is not null) log.LogError("The audit entry of {Action} on {Target} was not written ({Reason})", action, target, failure);
    }

    private async Task<bool> Ready(CancellationToken ct)
    {
        if (index.IsReady) return true;
        try
        {
            await index.Ready.WaitAsync(AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
