using KruxOS.Audit;
using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>The incremental verification behind GET /api/audit's integrity: reads only what was appended, starts over when a closed file changed.</summary>
public sealed class IncrementalVerifierSpecs : IDisposable
{
    private const string Day1 = "audit-2026-11-23.log";
    private const string Day3 = "audit-2026-11-25.log";
    private readonly TempDir _dir = new();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private AuditChain _chain = AuditChain.FromGenesis();
    private int _n;

    public void Dispose() => _dir.Dispose();

    private void Append(DateTimeOffset day, int count)
    {
        _clock.Now = day;
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        _chain = new AuditChain(recovery.Head.Span);
        using (writer) writer.AppendBatch([.. Enumerable.Range(0, count).Select(_ => _chain.Seal(Drafts.Call(_n++, at: day)))]);
    }

    private static DateTimeOffset Day(int d) => new(2026, 11, 22 + d, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Should_read_only_what_was_appended_and_start_over_when_a_closed_file_changed()
    {
        // arrange
        for (var d = 1; d <= 3; d++) Append(Day(d), 4);
        var v = new IncrementalAuditVerifier(_dir.Path);

        // act + assert: the first call reads everything
        var first = v.Verify();
        Assert.Equal("verified (12 entries across 3 files)", first.Summary);
        Assert.Equal((1L, 12L), (v.FullVerifications, v.LastEntriesRead));

        // two entries appended to the newest file: only they are read
        Append(Day(3), 2);
        var second = v.Verify();
        Assert.Equal((1L, 2L), (v.FullVerifications, v.LastEntriesRead));
        Assert.Equal(AuditVerifier.VerifyDirectory(_dir.Path).Summary, second.Summary);

        // a new day file: the end of the previous one (nothing new) and the new file's entry
        Append(Day(4), 1);
        Assert.Equal("verified (15 entries across 4 files)", v.Verify().Summary);
        Assert.Equal((1L, 1L), (v.FullVerifications, v.LastEntriesRead));

        // nothing changed: nothing read
        v.Verify();
        Assert.Equal((1L, 0L), (v.FullVerifications, v.LastEntriesRead));

        // a closed file is tampered with (same length, new modification time): read everything again, broken
        var path = _dir.File(Day1);
        var bytes = File.ReadAllBytes(path);
        var at = bytes.AsSpan().IndexOf("summary 1"u8);
        bytes[at] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1)); // whatever the file system's timestamp granularity
        var broken = v.Verify();
        Assert.Equal(2L, v.FullVerifications);
        Assert.Equal(AuditVerifier.VerifyDirectory(_dir.Path).Issues, broken.Issues);
        Assert.Equal((ChainIssueKind.HashMismatch, Day1, 1), (broken.Issues[0].Kind, broken.Issues[0].File, broken.Issues[0].EntryIndex));
    }

    [Fact]
    public void Should_report_a_record_cut_short_at_the_end_of_the_newest_file_without_remembering_it()
    {
        // arrange
        Append(Day(3), 3);
        var v = new IncrementalAuditVerifier(_dir.Path);
        v.Verify();
        var path = _dir.File(Day3);
        var length = new FileInfo(path).Length;
        var partial = AuditChain.FromGenesis().Seal(Drafts.Call(99)).Frame[..30].ToArray();

        // act: half a record appears at the end (a write in progress, or a cut), then goes away again
        using (var f = new FileStream(path, FileMode.Append)) f.Write(partial);
        var cut = v.Verify();
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(length);
        Append(Day(3), 1);
        var after = v.Verify();

        // assert
        var issue = Assert.Single(cut.Issues);
        Assert.Equal((ChainIssueKind.TruncatedRecord, Day3, 3, length), (issue.Kind, issue.File, issue.EntryIndex, issue.Offset));
        Assert.True(after.IsIntact, after.Summary);
        Assert.Equal(4, after.Entries);
        Assert.Equal(1L, v.FullVerifications);
    }
}
