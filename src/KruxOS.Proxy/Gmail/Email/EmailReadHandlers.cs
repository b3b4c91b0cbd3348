using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Proxy;
using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy.Gmail.Email;

/// <summary>Opening the Gmail replica for a read, with the errors a read reports.</summary>
internal static class EmailReplicaAccess
{
    public static async Task<ReplicaLease> OpenAsync(IServiceProxy proxy, CancellationToken ct)
    {
        var state = proxy.Connection(GmailTokens.Service).State;
        if (state is CredentialState.Absent or CredentialState.Revoked) throw new CapabilityException(ProxyErrors.NotConnected(GmailTokens.Service));
        ReplicaLease lease;
        try { lease = await proxy.Replica(GmailTokens.Service).OpenAsync(ct).ConfigureAwait(false); }
        catch (ReplicaUnavailableException) { throw new CapabilityException(ProxyErrors.NotConnected(GmailTokens.Service)); }
        catch (SqliteException) { throw new CapabilityException(EmailErrors.DatabaseError()); }
        try
        {
            await GmailReplica.EnsureSchemaAsync(lease.Connection, ct).ConfigureAwait(false);
            return lease;
        }
        catch (SqliteException)
        {
            await lease.DisposeAsync().ConfigureAwait(false);
            throw new CapabilityException(EmailErrors.DatabaseError());
        }
    }
}

/// <summary><c>email.search</c>: the replica only (zero provider calls).</summary>
[Capability("email.search")]
public sealed class EmailSearchHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var query = EmailArgs.Str(arguments, "query");
        var label = EmailArgs.Str(arguments, "label");
        bool? isRead = arguments.TryGetProperty("is_read", out var r) && r.ValueKind is JsonValueKind.True or JsonValueKind.False ? r.GetBoolean() : null;
        var limit = arguments.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var li) ? li : 20;
        var offset = arguments.TryGetProperty("offset", out var o) && o.ValueKind == JsonValueKind.Number && o.TryGetInt32(out var oi) ? oi : 0;
        if (limit is < 1 or > 100) throw new CapabilityException(EmailErrors.Invalid("limit", "must be 1..100"));
        if (offset is < 0 or > 1_000_000) throw new CapabilityException(EmailErrors.Invalid("offset", "must be 0 or more"));
        if (query is { Length: > 512 }) throw new CapabilityException(EmailErrors.Invalid("query", "at most 512 characters"));
        if (label is { Length: > 256 }) throw new CapabilityException(EmailErrors.Invalid("label", "at most 256 characters"));
        await using var lease = await EmailReplicaAccess.OpenAsync(proxy, cancellationToken).ConfigureAwait(false);
        try
        {
            var labelId = string.IsNullOrEmpty(label) ? null : await GmailReplica.LabelIdAsync(lease.Connection, label, cancellationToken).ConfigureAwait(false);
            var (messages, total) = await GmailReplica.SearchAsync(lease.Connection, query, labelId, isRead, limit, offset, cancellationToken).ConfigureAwait(false);
            return CapabilityCatalog.ToElement(new { messages = messages.Select(GmailReplica.ToOutput), total });
        }
        catch (SqliteException) { throw new CapabilityException(EmailErrors.DatabaseError()); }
    }
}

/// <summary><c>email.read</c>: metadata from the replica; the body from the replica's cache, fetched from Gmail the first time.</summary>
[Capability("email.read")]
public sealed class EmailReadHandler(IServiceProxy proxy, GmailAdapter adapter, TimeProvider clock) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var id = EmailArgs.MessageId(arguments);
        await using var lease = await EmailReplicaAccess.OpenAsync(proxy, cancellationToken).ConfigureAwait(false);
        GmailMessageMeta? meta;
        CachedBody? body;
        try
        {
            meta = await GmailReplica.GetAsync(lease.Connection, id, cancellationToken).ConfigureAwait(false);
            if (meta is null) throw new CapabilityException(EmailErrors.MessageNotFound(id));
            body = await GmailReplica.GetBodyAsync(lease.Connection, id, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException) { throw new CapabilityException(EmailErrors.DatabaseError()); }
        if (body is null)
        {
            var use = new CredentialUse(GmailTokens.Service, "", "read", context.Capability.Name, context.Session.Agent, context.Session.SessionId);
            var (fetched, response) = await adapter.FetchBodyAsync(id, use, cancellationToken).ConfigureAwait(false);
            if (fetched is null)
                throw new CapabilityException(response.Status == GoogleStatus.NotFound ? EmailErrors.MessageNotFound(id) : EmailErrors.BodyFetchFailed(response.Reason ?? "provider error"));
            var now = clock.GetUtcNow();
            try { await GmailReplica.SaveBodyAsync(lease.Connection, id, fetched, now, cancellationToken).ConfigureAwait(false); }
            catch (SqliteException) { throw new CapabilityException(EmailErrors.DatabaseError()); }
            body = new CachedBody(fetched.TextPlain, fetched.TextHtml, now);
        }
        return CapabilityCatalog.ToElement(new
        {
            message = GmailReplica.ToOutput(meta),
            body = new
            {
                message_id = id, text_plain = body.TextPlain, text_html = body.TextHtml,
                cached_at = body.CachedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
            },
        });
    }
}
