using System.Text.Json.Nodes;
using KruxOS.Actors.Audit;
using KruxOS.Core.Audit;

namespace KruxOS.Gateway.Admin;

/// <summary>The JSON of cluster-wide audit answers (<c>audit.cluster_query</c>, <c>audit.cluster_verify</c>; ADR 0059).</summary>
public static class ClusterAuditJson
{
    /// <summary>Every node's entries merged newest first, what each node had, and the nodes that did not answer.</summary>
    public static JsonObject Page(ClusterAuditPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return new JsonObject
        {
            ["entries"] = new JsonArray([.. page.Entries.Select(e => (JsonNode)e.DeepClone())]),
            ["total"] = page.Nodes.Sum(n => n.Total),
            ["nodes"] = new JsonArray([.. page.Nodes.Select(n => (JsonNode)new JsonObject
            {
                ["node"] = n.Node,
                ["total"] = n.Total,
                ["returned"] = n.Entries.Length,
                ["cut"] = n.Cut,
                ["error"] = n.Error,
            })]),
            ["missing"] = Missing(page.Missing),
        };
    }

    /// <summary>Each node's verification of its own chain, whether all are intact, and the nodes that did not answer.</summary>
    public static JsonObject Verification(ClusterVerification v)
    {
        ArgumentNullException.ThrowIfNull(v);
        return new JsonObject
        {
            ["intact"] = v.IsIntact,
            ["nodes"] = new JsonArray([.. v.Nodes.Select(n => (JsonNode)Node(n))]),
            ["missing"] = Missing(v.Missing),
        };
    }

    private static JsonObject Node(NodeAuditVerification n)
    {
        var r = n.Report;
        return new JsonObject
        {
            ["node"] = n.Node,
            ["directory"] = n.Directory,
            ["intact"] = r is { IsIntact: true },
            ["entries"] = r?.Entries,
            ["files"] = r?.Files,
            ["last_hash"] = r is null ? null : "sha256:" + r.LastHash,
            ["summary"] = r is null ? n.Error : r.IsIntact ? r.Summary : $"BROKEN: {r.Issues.Length} issue(s)",
            ["issues"] = new JsonArray([.. (r?.Issues ?? []).Select(i => (JsonNode)new JsonObject
            {
                ["kind"] = i.Kind.ToWire(),
                ["file"] = i.File,
                ["entry_index"] = i.EntryIndex,
                ["offset"] = i.Offset,
                ["detail"] = i.Detail,
            })]),
            ["error"] = n.Error,
        };
    }

    private static JsonArray Missing(IEnumerable<MissingNode> missing) =>
        new([.. missing.Select(m => (JsonNode)new JsonObject { ["node"] = m.Node, ["reason"] = m.Reason })]);
}
