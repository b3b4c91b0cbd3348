using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Gateway.Endpoints;

namespace KruxOS.Gateway.Admin;

/// <summary>A page of the audit log and the verification of the whole chain as it is now.</summary>
public sealed record AuditQueryResult(AuditPage Page, ChainReport Integrity);

/// <summary>
/// Audit queries for every adapter (the User API's <c>GET /api/audit</c>, later the dashboard): a filtered page read by
/// <see cref="AuditReader"/> and the chain's integrity kept current by <see cref="AuditIntegrity"/>. Parsing a
/// protocol's filters into an <see cref="AuditQuery"/> stays with the adapter.
/// </summary>
public sealed class AuditQueries(AuditReader reader, AuditIntegrity integrity)
{
    /// <summary>The entries matching <paramref name="query"/>, newest first, with the chain's verification.</summary>
    public async Task<AuditQueryResult> QueryAsync(AuditQuery query, CancellationToken ct)
    {
        var page = await reader.QueryAsync(query, ct).ConfigureAwait(false);
        var report = await integrity.CurrentAsync(ct).ConfigureAwait(false);
        return new AuditQueryResult(page, report);
    }
}
