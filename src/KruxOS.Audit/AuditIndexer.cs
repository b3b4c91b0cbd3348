using System.Diagnostics;
using System.Threading.Channels;
using KruxOS.Core.Audit;
using Microsoft.Data.Sqlite;

namespace KruxOS.Audit;

/// <summary>
/// Keeps <c>audit-index.db</c> up to date <b>off the fsync path</b>: the writer hands each durable batch
/// over with <see cref="Enqueue"/> (it never waits for SQLite), and one background loop inserts the rows
/// in the order the batches were written, merging whatever is queued for the same day file into one
/// transaction. It commits at most once per <see cref="CommitInterval"/>: under load, the batches of many
/// fsyncs share one transaction, so the index costs a few commits a second instead of one per batch (each
/// commit rewrites every b-tree page it touched into the WAL).
/// <list type="bullet">
/// <item>The day files are the record and the index is derived data. If an insert fails, the loop stops
/// trusting its queue and indexes from the files instead (<see cref="AuditIndex.CatchUp"/>, bounded by
/// the length known durable) on the next batch; the next <see cref="AuditFileWriter.Open"/> catches up
/// too, so a crash between the fsync and the insert loses nothing.</item>
/// <item>Inserts are idempotent per (file, offset), so the queue and a catch-up may overlap.</item>
/// </list>
/// Owns the <see cref="AuditIndex"/>; <see cref="Dispose"/> drains the queue (bounded) and closes it.
/// </summary>
public sealed class AuditIndexer : IDisposable
{
    /// <summary>How long <see cref="Dispose"/> waits for the queue to drain before leaving it to the next open's catch-up.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Shortest time between two index commits. Readers wait for the index to cover the log when they
    /// start (<see cref="AuditReader"/>), so this is also the longest extra wait a query sees.
    /// </summary>
    public static readonly TimeSpan CommitInterval = TimeSpan.FromMilliseconds(50);

    private readonly AuditIndex _index;
    private readonly TimeSpan _commitInterval;
    private readonly Channel<Work> _queue = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private long _indexedBatches;
    private long _transactions;
    private long _failures;
    private int _disposed;

    /// <summary>
    /// Starts the background loop on <paramref name="index"/> (which it now owns), committing at most once per
    /// <paramref name="commitInterval"/> (<see cref="CommitInterval"/> when null).
    /// </summary>
    public AuditIndexer(AuditIndex index, TimeSpan? commitInterval = null)
    {
        _index = index;
        _commitInterval = commitInterval ?? CommitInterval;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Batches indexed so far (merged batches count one each).</summary>
    public long IndexedBatches => Interlocked.Read(ref _indexedBatches);

    /// <summary>Index transactions committed so far (each covers every batch queued for one day file when it began).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>Inserts that failed (each followed by a catch-up from the files).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>
    /// Queues a batch that is durable in <paramref name="file"/>: its records, each record's offset, the
    /// index of its first record in the file and the file's durable length after it. Never blocks.
    /// </summary>
    public void Enqueue(string file, IReadOnlyList<SealedAuditRecord> batch, IReadOnlyList<long> offsets, int firstIndex, long fileLength)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(offsets);
        if (batch.Count != offsets.Count) throw new ArgumentException("one offset per record", nameof(offsets));
        _queue.Writer.TryWrite(new Work(file, batch, offsets, firstIndex, fileLength, null));
    }

    /// <summary>Completes when everything queued before this call has been indexed (or failed and been caught up).</summary>
    public Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Work(null, null, null, 0, 0, done))) done.TrySetResult(); // closed: nothing more will be indexed
        return done.Task;
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var pending = new List<Work>();
        var behind = false;
        var lastCommit = 0L;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                // Let the batches of the next few fsyncs join this transaction (the log is already durable).
                var sinceCommit = Stopwatch.GetElapsedTime(lastCommit);
                if (sinceCommit < _commitInterval) await Task.Delay(_commitInterval - sinceCommit).ConfigureAwait(false);
                while (reader.TryRead(out var w)) pending.Add(w);
                var start = 0;
                while (start < pending.Count)
                {
                    if (pending[start].Flushed is { } flushed)
                    {
                        flushed.TrySetResult();
                        start++;
                        continue;
                    }
                    // one transaction for the consecutive batches of the same day file
                    var end = start + 1;
                    while (end < pending.Count && pending[end].Flushed is null && pending[end].File == pending[start].File) end++;
                    behind = IndexRun(pending, start, end, behind);
                    start = end;
                }
                pending.Clear();
                lastCommit = Stopwatch.GetTimestamp();
            }
        }
        finally
        {
            foreach (var w in pending) w.Flushed?.TrySetResult();
            _index.Dispose();
        }
    }

    private bool IndexRun(List<Work> pending, int start, int end, bool behind)
    {
        var last = pending[end - 1];
        try
        {
            if (behind)
            {
                _index.CatchUp(last.File, last.FileLength);
            }
            else
            {
                var count = 0;
                for (var i = start; i < end; i++) count += pending[i].Batch!.Count;
                var rows = new List<(AuditEntry, AuditPosition)>(count);
                for (var i = start; i < end; i++)
                {
                    var w = pending[i];
                    for (var j = 0; j < w.Batch!.Count; j++)
                        rows.Add((w.Batch[j].Entry, new AuditPosition(w.File!, w.FirstIndex + j, w.Offsets![j], w.Batch[j].Frame.Length)));
                }
                _index.Add(rows, last.File!, last.FileLength);
            }
            Interlocked.Add(ref _indexedBatches, end - start);
            Interlocked.Increment(ref _transactions);
            return false;
        }
        catch (Exception ex) when (ex is SqliteException or IOException or InvalidOperationException or InvalidDataException)
        {
            // The log is the record: the next batch (or the next open) indexes from the files instead.
            Interlocked.Increment(ref _failures);
            return true;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _queue.Writer.TryComplete();
        // Usually milliseconds. If SQLite is stuck, the loop closes the index when it ends, and the next
        // open catches up whatever it had not inserted (inserts are idempotent, so an overlap is harmless).
        try { _loop.Wait(DrainTimeout); }
        catch (AggregateException) { /* the loop's own failure; the next open catches up */ }
    }

    private sealed record Work(
        string? File, IReadOnlyList<SealedAuditRecord>? Batch, IReadOnlyList<long>? Offsets, int FirstIndex, long FileLength,
        TaskCompletionSource? Flushed);
}
