using KruxOS.Audit;
using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Actors.Tests.Audit;

public sealed class AuditStorageSpecs : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Dispose();

    private const string Day1 = "audit-2026-11-23.log";
    private const string Day2 = "audit-2026-11-24.log";
    private const string Day3 = "audit-2026-11-25.log";

    /// <summary>Three day files of four entries each, written through the writer with the index.</summary>
    private List<SealedAuditRecord> WriteThreeDays()
    {
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        var all = new List<SealedAuditRecord>();
        using (writer)
        {
            for (var day = 0; day < 3; day++)
            {
                _clock.Now = new DateTimeOffset(2026, 11, 23 + day, 12, 0, 0, TimeSpan.Zero);
                var batch = Enumerable.Range(day * 4, 4).Select(i => chain.Seal(Drafts.Call(i, at: _clock.Now.AddSeconds(i)))).ToList();
                writer.AppendBatch(batch[..2]);
                writer.AppendBatch(batch[2..]);
                all.AddRange(batch);
            }
        }
        return all;
    }

    private static List<AuditFrame> Frames(string path) => [.. AuditDirectory.ReadFrames(path, new TailHolder())];

    [Fact]
    public void Should_chain_day_files_across_midnight_and_verify_intact()
    {
        var all = WriteThreeDays();

        var report = AuditVerifier.VerifyDirectory(_dir.Path);
        var entries = Drafts.ReadAll(_dir.Path);

        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal("verified (12 entries across 3 files)", report.Summary);
        Assert.Equal([Day1, Day2, Day3], AuditDirectory.ListDayFiles(_dir.Path).Select(f => f.Name));
        Assert.Equal(entries[3].EntryHash, entries[4].PreviousHash); // first of day 2 chains from last of day 1
        Assert.Equal(Convert.ToHexStringLower(AuditCbor.Genesis), entries[0].PreviousHash);
        Assert.Equal(all.Select(r => r.Entry.Id), entries.Select(e => e.Id));
        Assert.DoesNotContain(entries, e => e.Inputs.GetRawText().Contains("hunter2", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_detect_and_locate_a_flipped_byte()
    {
        WriteThreeDays();
        var path = _dir.File(Day2);
        var frame = Frames(path)[1];
        var bytes = File.ReadAllBytes(path);
        var at = bytes.AsSpan((int)frame.Offset).IndexOf("summary 5"u8) + (int)frame.Offset;
        bytes[at + 8] ^= 0x02; // "summary 5" -> "summary 7"
        File.WriteAllBytes(path, bytes);

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        var issue = Assert.Single(report.Issues);
        Assert.Equal(new ChainIssue(ChainIssueKind.HashMismatch, Day2, 1, frame.Offset, issue.Detail), issue);
    }

    [Fact]
    public void Should_detect_and_locate_a_deleted_entry()
    {
        WriteThreeDays();
        var path = _dir.File(Day2);
        var frames = Frames(path);
        var bytes = File.ReadAllBytes(path);
        var start = (int)frames[2].Offset;
        var end = (int)frames[3].Offset;
        File.WriteAllBytes(path, [.. bytes[..start], .. bytes[end..]]);

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        Assert.Equal(ChainIssueKind.MissingEntry, report.FirstProblem!.Kind);
        Assert.Equal((Day2, 2, (long)start), (report.FirstProblem.File, report.FirstProblem.EntryIndex, report.FirstProblem.Offset));
    }

    [Fact]
    public void Should_detect_and_locate_two_swapped_entries()
    {
        WriteThreeDays();
        var path = _dir.File(Day2);
        var frames = Frames(path);
        var bytes = File.ReadAllBytes(path);
        byte[] Frame(int i) => bytes[(int)frames[i].Offset..(int)(frames[i].Offset + 4 + frames[i].Payload.Length)];
        File.WriteAllBytes(path, [.. Frame(0), .. Frame(2), .. Frame(1), .. Frame(3)]);

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        Assert.NotEmpty(report.Issues);
        Assert.All(report.Issues, i => Assert.Equal(ChainIssueKind.Reordered, i.Kind));
        Assert.Equal((Day2, 1, frames[1].Offset), (report.FirstProblem!.File, report.FirstProblem.EntryIndex, report.FirstProblem.Offset));
    }

    [Fact]
    public void Should_detect_and_locate_a_truncated_file()
    {
        WriteThreeDays();
        var path = _dir.File(Day2);
        var frames = Frames(path);
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(frames[3].Offset + 7);

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        Assert.Equal(new ChainIssue(ChainIssueKind.TruncatedRecord, Day2, 3, frames[3].Offset, report.FirstProblem!.Detail), report.FirstProblem);
    }

    [Fact]
    public void Should_detect_a_newest_file_cut_at_a_record_boundary_through_the_index()
    {
        WriteThreeDays();
        var path = _dir.File(Day3);
        var frames = Frames(path);
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(frames[3].Offset);

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        var issue = Assert.Single(report.Issues);
        Assert.Equal((ChainIssueKind.TruncatedRecord, Day3), (issue.Kind, issue.File));
    }

    [Fact]
    public void Should_detect_and_locate_a_deleted_day_file()
    {
        WriteThreeDays();
        File.Delete(_dir.File(Day2));

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        Assert.Contains(report.Issues, i => i is { Kind: ChainIssueKind.MissingFile, File: Day3, EntryIndex: 0, Offset: 0 });
        Assert.Contains(report.Issues, i => i is { Kind: ChainIssueKind.MissingFile, File: Day2 }); // from the index
    }

    [Fact]
    public void Should_detect_and_locate_a_deleted_newest_day_file_through_the_index_and_only_through_it()
    {
        // arrange
        WriteThreeDays();

        // act: the newest day file is deleted as a whole
        File.Delete(_dir.File(Day3));
        var withIndex = AuditVerifier.VerifyDirectory(_dir.Path);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_dir.File(AuditFileNames.Index));
        var withoutIndex = AuditVerifier.VerifyDirectory(_dir.Path);

        // assert: the index's files table witnesses it, located; the chain alone cannot (day 2 now ends the log cleanly)
        var issue = Assert.Single(withIndex.Issues);
        Assert.Equal((ChainIssueKind.MissingFile, Day3, 0, 0L), (issue.Kind, issue.File, issue.EntryIndex, issue.Offset));
        Assert.Contains("4 entries", issue.Detail, StringComparison.Ordinal);
        Assert.True(withoutIndex.IsIntact, withoutIndex.Summary); // the documented limit (audit-format.md §4.2)
    }

    [Fact]
    public void Should_not_call_a_day_file_missing_that_a_running_writer_created_after_the_listing()
    {
        // arrange: the verifier listed the directory before the writer created day 3 and indexed its entries
        WriteThreeDays();
        var listedEarlier = AuditDirectory.ListDayFiles(_dir.Path).Where(f => f.Name != Day3).ToList();

        // act
        var issues = AuditVerifier.IndexIssues(_dir.Path, listedEarlier);
        File.Delete(_dir.File(Day3));
        var afterDeletion = AuditVerifier.IndexIssues(_dir.Path, listedEarlier);

        // assert: a file on disk now is not missing; once really gone it is
        Assert.Empty(issues);
        Assert.Equal((ChainIssueKind.MissingFile, Day3), (Assert.Single(afterDeletion).Kind, afterDeletion[0].File));
    }

    [Fact]
    public void Should_end_a_live_verification_when_the_node_stops_and_otherwise_read_every_file()
    {
        // arrange: three days of entries; a stop already asked for
        WriteThreeDays();
        using var stopping = new CancellationTokenSource();
        stopping.Cancel();

        // act
        var whole = AuditVerifier.VerifyLive(_dir.Path);

        // assert: a stopping node's verification ends (its stop does not wait for a long read); otherwise it is complete
        Assert.Throws<OperationCanceledException>(() => AuditVerifier.VerifyLive(_dir.Path, stopping.Token));
        Assert.True(whole.Report.IsIntact, whole.Report.Summary);
    }

    [Fact]
    public void Should_detect_a_deleted_day_file_without_the_index()
    {
        WriteThreeDays();
        File.Delete(_dir.File(Day2));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_dir.File(AuditFileNames.Index));

        var report = AuditVerifier.VerifyDirectory(_dir.Path);

        var issue = Assert.Single(report.Issues);
        Assert.Equal((ChainIssueKind.MissingFile, Day3, 0), (issue.Kind, issue.File, issue.EntryIndex));
    }

    [Fact]
    public void Should_cut_a_torn_tail_on_open_keep_it_as_evidence_and_continue_the_chain()
    {
        var all = WriteThreeDays();
        var path = _dir.File(Day3);
        var sizeBefore = new FileInfo(path).Length;
        var torn = AuditChain.FromGenesis().Seal(Drafts.Call(99)).Frame[..40].ToArray();
        using (var f = new FileStream(path, FileMode.Append)) f.Write(torn);

        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        using (writer)
        {
            Assert.Equal(Day3, recovery.TornFile);
            Assert.Equal(40, recovery.TornBytes);
            Assert.Null(recovery.Break);
            Assert.Equal(sizeBefore, new FileInfo(path).Length);
            Assert.Equal(torn, File.ReadAllBytes(recovery.TornEvidence!));
            Assert.Equal(all[^1].EntryHash.ToArray(), recovery.Head.ToArray());
            var chain = new AuditChain(recovery.Head.Span);
            writer.AppendBatch([chain.Seal(Drafts.Call(12))]);
        }

        var report = AuditVerifier.VerifyDirectory(_dir.Path);
        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(13, report.Entries);
    }

    [Fact]
    public void Should_report_garbage_at_the_tail_as_a_break_on_open()
    {
        WriteThreeDays();
        using (var f = new FileStream(_dir.File(Day3), FileMode.Append)) f.Write([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);

        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        writer.Dispose();

        Assert.Equal(ChainIssueKind.GarbageAfterEnd, recovery.Break!.Kind);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    [Fact]
    public void Should_report_a_break_in_the_newest_file_on_open()
    {
        WriteThreeDays();
        var path = _dir.File(Day3);
        var frame = Frames(path)[2];
        var bytes = File.ReadAllBytes(path);
        var at = bytes.AsSpan((int)frame.Offset).IndexOf("summary 10"u8) + (int)frame.Offset;
        bytes[at] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        writer.Dispose();

        Assert.Equal((ChainIssueKind.HashMismatch, Day3, 2), (recovery.Break!.Kind, recovery.Break.File, recovery.Break.EntryIndex));
    }

    [Fact]
    public void Should_undo_a_batch_whose_fsync_failed_and_write_it_once_on_retry()
    {
        var fs = new FlakyFileSystem();
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, fs);
        var chain = new AuditChain(recovery.Head.Span);
        var first = new[] { chain.Seal(Drafts.Call(0)) };
        var second = new[] { chain.Seal(Drafts.Call(1)), chain.Seal(Drafts.Call(2)) };
        using (writer)
        {
            writer.AppendBatch(first);
            fs.FailSync = true;
            Assert.Throws<IOException>(() => writer.AppendBatch(second));
            fs.FailSync = false;
            writer.AppendBatch(second);
        }

        var entries = Drafts.ReadAll(_dir.Path);
        Assert.Equal(3, entries.Count);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    [Fact]
    public void Should_fsync_the_directory_once_per_new_day_file_and_when_the_anchor_file_is_created()
    {
        // arrange
        var fs = new FlakyFileSystem();
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, fs, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            // act: two batches into day 1, then a batch into day 2 whose directory fsync fails once
            writer.AppendBatch([chain.Seal(Drafts.Call(0))]);
            writer.AppendBatch([chain.Seal(Drafts.Call(1))]);
            Assert.Single(fs.DirectorySyncs);
            _clock.Now = _clock.Now.AddDays(1);
            var next = new[] { chain.Seal(Drafts.Call(2)) };
            fs.FailDirectorySync = true;
            Assert.Throws<IOException>(() => writer.AppendBatch(next));
            // the batch is not durable without its file's name: it was cut back and is written once on retry
            Assert.Equal(0, new FileInfo(_dir.File(Day2)).Length);
            fs.FailDirectorySync = false;
            writer.AppendBatch(next);
            writer.AppendBatch([chain.Seal(Drafts.Call(3))]);
        }

        // assert
        Assert.Equal([_dir.Path, _dir.Path], fs.DirectorySyncs);
        Assert.Equal(4, Drafts.ReadAll(_dir.Path).Count);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);

        // retention creating audit-anchors.jsonl syncs the directory before deleting anything; appending to it does not
        Assert.Empty(AuditRetention.Run(_dir.Path, 1, _clock.Now.AddDays(30), fs).Deleted); // the 7-day warning first
        Assert.Equal(2, AuditRetention.Run(_dir.Path, 1, _clock.Now.AddDays(38), fs).Deleted.Count);
        Assert.True(File.Exists(_dir.File(AuditFileNames.Anchors)));
        Assert.Equal(3, fs.DirectorySyncs.Count);
    }

    [Fact]
    public async Task Should_filter_queries_by_agent_capability_status_time_and_session()
    {
        _clock.Now = Drafts.T0.AddHours(2);
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            writer.AppendBatch([
                chain.Seal(Drafts.Call(0, "alice", "filesystem.read", at: Drafts.T0, duration: 10)),
                chain.Seal(Drafts.Call(1, "alice", "filesystem.write", AuditStatus.Denied, at: Drafts.T0.AddMinutes(30), duration: 20)),
                chain.Seal(Drafts.Call(2, "bob", "network.fetch", session: "s-2", at: Drafts.T0.AddMinutes(70), duration: 30)),
                chain.Seal(Drafts.Call(3, "bob", "filesystem.read", AuditStatus.Error, session: "s-2", at: Drafts.T0.AddMinutes(90), duration: 40)),
                chain.Seal(Drafts.Call(4, "carol", "state.shared.set", at: Drafts.T0.AddMinutes(100), duration: 1000)),
            ]);
        }
        var reader = new AuditReader(_dir.Path, _clock);
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(2, (await reader.QueryAsync(new AuditQuery { Agent = "alice" }, ct)).Total);
        Assert.Equal([3, 0], (await reader.QueryAsync(new AuditQuery { Capability = "filesystem.r*" }, ct)).Entries.Select(Num));
        Assert.Equal(3, (await reader.QueryAsync(new AuditQuery { Capability = "filesystem.*" }, ct)).Total);
        Assert.Equal([1], (await reader.QueryAsync(new AuditQuery { Status = AuditStatus.Denied }, ct)).Entries.Select(Num));
        Assert.Equal([4, 3, 2], (await reader.QueryAsync(new AuditQuery { Last = TimeSpan.FromHours(1) }, ct)).Entries.Select(Num));
        Assert.Equal([2, 1], (await reader.QueryAsync(new AuditQuery { From = Drafts.T0.AddMinutes(30), To = Drafts.T0.AddMinutes(90) }, ct)).Entries.Select(Num));
        Assert.Equal([2, 3], (await reader.ReplayAsync("s-2", ct: ct)).Entries.Select(Num));
        var page = await reader.QueryAsync(new AuditQuery { Limit = 2, Offset = 1 }, ct);
        Assert.Equal(5L, page.Total);
        Assert.Equal([3, 2], page.Entries.Select(Num));
        Assert.Equal(("audit-2026-11-25.log", 3), (page.Entries[0].Position.File, page.Entries[0].Position.EntryIndex));

        var stats = await reader.StatsAsync(new AuditQuery(), ct: ct);
        Assert.Equal(5, stats.Stats.Total);
        Assert.Equal(3, stats.Stats.ByStatus["success"]);
        Assert.Equal(2, stats.Stats.ByCapability["filesystem.read"]);
        Assert.Equal(30, stats.Stats.P50DurationMs);
        Assert.Equal(1000, stats.Stats.P95DurationMs);
        Assert.Equal("verified (5 entries across 1 files)", stats.ChainSummary);

        static int Num(AuditRecordView v) => int.Parse(v.Entry.OutputSummary["summary ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Should_count_a_blocked_call_once_in_the_outcomes_and_its_policy_violation_apart()
    {
        // arrange: a blocked call (its policy_violation entry, then the call), an allowed one, and an approval resolution
        _clock.Now = Drafts.T0.AddHours(1);
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        var blocked = Drafts.Call(0, status: AuditStatus.Denied, duration: 0);
        using (writer)
        {
            writer.AppendBatch([
                chain.Seal(AuditEntry.PolicyViolation(blocked.Timestamp, blocked.Actor, blocked.SessionId, Core.Capabilities.CapabilityName.Parse(blocked.Capability),
                    blocked.Inputs, new AuditPolicyDecision(Core.Capabilities.Tier.Blocked, "org.yaml:3"))),
                chain.Seal(blocked),
                chain.Seal(Drafts.Call(1, duration: 20)),
                chain.Seal(AuditEntry.ApprovalResolution(Drafts.T0.AddSeconds(2), Core.Agents.Principal.ForUser("op"), blocked.Actor, "s-1",
                    Core.Capabilities.CapabilityName.Parse("email.send"), "appr-1", "approved", null)),
            ]);
        }

        // act
        var stats = (await new AuditReader(_dir.Path, _clock).StatsAsync(new AuditQuery(), verifyChain: false, TestContext.Current.CancellationToken)).Stats;

        // assert
        Assert.Equal(2, stats.Total);
        Assert.Equal(new Dictionary<string, long> { ["denied"] = 1, ["success"] = 1 }, stats.ByStatus);
        Assert.Equal(new Dictionary<string, long> { ["approval_resolution"] = 1, ["policy_violation"] = 1 }, stats.OtherKinds);
        Assert.Equal(2, stats.ByCapability["filesystem.read"]);
        Assert.Equal(20, stats.P95DurationMs);
    }

    [Fact]
    public async Task Should_rebuild_a_deleted_index_from_the_day_files()
    {
        WriteThreeDays();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_dir.File(AuditFileNames.Index));

        var page = await new AuditReader(_dir.Path, _clock).QueryAsync(new AuditQuery { Limit = 100 }, TestContext.Current.CancellationToken);

        Assert.Equal(12, page.Total);
        Assert.Equal(12, page.Entries.Select(e => e.Entry.Id).Distinct().Count());
    }

    [Fact]
    public void Should_warn_seven_days_before_the_first_deletion_and_keep_the_chain_verifiable()
    {
        var today = new DateTimeOffset(2026, 11, 25, 3, 0, 0, TimeSpan.Zero);
        var days = new[] { -100, -95, -86, -10, 0 };
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            var n = 0;
            foreach (var d in days)
            {
                _clock.Now = today.AddDays(d);
                writer.AppendBatch([chain.Seal(Drafts.Call(n++, at: _clock.Now)), chain.Seal(Drafts.Call(n++, at: _clock.Now))]);
            }
        }

        var first = AuditRetention.Run(_dir.Path, 90, today);
        Assert.Empty(first.Deleted);
        Assert.Equal(today.AddDays(7), first.FirstDeletionNotBefore);
        Assert.Contains(first.Warnings, w => w.Contains(AuditFileNames.ForDay(DateOnly.FromDateTime(today.AddDays(-86).UtcDateTime)), StringComparison.Ordinal));

        var later = AuditRetention.Run(_dir.Path, 90, today.AddDays(7));
        Assert.Equal([AuditFileNames.ForDay(new DateOnly(2026, 8, 17)), AuditFileNames.ForDay(new DateOnly(2026, 8, 22)), AuditFileNames.ForDay(new DateOnly(2026, 8, 31))], later.Deleted);
        Assert.Equal(2, AuditDirectory.ListDayFiles(_dir.Path).Count);
        var report = AuditVerifier.VerifyDirectory(_dir.Path);
        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(4, report.Entries);

        File.Delete(AuditDirectory.ListDayFiles(_dir.Path)[0].Path);
        Assert.Contains(AuditVerifier.VerifyDirectory(_dir.Path).Issues, i => i.Kind == ChainIssueKind.MissingFile);
    }

    [Fact]
    public void Should_verify_a_copied_directory_offline()
    {
        WriteThreeDays();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var copy = new TempDir();
        foreach (var f in Directory.GetFiles(_dir.Path)) File.Copy(f, copy.File(Path.GetFileName(f)));

        var intact = AuditVerifier.VerifyDirectory(copy.Path);
        File.Delete(copy.File(Day1));
        var broken = AuditVerifier.VerifyDirectory(copy.Path);

        Assert.Equal("verified (12 entries across 3 files)", intact.Summary);
        Assert.Contains(broken.Issues, i => i is { Kind: ChainIssueKind.MissingFile, File: Day2, EntryIndex: 0 });
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact); // the original is untouched
    }
}
