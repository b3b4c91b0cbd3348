using System.Collections.Immutable;
using System.Text;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Policy;

/// <summary>
/// One policy revision of a cluster (ADR 0059): the policy files as text, their content revision, and the cluster's
/// <see cref="Generation"/> — the ledger's sequence, 1 for the first set ever published, 0 while none was. Every node
/// decides under the highest generation it has seen and never under a lower one.
/// </summary>
/// <param name="Generation">The ledger's count of published sets; strictly increasing.</param>
/// <param name="Revision">The content revision (<see cref="PolicyCompiler.Revision"/>) of <paramref name="Files"/>.</param>
/// <param name="Files">The files by path relative to the policy directory (<c>org.yaml</c>, <c>agents/bot.yaml</c>).</param>
/// <param name="Origin">The node that proposed it (its cluster address), or empty for the empty ledger.</param>
/// <param name="At">When the ledger accepted it.</param>
[WireName("policy.ledger.revision.v1")]
public sealed record ClusterPolicyRevision(long Generation, string Revision, ImmutableSortedDictionary<string, string> Files, string Origin, DateTimeOffset At)
    : IKruxMessage
{
    /// <summary>The state of a ledger nothing was ever published to.</summary>
    public static readonly ClusterPolicyRevision None =
        new(0, "none", ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal), "", DateTimeOffset.UnixEpoch);
}

/// <summary>Commands to the cluster's policy ledger (one singleton).</summary>
public interface IPolicyLedgerCommand : IKruxMessage;

/// <summary>The commands.</summary>
public static class PolicyLedgerCommands
{
    /// <summary>
    /// A node's compiled policy files, proposed as the next revision. <paramref name="BasedOn"/> is the generation the node
    /// had in force when its files changed: a proposal made on an older generation than the ledger's is refused
    /// (compare-and-set), so an edit never silently replaces one it did not see.
    /// </summary>
    [WireName("policy.ledger.propose.v1")]
    public sealed record Propose(long BasedOn, ImmutableSortedDictionary<string, string> Files, string Origin) : IPolicyLedgerCommand;

    /// <summary>The revision in force (answered with a <see cref="ClusterPolicyRevision"/>).</summary>
    [WireName("policy.ledger.get.v1")]
    public sealed record GetCurrent : IPolicyLedgerCommand
    {
        /// <summary>The one instance.</summary>
        public static readonly GetCurrent Instance = new();
    }
}

/// <summary>The ledger's answers to <see cref="PolicyLedgerCommands.Propose"/>.</summary>
public static class PolicyLedgerReplies
{
    /// <summary>The proposal is (or already was) the revision in force, at <see cref="ClusterPolicyRevision.Generation"/>.</summary>
    [WireName("policy.ledger.accepted.v1")]
    public sealed record Accepted(ClusterPolicyRevision Current) : IKruxMessage;

    /// <summary>The proposal was refused; <paramref name="Current"/> stays in force.</summary>
    [WireName("policy.ledger.refused.v1")]
    public sealed record Refused(string Reason, bool Stale, ClusterPolicyRevision Current) : IKruxMessage;
}

/// <summary>The ledger's one event.</summary>
[WireName("policy.ledger.published.v1")]
public sealed record PolicyRevisionPublished(string Revision, ImmutableSortedDictionary<string, string> Files, string Origin, DateTimeOffset At) : IKruxMessage;

/// <summary>
/// The pure decisions of the cluster's policy ledger and of the nodes that mirror it: which proposals become revisions,
/// and which file names a node may write when it mirrors a revision into its policy directory.
/// </summary>
public static class PolicyLedger
{
    /// <summary>Most files one revision may hold (system, org, user and one per agent).</summary>
    public const int MaxFiles = 1024;

    /// <summary>Largest total size of one revision's files, in UTF-8 bytes (the journal and remoting carry it whole).</summary>
    public const int MaxTotalBytes = 512 * 1024;

    /// <summary>The ledger's answer to <paramref name="proposal"/>, and the event to persist (none when nothing changes).</summary>
    public static (object Reply, PolicyRevisionPublished? Event) Decide(ClusterPolicyRevision current, PolicyLedgerCommands.Propose proposal, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(proposal);
        if (proposal.Files is null || proposal.Origin is null) return (new PolicyLedgerReplies.Refused("malformed proposal", false, current), null);
        if (FilesError(proposal.Files) is { } bad) return (new PolicyLedgerReplies.Refused(bad, false, current), null);
        var revision = PolicyCompiler.Revision(proposal.Files);
        if (revision == current.Revision) return (new PolicyLedgerReplies.Accepted(current), null);
        if (proposal.BasedOn != current.Generation)
            return (new PolicyLedgerReplies.Refused(
                $"the files were edited on generation {proposal.BasedOn}, but the cluster is at generation {current.Generation} (revision {current.Revision})",
                true, current), null);
        var published = new PolicyRevisionPublished(revision, proposal.Files, proposal.Origin, now);
        return (new PolicyLedgerReplies.Accepted(Apply(current, published)), published);
    }

    /// <summary>The ledger state after <paramref name="published"/>.</summary>
    public static ClusterPolicyRevision Apply(ClusterPolicyRevision current, PolicyRevisionPublished published)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(published);
        return new ClusterPolicyRevision(current.Generation + 1, published.Revision, published.Files, published.Origin, published.At);
    }

    /// <summary>
    /// Whether a node should put <paramref name="candidate"/> in force when it holds <paramref name="inForce"/>: only a
    /// strictly newer generation. A late or replayed answer never brings back an older revision.
    /// </summary>
    public static bool Supersedes(ClusterPolicyRevision candidate, long inForce) => candidate is not null && candidate.Generation > inForce;

    /// <summary>
    /// Why <paramref name="files"/> cannot be a cluster revision, or null: too many, too large, or a path that is not a
    /// policy location written exactly (<see cref="IsMirrorablePath"/>). A node writes these names into its own policy
    /// directory as root, so nothing but the five forms is ever accepted.
    /// </summary>
    public static string? FilesError(IReadOnlyDictionary<string, string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count > MaxFiles) return $"{files.Count} policy files; at most {MaxFiles}";
        long total = 0;
        foreach (var (path, text) in files)
        {
            if (!IsMirrorablePath(path)) return $"'{Printable(path)}' is not a policy file path (system.yaml, org.yaml, user.yaml, agents/<name>.yaml)";
            if (text is null) return $"'{path}' has no content";
            total += Encoding.UTF8.GetByteCount(text);
            if (total > MaxTotalBytes) return $"the policy files exceed {MaxTotalBytes:N0} bytes together";
        }
        return null;
    }

    /// <summary>
    /// True only for <c>system</c>, <c>org</c>, <c>user</c> or <c>agents/&lt;agent name&gt;</c> followed by <c>.yaml</c> or
    /// <c>.yml</c>, exactly: no leading <c>./</c> or <c>/</c>, no backslash, no <c>..</c>, no other directory.
    /// </summary>
    public static bool IsMirrorablePath(string? path)
    {
        if (string.IsNullOrEmpty(path)) return false;
        var stem = path.EndsWith(".yaml", StringComparison.Ordinal) ? path[..^5]
            : path.EndsWith(".yml", StringComparison.Ordinal) ? path[..^4] : null;
        return stem switch
        {
            null => false,
            "system" or "org" or "user" => true,
            _ => stem.StartsWith("agents/", StringComparison.Ordinal) && AgentName.TryParse(stem[7..], out _, out _),
        };
    }

    private static string Printable(string path)
    {
        var sb = new StringBuilder();
        foreach (var c in path.Length > 80 ? path[..80] : path) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }
}
