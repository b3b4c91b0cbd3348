namespace KruxOS.Core.Cluster;

/// <summary>
/// The journal database's one cluster lease row: which node (its unique address, <c>akka.tcp://kruxos@host:port#uid</c>)
/// holds it, until when (the database's clock, Unix milliseconds), its version (bumped by every write, so writes are
/// compare-and-set) and the database's clock when the row was read.
/// </summary>
public sealed record ClusterLeaseRow(string Holder, long ExpiresAtMs, long Version, long NowMs)
{
    /// <summary>True when nobody holds the lease now.</summary>
    public bool IsFree => Holder.Length == 0 || ExpiresAtMs <= NowMs;
}

/// <summary>What a node may do with the lease it just read.</summary>
public enum ClusterLeaseVerdict
{
    /// <summary>Write it (renew, take over from a member of its own cluster, or take a free lease).</summary>
    Take,

    /// <summary>Another live cluster holds it: this node's cluster must not use the journal.</summary>
    Foreign,
}

/// <summary>
/// The rules of the cluster lease (ADR 0047). The lease is what makes "one journal, one cluster" hold: a node forms a new
/// cluster only after taking a free lease, and the oldest member of a running cluster renews it. Pure decisions; the
/// store applies them with a compare-and-set on the row's version.
/// </summary>
public static class ClusterLeaseRules
{
    /// <summary>
    /// May a node that could not join any seed node form a new cluster? When the lease is free, or when the holder is this
    /// very incarnation (<paramref name="self"/>, unique address with uid): its own earlier write landed although the answer
    /// was lost (a timeout after the database committed), and no other node can write that uid. A live holder that is not
    /// this incarnation means a cluster is using the journal (this node's previous incarnation included — the row outlives
    /// it by at most the lease time, which is the wait).
    /// </summary>
    public static bool MayForm(ClusterLeaseRow row, string self)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentException.ThrowIfNullOrEmpty(self);
        return row.IsFree || string.Equals(row.Holder, self, StringComparison.Ordinal);
    }

    /// <summary>
    /// The oldest member of a running cluster read <paramref name="row"/>. It takes the lease when it already holds it, when
    /// the lease is free, or when the holder is a node its own cluster has had as a member (a handover after the old holder
    /// left, was downed or restarted). A live lease held by any other node belongs to another cluster.
    /// </summary>
    public static ClusterLeaseVerdict ForOldest(ClusterLeaseRow row, string self, IReadOnlySet<string> membersSeen)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(membersSeen);
        if (row.IsFree || string.Equals(row.Holder, self, StringComparison.Ordinal) || membersSeen.Contains(row.Holder))
            return ClusterLeaseVerdict.Take;
        return ClusterLeaseVerdict.Foreign;
    }
}
