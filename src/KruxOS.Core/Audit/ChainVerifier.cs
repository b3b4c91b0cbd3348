using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Formats.Cbor;
using System.Globalization;

namespace KruxOS.Core.Audit;

/// <summary>The kinds of break a verification can find.</summary>
public enum ChainIssueKind
{
    /// <summary>A record's content does not match its <c>entry_hash</c> (modified).</summary>
    HashMismatch,
    /// <summary>A record does not chain from the one before it and its predecessor is nowhere: entries were removed.</summary>
    MissingEntry,
    /// <summary>A record chains from an entry that is elsewhere in the log: entries were moved or duplicated.</summary>
    Reordered,
    /// <summary>A file ends inside a record.</summary>
    TruncatedRecord,
    /// <summary>A day file's chain does not continue from the previous file (or from genesis/anchor): a file is missing.</summary>
    MissingFile,
    /// <summary>Bytes that cannot be records follow the last record of a file.</summary>
    GarbageAfterEnd,
    /// <summary>A complete frame does not hold a canonical audit record.</summary>
    CorruptRecord,
}

/// <summary>One break, located by file, 0-based entry index within the file, and byte offset of the record.</summary>
public sealed record ChainIssue(ChainIssueKind Kind, string File, int EntryIndex, long Offset, string Detail) : IKruxMessage
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Kind.ToWire()} in {File} at entry {EntryIndex} (offset {Offset}): {Detail}";
}

/// <summary>The outcome of verifying a chain.</summary>
/// <param name="Issues">Every break, in log order.</param>
/// <param name="Entries">Records read (including broken ones).</param>
/// <param name="Files">Day files read.</param>
/// <param name="LastHash">Hex <c>entry_hash</c> of the last readable record, or the start hash when there is none.</param>
public sealed record ChainReport(ImmutableArray<ChainIssue> Issues, long Entries, int Files, string LastHash) : IKruxMessage
{
    /// <summary>No break found.</summary>
    public bool IsIntact => Issues.IsEmpty;

    /// <summary>The first break, if any.</summary>
    public ChainIssue? FirstProblem => Issues.IsEmpty ? null : Issues[0];

    /// <summary><c>verified (N entries across M files)</c>, or the number of breaks and the first one.</summary>
    public string Summary => IsIntact
        ? string.Create(CultureInfo.InvariantCulture, $"verified ({Entries:N0} entries across {Files} files)")
        : string.Create(CultureInfo.InvariantCulture, $"BROKEN: {Issues.Length} issue(s) in {Entries:N0} entries across {Files} files; first: {Issues[0]}");
}

/// <summary>Wire spelling of <see cref="ChainIssueKind"/>.</summary>
public static class ChainIssueKinds
{
    /// <summary>snake_case name of the kind.</summary>
    public static string ToWire(this ChainIssueKind k) => k switch
    {
        ChainIssueKind.HashMismatch => "hash_mismatch",
        ChainIssueKind.MissingEntry => "missing_entry",
        ChainIssueKind.Reordered => "reordered",
        ChainIssueKind.TruncatedRecord => "truncated_record",
        ChainIssueKind.MissingFile => "missing_file",
        ChainIssueKind.GarbageAfterEnd => "garbage_after_end",
        ChainIssueKind.CorruptRecord => "corrupt_record",
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, null),
    };
}

/// <summary>
/// Walks the records of a log in order (files oldest first) and collects every break. Pure: it is fed
/// frames by a caller that reads them (from memory or disk), so it streams over any number of files.
/// After a break it resynchronises on the record it stopped at, so later breaks are found too.
/// </summary>
public sealed class ChainVerifier
{
    private readonly List<ChainIssue> _issues = [];
    private readonly Dictionary<Hash32, (string File, int Index)> _seen = [];
    private readonly Dictionary<Hash32, int> _unresolved = [];
    private readonly string _startDescription;
    private byte[] _head;
    private bool _headKnown = true;
    private DateOnly? _previousDay;
    private string? _previousFile;
    private string _currentFile = "";
    private DateOnly? _currentDay;
    private long _entries;
    private int _files;

    /// <summary>
    /// Starts a verification from <paramref name="start"/>: the genesis hash, or the last hash recorded by
    /// the retention anchor when older files were deleted.
    /// </summary>
    public ChainVerifier(ReadOnlySpan<byte> start, string startDescription = "genesis")
    {
        _head = start.ToArray();
        _startDescription = startDescription;
    }

    /// <summary>Verifies whole files held in memory, oldest first, from genesis.</summary>
    public static ChainReport Verify(IEnumerable<AuditFileFrames> files) => Verify(files, AuditCbor.Genesis);

    /// <summary>Verifies whole files held in memory, oldest first, from a start hash.</summary>
    public static ChainReport Verify(IEnumerable<AuditFileFrames> files, ReadOnlySpan<byte> start)
    {
        var v = new ChainVerifier(start);
        foreach (var f in files)
        {
            v.BeginFile(f.File);
            foreach (var frame in f.Frames) v.Accept(frame);
            v.EndFile(f.Tail);
        }
        return v.Complete();
    }

    /// <summary>Starts the next file. Its day is read from the name when it has the <c>audit-YYYY-MM-DD.log</c> form.</summary>
    public void BeginFile(string file)
    {
        _currentFile = file;
        _currentDay = AuditFileNames.TryParseDay(file, out var day) ? day : null;
        _files++;
    }

    /// <summary>Checks one record.</summary>
    public void Accept(AuditFrame frame)
    {
        _entries++;
        StoredParts parts;
        try
        {
            parts = AuditCbor.Split(frame.Payload);
        }
        catch (Exception ex) when (ex is CborContentException or FormatException or InvalidOperationException or ArgumentException)
        {
            Add(ChainIssueKind.CorruptRecord, frame, $"not a canonical audit record ({ex.Message})");
            _headKnown = false;
            return;
        }

        var computed = AuditCbor.ComputeHash(parts.Body.Span, parts.PreviousHash.Span);
        if (!computed.AsSpan().SequenceEqual(parts.EntryHash.Span))
        {
            Add(ChainIssueKind.HashMismatch, frame,
                $"content does not match entry_hash {Convert.ToHexStringLower(parts.EntryHash.Span)[..16]}…: the entry was modified");
        }

        if (_headKnown && !parts.PreviousHash.Span.SequenceEqual(_head))
        {
            var prev = Hash32.From(parts.PreviousHash.Span);
            if (_seen.TryGetValue(prev, out var at))
            {
                Add(ChainIssueKind.Reordered, frame,
                    $"chains from the entry at {at.File}#{at.Index}, not from the record before it: entries were reordered or duplicated");
            }
            else
            {
                var (kind, detail) = ClassifyMissing(frame);
                _unresolved[prev] = _issues.Count;
                Add(kind, frame, detail);
            }
        }

        var self = Hash32.From(parts.EntryHash.Span);
        if (_unresolved.Remove(self, out var issueIndex))
        {
            var earlier = _issues[issueIndex];
            _issues[issueIndex] = earlier with
            {
                Kind = ChainIssueKind.Reordered,
                Detail = $"chains from the entry found later at {frame.File}#{frame.Index}: entries were reordered",
            };
        }
        _seen.TryAdd(self, (frame.File, frame.Index));
        _head = parts.EntryHash.ToArray();
        _headKnown = true;
    }

    private (ChainIssueKind, string) ClassifyMissing(AuditFrame frame)
    {
        if (frame.Index != 0) return (ChainIssueKind.MissingEntry, "does not chain from the record before it: one or more entries are missing before it");
        if (_previousFile is null)
        {
            return (ChainIssueKind.MissingFile,
                $"the oldest file does not chain from {_startDescription}: earlier day files (or its first entries) are missing");
        }
        if (_previousDay is { } pd && _currentDay is { } cd && cd.DayNumber - pd.DayNumber > 1)
        {
            return (ChainIssueKind.MissingFile,
                $"does not continue from the last entry of {_previousFile}: a day file between them is missing");
        }
        return (ChainIssueKind.MissingEntry,
            $"does not continue from the last entry of {_previousFile}: entries are missing at the end of that file or the start of this one");
    }

    /// <summary>Finishes the current file, reporting how it ended.</summary>
    public void EndFile(FrameTail tail)
    {
        if (TailIssue(_currentFile, tail) is { } issue) _issues.Add(issue);
        _previousFile = _currentFile;
        _previousDay = _currentDay;
    }

    /// <summary>The break a file's end is, or null when it ends cleanly (what <see cref="EndFile"/> reports).</summary>
    public static ChainIssue? TailIssue(string file, FrameTail tail)
    {
        ArgumentNullException.ThrowIfNull(tail);
        return tail.Kind switch
        {
            FrameTailKind.Truncated => new ChainIssue(ChainIssueKind.TruncatedRecord, file, tail.Index, tail.Offset,
                "the file ends inside a record: it was truncated or a write was torn"),
            FrameTailKind.Garbage => new ChainIssue(ChainIssueKind.GarbageAfterEnd, file, tail.Index, tail.Offset,
                "bytes after the last record are not a record"),
            _ => null,
        };
    }

    /// <summary>Adds a break found by the caller (for example a file the index knows but the directory lacks).</summary>
    public void Report(ChainIssue issue) => _issues.Add(issue);

    /// <summary>The hash the next record should chain from.</summary>
    public ReadOnlySpan<byte> Head => _head;

    /// <summary>Ends the verification.</summary>
    public ChainReport Complete() => new([.. _issues], _entries, _files, Convert.ToHexStringLower(_head));

    private void Add(ChainIssueKind kind, AuditFrame frame, string detail) =>
        _issues.Add(new ChainIssue(kind, frame.File, frame.Index, frame.Offset, detail));

    private readonly record struct Hash32(ulong A, ulong B, ulong C, ulong D)
    {
        public static Hash32 From(ReadOnlySpan<byte> h) => new(
            BinaryPrimitives.ReadUInt64LittleEndian(h),
            BinaryPrimitives.ReadUInt64LittleEndian(h[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(h[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(h[24..]));
    }
}

/// <summary>Names of the audit directory's files.</summary>
public static class AuditFileNames
{
    /// <summary>The SQLite index.</summary>
    public const string Index = "audit-index.db";

    /// <summary>The retention anchor (JSON lines, one per deleted day file).</summary>
    public const string Anchors = "audit-anchors.jsonl";

    /// <summary>Retention bookkeeping (first warning time).</summary>
    public const string RetentionState = "audit-retention.json";

    /// <summary><c>audit-YYYY-MM-DD.log</c> for a UTC day.</summary>
    public static string ForDay(DateOnly day) => $"audit-{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}.log";

    /// <summary>Reads the day from a day file name.</summary>
    public static bool TryParseDay(string fileName, out DateOnly day)
    {
        day = default;
        var name = Path.GetFileName(fileName);
        return name.Length == "audit-YYYY-MM-DD.log".Length && name.StartsWith("audit-", StringComparison.Ordinal) &&
               name.EndsWith(".log", StringComparison.Ordinal) &&
               DateOnly.TryParseExact(name.AsSpan(6, 10), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
    }
}
