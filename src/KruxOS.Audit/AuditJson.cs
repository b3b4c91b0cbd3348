using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Audit;

/// <summary>
/// The JSON view of an audit entry shared by <c>GET /api/audit</c> and <c>kruxos audit … --format json</c>:
/// <c>{id, timestamp, kind, actor, agent, session_id, capability, arguments, result, policy_decision,
/// client, metadata, previous_hash, hash: "sha256:…", position}</c>. Inputs are shown as stored (sanitized).
/// </summary>
public static class AuditJson
{
    /// <summary>Renders one entry and where it lives.</summary>
    public static JsonObject ToJson(AuditRecordView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var e = view.Entry;
        var result = new JsonObject
        {
            ["status"] = e.Status.ToWire(),
            ["summary"] = e.OutputSummary,
            ["duration_ms"] = e.DurationMs,
        };
        if (e.Metadata.ErrorType is { } errorType) result["error_type"] = errorType;
        if (e.ResourceUsage is { } u)
        {
            result["resource_usage"] = new JsonObject
            {
                ["cpu_time_ms"] = u.CpuTimeMs,
                ["memory_peak_bytes"] = u.MemoryPeakBytes,
                ["io_read_bytes"] = u.IoReadBytes,
                ["io_write_bytes"] = u.IoWriteBytes,
            };
        }
        var metadata = new JsonObject();
        if (e.Metadata.ApprovalRequestId is { } ar) metadata["approval_request_id"] = ar;
        if (e.Metadata.ApprovalDecision is { } ad) metadata["approval_decision"] = ad;
        if (e.Metadata.DecidedBy is { } db) metadata["decided_by"] = db;
        if (e.Metadata.Details is { } details) metadata["details"] = JsonNode.Parse(details.GetRawText());
        var json = new JsonObject
        {
            ["id"] = e.Id.ToString("D"),
            ["timestamp"] = AuditTime.ToText(e.Timestamp),
            ["kind"] = e.Kind.ToWire(),
            ["actor"] = new JsonObject { ["type"] = e.Actor.Kind == PrincipalKind.Agent ? "agent" : "user", ["name"] = e.Actor.Name },
            ["agent"] = AgentOf(e),
            ["session_id"] = e.SessionId,
            ["capability"] = e.Capability,
            ["arguments"] = JsonNode.Parse(e.Inputs.GetRawText()),
            ["result"] = result,
            ["policy_decision"] = e.PolicyDecision is { } d
                ? new JsonObject { ["tier"] = d.Tier.ToWire(), ["rule"] = d.Rule, ["revision"] = d.Revision, ["reason"] = d.Reason }
                : null,
            ["client"] = e.Client is { } c ? new JsonObject { ["name"] = c.Name, ["version"] = c.Version } : null,
            ["metadata"] = metadata,
            ["previous_hash"] = e.PreviousHash is { } p ? "sha256:" + p : null,
            ["hash"] = e.EntryHash is { } h ? "sha256:" + h : null,
            ["position"] = new JsonObject
            {
                ["file"] = view.Position.File,
                ["entry_index"] = view.Position.EntryIndex,
                ["offset"] = view.Position.Offset,
            },
        };
        // Schema 2 (a cluster node's entry) names its node; a single node's entries have no such field.
        if (e.Node is { } node) json["node"] = node;
        return json;
    }

    /// <summary>The agent an entry concerns: the actor when it is an agent, else the agent a user acted for.</summary>
    public static string? AgentOf(AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Actor.Kind == PrincipalKind.Agent) return entry.Actor.Name;
        return entry.Metadata.Details is { ValueKind: JsonValueKind.Object } d && d.TryGetProperty("agent", out var a) && a.ValueKind == JsonValueKind.String
            ? a.GetString()
            : null;
    }

    /// <summary>The <c>integrity</c> field: <c>verified</c> or <c>broken: …</c> with the first break.</summary>
    public static string Integrity(ChainReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return report.IsIntact ? "verified" : $"broken: {report.Issues.Length} issue(s); first: {report.Issues[0]}";
    }
}
