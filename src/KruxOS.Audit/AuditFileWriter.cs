using KruxOS.Core.Audit;

namespace KruxOS.Audit;

/// <summary>What <see cref="AuditFileWriter.Open"/> found and repaired.</summary>
/// <param name="Head">The hash the next entry must chain from.</param>
/// <param name="Entries">Records found in the newest day file.</param>
/// <param name="TornFile">The day file whose unreadable tail was cut off, if any.</param>
/// <param name="TornBytes">How many bytes were cut (kept in <paramref name="TornEvidence"/>).</param>
/// <param name="TornEvidence">Where the cut bytes were saved.</param>
/// <param name="Break">A break found by verifying the newest day file (and its link to the previous one).</param>
/// <param name="NotedBreaks">The breaks the chain notes in the newest day file record (a restart finds the same
/// break again; it is noted once).</param>
public sealed record AuditRecovery(
    ReadOnlyMemory<byte> Head, int Entries, string? TornFile, long TornBytes, string? TornEvidence, ChainIssue? Break,
    IReadOnlySet<ChainBreakKey>? NotedBreaks = null);

/// <summary>Where a batch went: the day file and each record's offset, in batch order.</summary>
public sealed record AppendResult(string File, IReadOnlyList<long> Offsets, long FileLength);

/// <summary>
/// Appends sealed records to the day files of one audit directory.
/// <list type="bullet">
/// <item>A batch is written with one append and made durable with one fsync (group commit); the caller
/// may reply to its requesters only after <see cref="AppendBatch"/> returned.</item>
/// <item>The day file is chosen by the writer's UTC clock when the batch is written, so files roll at
/// UTC midnight; the chain is independent of files, so the first record of a day chains from the last of
/// the previous day. The first batch appended to a day file also fsyncs the directory, so the new name is
/// durable before any of its entries is acknowledged.</item>
/// <item>If a write or fsync fails, the file is cut back to its length before the batch (best effort,
/// retried before the next batch) and the exception is rethrown: the batch is not written and can be
/// retried as is, so the chain stays valid and no record is duplicated.</item>
/// <item>On open, a torn or unreadable tail of the newest file (a crash during a write) is saved to
/// <c>&lt;file&gt;.torn-&lt;unix-ms&gt;</c> and cut off; complete records are never removed.</item>
/// <item>The SQLite index is not on the durable path: after the fsync the batch is handed to an
/// <see cref="AuditIndexer"/> and the append returns at once; the open catches the index up from the
/// files, so a crash between the fsync and the insert loses nothing.</item>
/// </list>
/// Not thread-safe: one batch at a time (the audit writer's disk loop guarantees this).
/// </summary>
public sealed class AuditFileWriter : IDisposable
{
    private readonly string _directory;
    private readonly IAuditFileSystem _fs;
    private readonly TimeProvider _clock;
    private readonly AuditIndexer? _indexer;
    private IAuditAppendFile? _file;
    private string? _fileName;
    private int _fileRecords;
    private long _expectedLength = -1;
    private bool _directorySyncPending;

    private AuditFileWriter(string directory, IAuditFileSystem fs, TimeProvider clock, AuditIndex? index)
    {
        _directory = directory;
        _fs = fs;
        _clock = clock;
        _indexer = index is null ? null : new AuditIndexer(index);
    }

    /// <summary>The background indexer, or null without an index.</summary>
    public AuditIndexer? Indexer => _indexer;

    /// <summary>The audit directory.</summary>
    public string Directory => _directory;

    /// <summary>
    /// Opens a directory: repairs a torn tail, verifies the newest day file, returns the chain head, and
    /// brings the index up to date. <paramref name="useIndex"/> = false skips the SQLite index.
    /// </summary>
    public static (AuditFileWriter Writer, AuditRecovery Recovery) Open(
        string directory, TimeProvider? clock = null, IAuditFileSystem? fs = null, bool useIndex = true)
    {
        AuditFileModes.PrepareDirectory(directory);
        clock ??= TimeProvider.System;
        var recovery = Recover(directory, clock);
        AuditIndex? index = null;
        if (useIndex)
        {
            index = AuditIndex.Open(directory);
            index.CatchUp();
        }
        return (new AuditFileWriter(directory, fs ?? PhysicalAuditFileSystem.Instance, clock, index), recovery);
    }

    /// <summary>Same as <see cref="Open"/>, off the calling thread.</summary>
    public static Task<(AuditFileWriter Writer, AuditRecovery Recovery)> OpenAsync(
        string directory, TimeProvider? clock = null, IAuditFileSystem? fs = null, bool useIndex = true,
        CancellationToken ct = default) =>
        Task.Run(() => Open(directory, clock, fs, useIndex), ct);

    private static AuditRecovery Recover(string directory, TimeProvider clock)
    {
        var files = AuditDirectory.ListDayFiles(directory);
        if (files.Count == 0) return new AuditRecovery(AuditCbor.Genesis.ToArray(), 0, null, 0, null, null);

        var newest = files[^1];
        string? tornFile = null, evidence = null;
        long tornBytes = 0;
        var (_, _, tail) = AuditDirectory.ScanLast(newest.Path);
        if (tail.Kind != FrameTailKind.Clean)
        {
            var size = new FileInfo(newest.Path).Length;
            tornBytes = size - tail.Offset;
            evidence = $"{newest.Path}.torn-{clock.GetUtcNow().ToUnixTimeMilliseconds()}";
            using (var src = new FileStream(newest.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
            {
                src.Seek(tail.Offset, SeekOrigin.Begin);
                using (var dst = new FileStream(evidence, AuditFileModes.Options(FileMode.CreateNew, FileAccess.Write)))
                {
                    src.CopyTo(dst);
                    dst.Flush(flushToDisk: true);
                }
                src.SetLength(tail.Offset);
                src.Flush(flushToDisk: true);
            }
            tornFile = newest.Name;
        }

        // Verify the newest file against the last hash of the file before it (or the anchor / genesis).
        byte[] start;
        string description;
        if (files.Count >= 2)
        {
            var previous = files[^2];
            var (prevLast, _, _) = AuditDirectory.ScanLast(previous.Path);
            start = prevLast ?? AuditCbor.Genesis.ToArray();
            description = $"the last entry of {previous.Name}";
        }
        else
        {
            (start, description) = AuditDirectory.StartFor(newest.Day, AuditDirectory.ReadAnchors(directory));
        }
        var v = new ChainVerifier(start, description);
        if (files.Count >= 2)
        {
            // The previous file as an empty stand-in: a break at the newest file's first record is then classified
            // as the whole-directory verification classifies it (missing entry vs missing file), so both find the
            // same break and it is noted once.
            v.BeginFile(files[^2].Name);
            v.EndFile(FrameTail.Clean);
        }
        v.BeginFile(newest.Name);
        var t = new TailHolder();
        byte[]? head = null;
        var count = 0;
        var noted = new HashSet<ChainBreakKey>();
        foreach (var frame in AuditDirectory.ReadFrames(newest.Path, t))
        {
            v.Accept(frame);
            count++;
            try { head = AuditCbor.Split(frame.Payload).EntryHash.ToArray(); }
            catch (Exception ex) when (ex is System.Formats.Cbor.CborContentException or FormatException or InvalidOperationException) { }
            AuditVerifier.CollectNote(frame, noted);
        }
        v.EndFile(t.Value);
        var report = v.Complete();
        // A file that begins mid-chain because older files were removed is not a fresh break at startup
        // when only one file is present and no anchor explains it: still report it, the operator must know.
        var firstBreak = report.FirstProblem;
        if (tail.Kind == FrameTailKind.Garbage && firstBreak is null)
        {
            firstBreak = new ChainIssue(ChainIssueKind.GarbageAfterEnd, newest.Name, tail.Index, tail.Offset,
                $"{tornBytes} unreadable bytes after the last record were moved to {Path.GetFileName(evidence)}");
        }
        return new AuditRecovery(head ?? start, count, tornFile, tornBytes, evidence, firstBreak, noted);
    }

    /// <summary>
    /// Appends a batch (in order) with one fsync, blocking on disk I/O (the audit writer calls it from its
    /// disk loop, never from an actor). Throws the I/O error when the batch could not be made durable; the
    /// file is then back at its previous length (or will be cut back before the next batch). The batch list
    /// is kept by the background indexer: do not change it afterwards.
    /// </summary>
    public AppendResult AppendBatch(IReadOnlyList<SealedAuditRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var name = AuditFileNames.ForDay(DateOnly.FromDateTime(_clock.GetUtcNow().UtcDateTime));
        EnsureFile(name);
        var file = _file!;
        var start = file.Length;
        if (_expectedLength >= 0 && start != _expectedLength)
        {
            // a previous failed batch left bytes behind: cut them before writing anything else
            file.Truncate(_expectedLength);
            start = _expectedLength;
        }
        _expectedLength = start;
        var size = 0;
        foreach (var r in batch) size += r.Frame.Length;
        // One write(2) per batch from a pooled buffer: no per-batch garbage on the hot path.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
        var offsets = new long[batch.Count];
        var at = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            offsets[i] = start + at;
            batch[i].Frame.Span.CopyTo(buffer.AsSpan(at));
            at += batch[i].Frame.Length;
        }
        try
        {
            file.Append(buffer.AsSpan(0, size));
            file.Sync();
            if (_directorySyncPending)
            {
                // The file's name must be durable too before anyone is told its entries are.
                _fs.SyncDirectory(_directory);
                _directorySyncPending = false;
            }
        }
        catch
        {
            try { file.Truncate(start); } catch (IOException) { /* retried before the next batch */ }
            // After a failed fsync the kernel may have dropped the pages: reopen the file before the next try.
            DropFile();
            throw;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        _expectedLength = start + size;
        var firstIndex = _fileRecords;
        _fileRecords += batch.Count;
        // Durable now; the index follows in the background (derived data, caught up from the files on open).
        _indexer?.Enqueue(name, batch, offsets, firstIndex, _expectedLength);
        return new AppendResult(name, offsets, _expectedLength);
    }

    private void EnsureFile(string name)
    {
        if (_file is not null && _fileName == name) return;
        _file?.Dispose();
        _file = null;
        var path = Path.Combine(_directory, name);
        var file = _fs.OpenAppend(path);
        if (_fileName != name)
        {
            _fileRecords = name == _fileName ? _fileRecords : CountRecords(path);
            _expectedLength = file.Length;
            // The first batch this writer appends to a day file also fsyncs the directory: the file may be new,
            // or created by a process that stopped before its directory entry was durable. Once per file.
            _directorySyncPending = true;
        }
        _file = file;
        _fileName = name;
    }

    private static int CountRecords(string path) =>
        File.Exists(path) && new FileInfo(path).Length > 0 ? AuditDirectory.ScanLast(path).Records : 0;

    private void DropFile()
    {
        try { _file?.Dispose(); } catch (IOException) { }
        _file = null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        DropFile();
        _indexer?.Dispose();
    }
}
