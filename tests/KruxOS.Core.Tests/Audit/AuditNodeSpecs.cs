using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

/// <summary>Schema 2: a cluster node's entries name the node inside the hashed body; schema 1 chains are unchanged (ADR 0059).</summary>
public sealed class AuditNodeSpecs
{
    private const string Day = "audit-2026-11-25.log";
    private const string NodeA = "10.0.0.11:7710";

    [Fact]
    public void Should_seal_the_writers_node_into_a_schema_2_record_that_verifies_after_schema_1_records()
    {
        // arrange: a chain written by a single node (schema 1), then by the same log as a cluster node
        var single = AuditChain.FromGenesis();
        var before = AuditTestData.Chain(3, single);
        var clustered = new AuditChain(single.Head, NodeA);

        // act
        var after = AuditTestData.Chain(3, clustered);

        // assert: the new records carry the node and schema 2; the old ones neither; the whole chain verifies
        Assert.All(before, r => Assert.Equal((null, 1), (AuditCbor.DecodeStored(r.Payload).Node, AuditCbor.DecodeStored(r.Payload).SchemaVersion)));
        Assert.All(after, r => Assert.Equal((NodeA, 2), (AuditCbor.DecodeStored(r.Payload).Node, AuditCbor.DecodeStored(r.Payload).SchemaVersion)));
        var report = ChainVerifier.Verify([AuditFraming.Scan(Day, AuditTestData.Concat([.. before, .. after]))]);
        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(6, report.Entries);
    }

    [Fact]
    public void Should_report_a_record_whose_node_was_rewritten_as_a_hash_mismatch()
    {
        var records = AuditTestData.Chain(3, new AuditChain(AuditCbor.Genesis, NodeA));
        var bytes = AuditTestData.Concat(records);
        var frames = AuditFraming.Scan(Day, bytes).Frames;
        var offset = (int)frames[1].Offset;
        var at = bytes.AsSpan(offset).IndexOf("10.0.0.11"u8) + offset;
        bytes[at + 8] = (byte)'2'; // 10.0.0.11 -> 10.0.0.12: the entry now claims another node

        var report = ChainVerifier.Verify([AuditFraming.Scan(Day, bytes)]);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(ChainIssueKind.HashMismatch, issue.Kind);
        Assert.Equal(1, issue.EntryIndex);
    }

    [Fact]
    public void Should_stamp_the_writers_node_over_whatever_a_draft_claims()
    {
        var draft = AuditTestData.Entry(1) with { Node = "someone-else:1", SchemaVersion = 2 };

        var onCluster = new AuditChain(AuditCbor.Genesis, NodeA).Seal(draft);
        var onSingle = AuditChain.FromGenesis().Seal(draft);

        Assert.Equal((NodeA, 2), (AuditCbor.DecodeStored(onCluster.Payload).Node, AuditCbor.DecodeStored(onCluster.Payload).SchemaVersion));
        Assert.Equal((null, 1), (AuditCbor.DecodeStored(onSingle.Payload).Node, AuditCbor.DecodeStored(onSingle.Payload).SchemaVersion));
    }
}
