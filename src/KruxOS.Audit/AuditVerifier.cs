using KruxOS.Core.Audit;

namespace KruxOS.Audit;

/// <summary>
/// Offline verification of an audit directory (<c>kruxos audit verify --dir</c>): needs only the files,
/// not the gateway. Day files are read oldest first and streamed through <see cref="ChainVerifier"/>;
/// the chain starts at genesis or at the retention anchor of the newest deleted file. When the SQLite
/// index is present it is opened read-only and cross-checked: a file it knows that is absent is reported
/// as <see cref="ChainIssueKind.MissingFile"/>, a file shorter than what was indexed as
/// <see cref="ChainIssueKind.TruncatedRecord"/> (this catches a cut at a record boundary in the newest file).
/// </summary>
public static class AuditVerifier
{
    /// <summary>Verifies every day file of <paramref name="directory"/>.</summary>
    public static ChainReport VerifyDirectory(string directory) => Verify(directory, null, CancellationToken.None);

    /// <summary>
    /// Verifies the directory a running writer appends to (the writer's background verification), and collects
    /// the breaks its chain notes already record. The end of the newest file may be a batch being written at this
    /// moment, so a record cut short there is not a break (a torn tail is cut and reported when the writer opens).
    /// <paramref name="cancellationToken"/> ends it early (the node is stopping: a stop does not wait for a long read).
    /// </summary>
    public static LiveVerification VerifyLive(string directory, CancellationToken cancellationToken = default)
    {
        var noted = new HashSet<ChainBreakKey>();
        var report = Verify(directory, noted, cancellationToken);
        return new LiveVerification(report, noted);
    }

    private static ChainReport Verify(string directory, HashSet<ChainBreakKey>? noted, CancellationToken ct)
    {
        var files = AuditDirectory.ListDayFiles(directory);
        var anchors = AuditDirectory.ReadAnchors(directory);
        var (start, description) = files.Count == 0
            ? (AuditCbor.Genesis.ToArray(), "genesis")
            : AuditDirectory.StartFor(files[0].Day, anchors);
        var v = new ChainVerifier(start, description);
        for (var i = 0; i < files.Count; i++)
        {
            var f = files[i];
            v.BeginFile(f.Name);
            var tail = new TailHolder();
            foreach (var frame in AuditDirectory.ReadFrames(f.Path, tail))
            {
                ct.ThrowIfCancellationRequested();
                v.Accept(frame);
                if (noted is not null) CollectNote(frame, noted);
            }
            var live = noted is not null && i == files.Count - 1 && tail.Value.Kind == FrameTailKind.Truncated;
            v.EndFile(live ? FrameTail.Clean : tail.Value);
        }
        foreach (var issue in IndexIssues(directory, files)) v.Report(issue);
        return v.Complete();
    }

    /// <summary>Adds the break a chain-note record records to <paramref name="noted"/> (other records are skipped cheaply).</summary>
    public static void CollectNote(AuditFrame frame, ISet<ChainBreakKey> noted)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(noted);
        if (!ChainBreakKey.MayBeNote(frame.Payload.Span)) return;
        try
        {
            if (ChainBreakKey.OfNote(AuditCbor.DecodeStored(frame.Payload)) is { } key) noted.Add(key);
        }
        catch (Exception ex) when (ex is System.Formats.Cbor.CborContentException or FormatException or InvalidOperationException)
        {
            // not a readable record; the verification reports it
        }
    }

    /// <summary>
    /// The index as a witness of the files: a file it lists that is absent (<see cref="ChainIssueKind.MissingFile"/>),
    /// or shorter than what it indexed (<see cref="ChainIssueKind.TruncatedRecord"/>). Nothing without a readable index.
    /// </summary>
    public static IReadOnlyList<ChainIssue> IndexIssues(string directory, IReadOnlyList<AuditDayFile> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        IReadOnlyDictionary<string, (long Length, int Entries)> indexed;
        try
        {
            using var index = AuditIndex.OpenReadOnly(directory);
            if (index is null) return [];
            indexed = index.IndexedFiles();
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return []; // an unreadable index is not evidence either way; the chain check stands alone
        }
        var issues = new List<ChainIssue>();
        var present = files.ToDictionary(f => f.Name, f => f.Path, StringComparer.Ordinal);
        foreach (var (file, (length, entries)) in indexed.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (!present.TryGetValue(file, out var path))
            {
                // The listing was taken before the index was read: a running writer may have created the day file and
                // indexed its first entries in between. Such a file is not missing; the next pass reads its chain.
                if (CreatedSinceListing(directory, file)) continue;
                issues.Add(new ChainIssue(ChainIssueKind.MissingFile, file, 0, 0,
                    $"the index lists {entries} entries in this day file, but the file is missing"));
                continue;
            }
            var size = new FileInfo(path).Length;
            if (size < length)
            {
                issues.Add(new ChainIssue(ChainIssueKind.TruncatedRecord, file, entries, size,
                    $"the file is {size} bytes but {length} bytes ({entries} entries) were indexed: it was truncated"));
            }
        }
        return issues;
    }

    /// <summary>True when <paramref name="file"/> (a name the index gives, so checked to be a day-file name) exists now.</summary>
    private static bool CreatedSinceListing(string directory, string file) =>
        AuditFileNames.TryParseDay(file, out var day)
        && string.Equals(AuditFileNames.ForDay(day), file, StringComparison.Ordinal)
        && File.Exists(Path.Combine(directory, file));
}

/// <summary>A live verification: the report, and the breaks the log's chain notes already record.</summary>
public sealed record LiveVerification(ChainReport Report, IReadOnlySet<ChainBreakKey> Noted)
{
    /// <summary>The breaks of the report that no chain note records yet, in log order.</summary>
    public IReadOnlyList<ChainIssue> Unnoted => [.. Report.Issues.Where(i => !Noted.Contains(ChainBreakKey.Of(i)))];
}
