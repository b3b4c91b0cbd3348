using System.Collections.Immutable;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Tests.Serialization;

/// <summary>Round-trip samples of the cluster-wide policy ledger and audit messages (ADR 0059).</summary>
internal static class ClusterWideWireSamples
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    public static IEnumerable<object> All()
    {
        var files = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
            [KeyValuePair.Create("org.yaml", "rules: []\n"), KeyValuePair.Create("agents/bot.yaml", "rules: []\n")]);
        var revision = new ClusterPolicyRevision(3, PolicyCompiler.Revision(files), files, "akka.tcp://kruxos@10.0.0.11:7710", At);
        yield return revision;
        yield return new PolicyLedgerCommands.Propose(2, files, "akka.tcp://kruxos@10.0.0.12:7710");
        yield return PolicyLedgerCommands.GetCurrent.Instance;
        yield return new PolicyLedgerReplies.Accepted(revision);
        yield return new PolicyLedgerReplies.Refused("stale", true, revision);
        yield return new PolicyRevisionPublished(revision.Revision, files, revision.Origin, At);
        yield return new NodeAuditQuery(new AuditQuery { Agent = "bot", Capability = "filesystem.*", Status = AuditStatus.Denied, Last = TimeSpan.FromHours(1), Limit = 20 });
        yield return NodeAuditVerify.Instance;
        yield return new NodeAuditEntries("10.0.0.11:7710", ["""{"id":"x","node":"10.0.0.11:7710"}"""], 1, false, null);
        yield return new NodeAuditVerification("10.0.0.11:7710", "/var/lib/kruxos/audit",
            new ChainReport([new ChainIssue(ChainIssueKind.HashMismatch, "audit-2026-12-07.log", 2, 120, "modified")], 3, 1, new string('0', 64)), null);
    }
}
