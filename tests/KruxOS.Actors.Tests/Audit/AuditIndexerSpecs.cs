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
}
