using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

public sealed class ChainVerifierSpecs
{
    private const string Day1 = "audit-2026-11-23.log";
    private const string Day2 = "audit-2026-11-24.log";
    private const string Day3 = "audit-2026-11-25.log";

    private static AuditFileFrames Scan(string file, IEnumerable<SealedAuditRecord> records) =>
        AuditFraming.Scan(file, AuditTestData.Concat(records));

    [Fact]
    public void Should_verify_an_intact_chain_across_files()
    {
        var all = AuditTestData.Chain(9);

        var report = ChainVerifier.Verify([Scan(Day1, all[..3]), Scan(Day2, all[3..6]), Scan(Day3, all[6..])]);

        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(9, report.Entries);
        Assert.Equal("verified (9 entries across 3 files)", report.Summary);
        Assert.Equal(all[^1].Entry.EntryHash, report.LastHash);
    }

    [Fact]
    public void Should_locate_a_flipped_byte_as_a_hash_mismatch()
    {
        var all = AuditTestData.Chain(5);
        var bytes = AuditTestData.Concat(all);
        var offset = (int)Scan(Day1, all).Frames[2].Offset;
        var at = bytes.AsSpan(offset).IndexOf("read 2 bytes"u8) + offset;
        bytes[at] ^= 0x01; // 'r' -> 's'

        var report = ChainVerifier.Verify([AuditFraming.Scan(Day1, bytes)]);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(ChainIssueKind.HashMismatch, issue.Kind);
        Assert.Equal(2, issue.EntryIndex);
        Assert.Equal(offset, issue.Offset);
    }

    [Fact]
    public void Should_locate_a_deleted_entry()
    {
        var all = AuditTestData.Chain(5);
        all.RemoveAt(2);

        var report = ChainVerifier.Verify([Scan(Day1, all)]);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(ChainIssueKind.MissingEntry, issue.Kind);
        Assert.Equal(2, issue.EntryIndex);
    }

    [Fact]
    public void Should_locate_two_swapped_entries_as_reordered()
    {
        var all = AuditTestData.Chain(6);
        (all[2], all[3]) = (all[3], all[2]);

        var report = ChainVerifier.Verify([Scan(Day1, all)]);

        Assert.False(report.IsIntact);
        Assert.All(report.Issues, i => Assert.Equal(ChainIssueKind.Reordered, i.Kind));
        Assert.Equal(2, report.FirstProblem!.EntryIndex);
    }

    [Fact]
    public void Should_locate_a_truncated_record()
    {
        var all = AuditTestData.Chain(4);
        var bytes = AuditTestData.Concat(all);
        var frames = Scan(Day1, all).Frames;
        var cut = bytes[..(int)(frames[3].Offset + 10)];

        var report = ChainVerifier.Verify([AuditFraming.Scan(Day1, cut)]);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(ChainIssueKind.TruncatedRecord, issue.Kind);
        Assert.Equal(3, issue.EntryIndex);
        Assert.Equal(frames[3].Offset, issue.Offset);
    }

    [Fact]
    public void Should_locate_a_missing_day_file()
    {
        var all = AuditTestData.Chain(9);

        var report = ChainVerifier.Verify([Scan(Day1, all[..3]), Scan(Day3, all[6..])]);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(ChainIssueKind.MissingFile, issue.Kind);
        Assert.Equal(Day3, issue.File);
        Assert.Equal(0, issue.EntryIndex);
    }

    [Fact]
    public void Should_report_a_missing_oldest_file_against_genesis()
    {
        var all = AuditTestData.Chain(6);

        var report = ChainVerifier.Verify([Scan(Day2, all[3..])]);

        Assert.Equal(ChainIssueKind.MissingFile, Assert.Single(report.Issues).Kind);
        Assert.True(ChainVerifier.Verify([Scan(Day2, all[3..])], Convert.FromHexString(all[2].Entry.EntryHash!)).IsIntact);
    }

    [Fact]
    public void Should_report_garbage_after_the_last_record()
    {
        var all = AuditTestData.Chain(3);
        byte[] bytes = [.. AuditTestData.Concat(all), 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01];

        var report = ChainVerifier.Verify([AuditFraming.Scan(Day1, bytes)]);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(ChainIssueKind.GarbageAfterEnd, issue.Kind);
        Assert.Equal(3, issue.EntryIndex);
    }

    [Fact]
    public void Should_report_a_corrupt_record_and_keep_checking_the_rest()
    {
        var all = AuditTestData.Chain(5);
        var bytes = AuditTestData.Concat(all);
        var frames = Scan(Day1, all).Frames;
        bytes[frames[1].Offset + 4] = 0x00; // map header becomes the integer 0
        var second = AuditTestData.Chain(1, new AuditChain(Convert.FromHexString("00" + new string('0', 62))));
        byte[] withBrokenTail = [.. bytes, .. AuditTestData.Concat(second)];

        var report = ChainVerifier.Verify([AuditFraming.Scan(Day1, withBrokenTail)]);

        Assert.Equal(ChainIssueKind.CorruptRecord, report.Issues[0].Kind);
        Assert.Equal(1, report.Issues[0].EntryIndex);
        Assert.Equal(ChainIssueKind.MissingEntry, report.Issues[1].Kind);
        Assert.Equal(5, report.Issues[1].EntryIndex);
    }
}
