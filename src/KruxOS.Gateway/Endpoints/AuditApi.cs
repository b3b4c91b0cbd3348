using System.Globalization;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Core;
using KruxOS.Core.Audit;
using KruxOS.Core.Errors;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// <c>GET /api/audit</c> on the User API (spec §4.1): filters <c>agent</c> (or <c>agent_name</c>), <c>capability</c> (glob),
/// <c>since</c> (a window such as <c>24h</c>, or a timestamp), <c>from</c>, <c>to</c>, <c>status</c>,
/// <c>actor_type</c>, <c>limit</c> (1–1000, default 50) and <c>offset</c>. Answers
/// <c>{entries, total, limit, offset, integrity}</c>, newest first; <c>integrity</c> is <c>verified</c> or
/// <c>broken: …</c> for the whole directory.
/// </summary>
public static class AuditApi
{
    /// <summary>Maps the route on the (already authenticated) User API group.</summary>
    public static void MapAuditApi(this RouteGroupBuilder api) =>
        api.MapGet("/audit", async (HttpContext http, Admin.AuditQueries audit) =>
        {
            if (!TryParse(http.Request.Query, out var query, out var error))
                return Results.Json(HttpErrors.Body(error!), statusCode: StatusCodes.Status400BadRequest);
            var (page, report) = await audit.QueryAsync(query!, http.RequestAborted).ConfigureAwait(false);
            return Admin.AdminHttp.Json(new JsonObject
            {
                ["entries"] = new JsonArray([.. page.Entries.Select(e => (JsonNode)AuditJson.ToJson(e))]),
                ["total"] = page.Total,
                ["limit"] = page.Limit,
                ["offset"] = page.Offset,
                ["integrity"] = AuditJson.Integrity(report),
            });
        });

    /// <summary>Parses the query string into an <see cref="AuditQuery"/>, or an <c>InvalidInput</c> error.</summary>
    public static bool TryParse(IQueryCollection q, out AuditQuery? query, out StructuredError? error)
    {
        query = null;
        error = null;
        var result = new AuditQuery();
        // agent_name is the dashboard's spelling (spec §4.1); agent wins when both are given.
        var agent = q["agent"] is [{ Length: > 0 } a] ? a : q["agent_name"] is [{ Length: > 0 } named] ? named : null;
        if (agent is not null) result = result with { Agent = agent };
        if (q["capability"] is [{ Length: > 0 } cap])
        {
            if (!AuditQuery.IsValidCapabilityGlob(cap)) return Invalid("capability", "a dotted capability name or glob such as filesystem.*", out error);
            result = result with { Capability = cap };
        }
        if (q["status"] is [{ Length: > 0 } status] && !result.TryWithOutcome(status, out result))
            return Invalid("status", AuditQuery.Outcomes, out error);
        if (q["actor_type"] is [{ Length: > 0 } actorType])
        {
            if (actorType is not ("agent" or "user")) return Invalid("actor_type", "agent or user", out error);
            result = result with { ActorType = actorType };
        }
        if (q["since"] is [{ Length: > 0 } since])
        {
            if (AuditQuery.TryParseWindow(since, out var window)) result = result with { Last = window };
            else if (AuditQuery.TryParseBound(since, upper: false, out var t)) result = result with { From = t };
            else return Invalid("since", "a window such as 1h, 24h, 7d or an RFC 3339 timestamp", out error);
        }
        if (q["from"] is [{ Length: > 0 } from])
        {
            if (!AuditQuery.TryParseBound(from, upper: false, out var t)) return Invalid("from", "an RFC 3339 timestamp or a date", out error);
            result = result with { From = result.From is { } f && f > t ? f : t };
        }
        if (q["to"] is [{ Length: > 0 } to])
        {
            if (!AuditQuery.TryParseBound(to, upper: true, out var t)) return Invalid("to", "an RFC 3339 timestamp or a date (that whole day included)", out error);
            result = result with { To = t };
        }
        if (q["limit"] is [{ Length: > 0 } limit])
        {
            if (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > AuditQuery.MaxLimit)
                return Invalid("limit", $"an integer from 1 to {AuditQuery.MaxLimit}", out error);
            result = result with { Limit = n };
        }
        if (q["offset"] is [{ Length: > 0 } offset])
        {
            if (!int.TryParse(offset, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                return Invalid("offset", "a non-negative integer", out error);
            result = result with { Offset = n };
        }
        query = result;
        return true;
    }

    private static bool Invalid(string field, string expected, out StructuredError? error)
    {
        error = StructuredError.Create("InvalidInput", $"Query parameter '{field}' must be {expected}.")
            .WithContext("field", field);
        return false;
    }
}

/// <summary>
/// The chain verification behind the <c>integrity</c> field, kept current incrementally
/// (<see cref="IncrementalAuditVerifier"/>): a request reads only the records appended since the last one, and
/// the whole directory again only when a closed day file (name, length, modification time) or the anchors changed.
/// Requests take turns; the reading runs off the request thread.
/// </summary>
public sealed class AuditIntegrity(string directory)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>The incremental verifier (its counters show how much each request read).</summary>
    public IncrementalAuditVerifier Verifier { get; } = new(directory);

    /// <summary>The verification of the directory as it is now.</summary>
    public async Task<ChainReport> CurrentAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Not cancelled half-way: the verifier's state must stay whole for the next request.
            return await Task.Run(Verifier.Verify, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
