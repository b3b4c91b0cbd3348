using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Hosting;
using KruxOS.Audit;
using KruxOS.Core;
using KruxOS.Core.Admin;
using KruxOS.Core.Audit;
using KruxOS.Core.Serialization;

namespace KruxOS.Actors.Audit;

/// <summary>Asks one node for the entries of its own audit chain that match <paramref name="Query"/> (newest first).</summary>
[WireName("audit.node.query.v1")]
public sealed record NodeAuditQuery(AuditQuery Query) : IKruxMessage;

/// <summary>Asks one node to verify its own audit chain.</summary>
[WireName("audit.node.verify.v1")]
public sealed record NodeAuditVerify : IKruxMessage
{
    /// <summary>The one instance.</summary>
    public static readonly NodeAuditVerify Instance = new();
}

/// <summary>
/// One node's matching entries, each as the JSON of <see cref="AuditJson.ToJson"/> (with its <c>node</c>), newest first;
/// <paramref name="Cut"/> when the answer stopped at <see cref="AuditNodeReaderActor.MaxAnswerBytes"/>.
/// </summary>
[WireName("audit.node.entries.v1")]
public sealed record NodeAuditEntries(string Node, ImmutableArray<string> Entries, long Total, bool Cut, string? Error) : IKruxMessage;

/// <summary>One node's verification of its own chain (or why it could not verify).</summary>
[WireName("audit.node.verification.v1")]
public sealed record NodeAuditVerification(string Node, string Directory, ChainReport? Report, string? Error) : IKruxMessage;

/// <summary>Registry key of a cluster node's audit reader.</summary>
public sealed class AuditNodeReaderKey;

/// <summary>
/// A cluster node's read-only access to its own audit directory for cluster-wide <c>kruxos audit query|verify --cluster</c>
/// (ADR 0059): it answers <see cref="NodeAuditQuery"/> and <see cref="NodeAuditVerify"/> from the files, off the actor
/// thread, one at a time (a verification reads every file). It never writes; the writer stays the only one that does.
/// </summary>
public sealed class AuditNodeReaderActor : ReceiveActor
{
    /// <summary>Largest answer of one node, in bytes of entry JSON (remoting carries it in one message).</summary>
    public const int MaxAnswerBytes = 1024 * 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _node;
    private readonly string _directory;

    public AuditNodeReaderActor(string node, string directory)
    {
        _node = node;
        _directory = directory;
        Receive<NodeAuditQuery>(Query);
        Receive<NodeAuditVerify>(_ => Verify());
    }

    /// <summary>The reader of node <paramref name="node"/>'s <paramref name="directory"/>.</summary>
    public static Props Props(string node, string directory) => Akka.Actor.Props.Create(() => new AuditNodeReaderActor(node, directory));

    private void Query(NodeAuditQuery message)
    {
        var replyTo = Sender;
        var node = _node;
        var directory = _directory;
        var query = message.Query is { } q ? q with { Limit = Math.Clamp(q.Limit, 1, AuditQuery.MaxLimit), Offset = Math.Max(0, q.Offset) } : null;
        if (query is null)
        {
            replyTo.Tell(new NodeAuditEntries(node, [], 0, false, "malformed query"));
            return;
        }
        Task.Run(async () =>
        {
            if (!Directory.Exists(directory)) return new NodeAuditEntries(node, [], 0, false, null);
            var page = await new AuditReader(directory).QueryAsync(query).ConfigureAwait(false);
            var entries = ImmutableArray.CreateBuilder<string>();
            var bytes = 0;
            var cut = false;
            foreach (var view in page.Entries)
            {
                var json = AuditJson.ToJson(view);
                json["node"] ??= node; // entries written before the node joined a cluster (schema 1) are still this node's
                var text = json.ToJsonString();
                bytes += Encoding.UTF8.GetByteCount(text);
                if (bytes > MaxAnswerBytes) { cut = true; break; }
                entries.Add(text);
            }
            return new NodeAuditEntries(node, entries.ToImmutable(), page.Total, cut, null);
        }).PipeTo(replyTo, success: r => r, failure: e =>
        {
            _log.Warning(e, "Cluster audit query on {0} failed", directory);
            return new NodeAuditEntries(node, [], 0, false, $"the audit directory could not be read: {e.GetBaseException().Message}");
        });
    }

    private void Verify()
    {
        var replyTo = Sender;
        var node = _node;
        var directory = _directory;
        Task.Run(() => Directory.Exists(directory)
                ? new NodeAuditVerification(node, directory, AuditVerifier.VerifyDirectory(directory), null)
                : new NodeAuditVerification(node, directory, null, "no audit directory"))
            .PipeTo(replyTo, success: r => r, failure: e => new NodeAuditVerification(node, directory, null, $"verification failed: {e.GetBaseException().Message}"));
    }
}

/// <summary>A node that did not answer a cluster-wide audit request (unreachable, or it took too long).</summary>
public sealed record MissingNode(string Node, string Reason);

/// <summary>Every node's matching entries merged newest first, with each node's total and the nodes that did not answer.</summary>
public sealed record ClusterAuditPage(ImmutableArray<JsonObject> Entries, ImmutableArray<NodeAuditEntries> Nodes, ImmutableArray<MissingNode> Missing);

/// <summary>Every node's chain verification, and the nodes that did not answer.</summary>
public sealed record ClusterVerification(ImmutableArray<NodeAuditVerification> Nodes, ImmutableArray<MissingNode> Missing)
{
    /// <summary>True when every member answered and every chain is intact.</summary>
    public bool IsIntact => Missing.IsEmpty && Nodes.All(n => n.Report is { IsIntact: true });
}

/// <summary>
/// Cluster-wide audit for every adapter (<c>kruxos audit query|verify --cluster</c>, ADR 0059): each member's own chain is
/// read by that member's <see cref="AuditNodeReaderActor"/>, and the answers are merged here — entries in time order
/// (newest first), verifications per node. A member that does not answer is listed as missing, never skipped silently.
/// </summary>
public sealed class ClusterAuditAdmin(ActorSystem system, KruxOsSettings settings)
{
    /// <summary>How long each member may take to answer a query.</summary>
    public static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long each member may take to verify its whole chain.</summary>
    public static readonly TimeSpan VerifyTimeout = TimeSpan.FromSeconds(120);

    /// <summary>The path of every node's reader under its gateway root.</summary>
    public const string ReaderName = "audit-reader";

    /// <summary>The entries of every member matching <paramref name="query"/>, merged newest first, at most its limit.</summary>
    public Task<AdminResult<ClusterAuditPage>> QueryAsync(AuditQuery query, CancellationToken ct) => AdminCalls.Guarded<ClusterAuditPage>(async () =>
    {
        ArgumentNullException.ThrowIfNull(query);
        if (!settings.UseClustering) return AdminErrors.InvalidInput("this gateway is not in a cluster; query its audit directory without --cluster");
        if (query.Limit is < 1 or > AuditQuery.MaxLimit) return AdminErrors.InvalidInput($"limit must be from 1 to {AuditQuery.MaxLimit}");
        // Each node returns its first `limit` entries; the merge keeps the newest `limit` of all of them.
        var (answers, missing) = await AskAll<NodeAuditEntries>(new NodeAuditQuery(query with { Offset = 0 }), QueryTimeout, ct).ConfigureAwait(false);
        var merged = answers
            .SelectMany(a => a.Entries.Select(e => JsonNode.Parse(e) as JsonObject).OfType<JsonObject>())
            .OrderByDescending(e => e["timestamp"]?.GetValue<string>(), StringComparer.Ordinal)
            .ThenBy(e => e["node"]?.GetValue<string>(), StringComparer.Ordinal)
            .Take(query.Limit)
            .ToImmutableArray();
        return new ClusterAuditPage(merged, [.. answers.OrderBy(a => a.Node, StringComparer.Ordinal)], missing);
    });

    /// <summary>Every member's verification of its own chain.</summary>
    public Task<AdminResult<ClusterVerification>> VerifyAsync(CancellationToken ct) => AdminCalls.Guarded<ClusterVerification>(async () =>
    {
        if (!settings.UseClustering) return AdminErrors.InvalidInput("this gateway is not in a cluster; verify its audit directory without --cluster");
        var (answers, missing) = await AskAll<NodeAuditVerification>(NodeAuditVerify.Instance, VerifyTimeout, ct).ConfigureAwait(false);
        return new ClusterVerification([.. answers.OrderBy(a => a.Node, StringComparer.Ordinal)], missing);
    });

    private async Task<(ImmutableArray<T> Answers, ImmutableArray<MissingNode> Missing)> AskAll<T>(object message, TimeSpan timeout, CancellationToken ct)
    {
        var members = Akka.Cluster.Cluster.Get(system).State.Members
            .Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp && m.HasRole(KruxOsHostingExtensions.GatewayRole))
            .Select(m => m.Address)
            .ToList();
        var asks = members.Select(async address =>
        {
            var node = Cluster.NodeId.Of(address);
            try
            {
                var reader = system.ActorSelection(new RootActorPath(address) / "user" / "gateway" / ReaderName);
                return (Node: node, Answer: (object?)await reader.Ask<T>(message, timeout, ct).ConfigureAwait(false), Why: (string?)null);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or ActorNotFoundException)
            {
                return (node, null, $"no answer within {timeout.TotalSeconds:0} s");
            }
        }).ToList();
        var results = await Task.WhenAll(asks).ConfigureAwait(false);
        return ([.. results.Where(r => r.Answer is T).Select(r => (T)r.Answer!)],
            [.. results.Where(r => r.Answer is not T).Select(r => new MissingNode(r.Node, r.Why ?? "no answer")).OrderBy(m => m.Node, StringComparer.Ordinal)]);
    }
}
