using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>The SQLite index is kept off the fsync path: background indexing, catch-up, ordering, read-your-writes.</summary>
public sealed class AuditIndexerSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private const string Day = "audit-2026-11-25.log";
    private readonly TempDir _dir = new();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    /// <summary>Every indexed position, in insertion order (entries get strictly increasing timestamps here).</summary>
    private List<AuditPosition> IndexedPositions()
    {
        using var index = AuditIndex.OpenReadOnly(_dir.Path)!;
        var (positions, total) = index.Find(new AuditQuery { Ascending = true, Limit = AuditQuery.MaxLimit }, _clock.GetUtcNow());
        Assert.Equal(total, positions.Count);
        return [.. positions];
    }

    private long IndexedLength()
    {
        using var index = AuditIndex.OpenReadOnly(_dir.Path)!;
        return index.IndexedLength(Day);
    }

    [Fact]
    public async Task Should_index_pipelined_batches_in_file_order_exactly_once()
    {
        // arrange
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        var written = new List<SealedAuditRecord>();

        // act: 150 batches of 1-3 entries, appended back to back while the indexer runs behind
        using (writer)
        {
            var n = 0;
            for (var b = 0; b < 150; b++)
            {
                var batch = Enumerable.Range(n, 1 + b % 3).Select(i => chain.Seal(Drafts.Call(i))).ToList();
                n += batch.Count;
                writer.AppendBatch(batch);
                written.AddRange(batch);
            }
            await writer.Indexer!.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        }

        // assert
        var positions = IndexedPositions();
        Assert.Equal(written.Count, positions.Count);
        Assert.Equal(Enumerable.Range(0, written.Count), positions.Select(p => p.EntryIndex));
        var frames = AuditDirectory.ReadFrames(_dir.File(Day), new TailHolder()).ToList();
        Assert.Equal(frames.Select(f => f.Offset), positions.Select(p => p.Offset));
        Assert.Equal(new FileInfo(_dir.File(Day)).Length, IndexedLength());
    }

    [Fact]
    public async Task Should_catch_the_index_up_on_open_after_a_crash_between_fsync_and_index_insert()
    {
        // arrange: two indexed entries, then three that are durable but never reached the index
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            writer.AppendBatch([chain.Seal(Drafts.Call(0)), chain.Seal(Drafts.Call(1))]);
            await writer.Indexer!.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        }
        var (unindexed, _) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        using (unindexed)
        {
            unindexed.AppendBatch([.. Enumerable.Range(2, 3).Select(i => chain.Seal(Drafts.Call(i)))]);
        }
        Assert.Equal(2, IndexedPositions().Count);
        Assert.True(IndexedLength() < new FileInfo(_dir.File(Day)).Length);

        // act: the next start of the writer
        var (reopened, _) = AuditFileWriter.Open(_dir.Path, _clock);
        reopened.Dispose();

        // assert: every entry once, in file order
        var positions = IndexedPositions();
        Assert.Equal([0, 1, 2, 3, 4], positions.Select(p => p.EntryIndex));
        Assert.Equal(new FileInfo(_dir.File(Day)).Length, IndexedLength());
    }

    [Fact]
    public async Task Should_find_durable_entries_the_index_missed_when_no_writer_runs()
    {
        // arrange: a crash right after the fsync; nothing is running to index the entry
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            writer.AppendBatch([chain.Seal(Drafts.Call(0))]);
            await writer.Indexer!.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        }
        var (unindexed, _) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        var missed = chain.Seal(Drafts.Call(1));
        using (unindexed) unindexed.AppendBatch([missed]);

        // act
        var page = await new AuditReader(_dir.Path, _clock).QueryAsync(new AuditQuery { Limit = 10 }, TestContext.Current.CancellationToken);

        // assert: the reader gave the index a moment, then read the files
        Assert.Equal(2, page.Total);
        Assert.Contains(page.Entries, e => e.Entry.Id == missed.Entry.Id);
    }

    [Fact]
    public void Should_not_duplicate_rows_when_a_catch_up_overlaps_what_is_indexed()
    {
        // arrange
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer) writer.AppendBatch([.. Enumerable.Range(0, 4).Select(i => chain.Seal(Drafts.Call(i)))]);

        // act: forget how far the index got, as if the files row had not been committed, and catch up again
        using (var index = AuditIndex.Open(_dir.Path))
        {
            using var rows = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={AuditIndex.PathIn(_dir.Path)};Pooling=False");
            rows.Open();
            using var cmd = rows.CreateCommand();
            cmd.CommandText = "DELETE FROM files";
            cmd.ExecuteNonQuery();
            Assert.Equal(0, index.CatchUp());
        }

        // assert
        Assert.Equal([0, 1, 2, 3], IndexedPositions().Select(p => p.EntryIndex));
    }

    [Fact]
    public async Task Should_answer_before_indexing_and_still_let_readers_see_every_answered_entry()
    {
        // arrange
        var writer = Sys.ActorOf(AuditWriterActor.Props(new AuditOptions { Directory = _dir.Path, UseIndex = true }));
        var probe = CreateTestProbe();
        var reader = new AuditReader(_dir.Path);

        // act: each entry is read back right after its AuditAppended
        for (var i = 0; i < 20; i++)
        {
            writer.Tell(new Append(Drafts.Call(i, at: DateTimeOffset.UtcNow), probe));
            var appended = await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: TestContext.Current.CancellationToken);
            var page = await reader.QueryAsync(new AuditQuery { Limit = 1 }, TestContext.Current.CancellationToken);

            // assert
            Assert.Equal(i + 1, page.Total);
            Assert.Equal(appended.Id, page.Entries[0].Entry.Id);
        }
        await writer.GracefulStop(Wait);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    [Fact]
    public async Task Should_commit_the_batches_that_arrive_within_the_commit_interval_in_one_transaction()
    {
        // arrange: 40 durable batches written without an index, then handed to an indexer with a 3 s interval
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        var batches = new List<(IReadOnlyList<SealedAuditRecord> Batch, AppendResult Result, int First)>();
        using (writer)
        {
            for (var b = 0; b < 40; b++)
            {
                var batch = new[] { chain.Seal(Drafts.Call(2 * b)), chain.Seal(Drafts.Call(2 * b + 1)) };
                batches.Add((batch, writer.AppendBatch(batch), 2 * b));
            }
        }
        using var indexer = new AuditIndexer(AuditIndex.Open(_dir.Path), TimeSpan.FromSeconds(3));

        // act: the first batch is committed at once; the other 39 trickle in (10 ms apart) during the interval
        // that follows, as the batches of consecutive fsyncs do
        foreach (var (batch, result, first) in batches.Take(1))
            indexer.Enqueue(result.File, batch, result.Offsets, first, result.FileLength);
        await indexer.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        foreach (var (batch, result, first) in batches.Skip(1))
        {
            indexer.Enqueue(result.File, batch, result.Offsets, first, result.FileLength);
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        await indexer.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);

        // assert: two transactions in all, every entry indexed once, in file order
        Assert.Equal(2, indexer.Transactions);
        Assert.Equal(Enumerable.Range(0, 80), IndexedPositions().Select(p => p.EntryIndex));
        Assert.Equal(new FileInfo(_dir.File(Day)).Length, IndexedLength());
    }

    [Fact]
    public void Should_upgrade_an_index_written_by_an_earlier_version_without_duplicating_rows()
    {
        // arrange: an index in the earlier schema (a non-unique position index, an unused id index, a full
        // approval index, no approval_decision column, no recorded version) that already holds the first two
        // entries of the day file
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer) writer.AppendBatch([chain.Seal(Drafts.Call(0)), chain.Seal(Drafts.Call(1)), chain.Seal(Drafts.Call(2))]);
        using (var current = AuditIndex.Open(_dir.Path)) current.CatchUp(Day, FirstTwoEntriesLength());
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={AuditIndex.PathIn(_dir.Path)};Pooling=False"))
        {
            old.Open();
            using var cmd = old.CreateCommand();
            cmd.CommandText = """
                DROP INDEX ux_entries_position; DROP INDEX ix_entries_approval_linked; DROP INDEX ix_entries_session;
                CREATE INDEX ix_entries_session ON entries(session_id, ts_us);
                CREATE INDEX ix_entries_approval ON entries(approval_request_id);
                CREATE INDEX ix_entries_id ON entries(id);
                CREATE INDEX ix_entries_file ON entries(file, offset);
                DROP INDEX ix_entries_decision; ALTER TABLE entries DROP COLUMN approval_decision;
                PRAGMA user_version = 0;
                """;
            cmd.ExecuteNonQuery();
        }

        // act: open for writing (migrates), then catch up over the rows it already has
        int added;
        using (var index = AuditIndex.Open(_dir.Path))
        {
            added = index.CatchUp();
            added += index.CatchUp();
            index.Rebuild();
        }

        // assert
        Assert.Equal(1, added);
        Assert.Equal([0, 1, 2], IndexedPositions().Select(p => p.EntryIndex));
        using var check = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={AuditIndex.PathIn(_dir.Path)};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var names = check.CreateCommand();
        names.CommandText = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%entries%' ORDER BY name";
        var indexes = new List<string>();
        using (var r = names.ExecuteReader()) while (r.Read()) indexes.Add(r.GetString(0));
        Assert.DoesNotContain("ix_entries_id", indexes);
        Assert.DoesNotContain("ix_entries_file", indexes);
        Assert.DoesNotContain("ix_entries_approval", indexes);
        Assert.Contains("ux_entries_position", indexes);
        Assert.Contains("ix_entries_approval_linked", indexes);
        Assert.Contains("ix_entries_decision", indexes);
        using var version = check.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        Assert.Equal((long)AuditIndex.SchemaVersion, (long)version.ExecuteScalar()!);
    }

    [Fact]
    public async Task Should_add_the_approval_decision_column_to_an_older_index_and_fill_it_in_from_the_day_files()
    {
        // arrange: an approval's held call, its resolution and the final call, indexed by the earlier schema
        var (writer, recovery) = AuditFileWriter.Open(_dir.Path, _clock, useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        var pending = Drafts.Call(0, status: AuditStatus.Pending) with { Metadata = new AuditMetadata(ApprovalRequestId: "appr-1") };
        var resolution = Drafts.Call(1) with { Kind = AuditEntryKind.ApprovalResolution, Metadata = new AuditMetadata(ApprovalRequestId: "appr-1", ApprovalDecision: "rejected") };
        var final = Drafts.Call(2, status: AuditStatus.Denied) with { Metadata = new AuditMetadata(ApprovalRequestId: "appr-1", ApprovalDecision: "rejected") };
        using (writer) writer.AppendBatch([chain.Seal(pending), chain.Seal(resolution), chain.Seal(final), chain.Seal(Drafts.Call(3))]);
        using (var current = AuditIndex.Open(_dir.Path)) current.CatchUp();
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={AuditIndex.PathIn(_dir.Path)};Pooling=False"))
        {
            old.Open();
            using var cmd = old.CreateCommand();
            cmd.CommandText = "DROP INDEX ix_entries_decision; ALTER TABLE entries DROP COLUMN approval_decision; PRAGMA user_version = 0;";
            cmd.ExecuteNonQuery();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        // a reader does not use the older index (it would not know decisions): it reads the day files instead
        using (var readOnly = AuditIndex.OpenReadOnly(_dir.Path)!) Assert.False(readOnly.HasCurrentSchema);
        var before = await new AuditReader(_dir.Path, _clock).QueryAsync(new AuditQuery { ApprovalDecision = "rejected" }, TestContext.Current.CancellationToken);
        Assert.Equal(2, before.Total);

        // act: the writer opens it
        using (var index = AuditIndex.Open(_dir.Path)) Assert.Equal(0, index.CatchUp());

        // assert: migrated in place (no row re-inserted), decisions filled in
        using var migrated = AuditIndex.OpenReadOnly(_dir.Path)!;
        Assert.True(migrated.HasCurrentSchema);
        var (positions, total) = migrated.Find(new AuditQuery { ApprovalDecision = "rejected", Ascending = true }, _clock.GetUtcNow());
        Assert.Equal(2, total);
        Assert.Equal([1, 2], positions.Select(p => p.EntryIndex));
        Assert.Equal(0, migrated.Find(new AuditQuery { ApprovalDecision = "approved" }, _clock.GetUtcNow()).Total);
        Assert.Equal(4, migrated.Find(new AuditQuery(), _clock.GetUtcNow()).Total);
    }

    private long FirstTwoEntriesLength()
    {
        var frames = AuditDirectory.ReadFrames(_dir.File(Day), new TailHolder()).ToList();
        return frames[2].Offset;
    }
}
