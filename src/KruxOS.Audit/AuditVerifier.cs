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
    public static ChainReport VerifyDirectory(string directory)
    {
        var files = AuditDirectory.ListDayFiles(directory);
        var anchors = AuditDirectory.ReadAnchors(directory);
        var (start, description) = files.Count == 0
            ? (AuditCbor.Genesis.ToArray(), "genesis")
            : AuditDirectory.StartFor(files[0].Day, anchors);
        var v = new ChainVerifier(start, description);
        foreach (var f in files)
        {
            v.BeginFile(f.Name);
            var tail = new TailHolder();
            foreach (var frame in AuditDirectory.ReadFrames(f.Path, tail)) v.Accept(frame);
            v.EndFile(tail.Value);
        }
        CrossCheckIndex(directory, files, v);
        return v.Complete();
    }

    private static void CrossCheckIndex(string directory, IReadOnlyList<AuditDayFile> files, ChainVerifier v)
    {
        IReadOnlyDictionary<string, (long Length, int Entries)> indexed;
        try
        {
            using var index = AuditIndex.OpenReadOnly(directory);
            if (index is null) return;
            indexed = index.IndexedFiles();
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return; // an unreadable index is not evidence either way; the chain check stands alone
        }
        var present = files.ToDictionary(f => f.Name, f => f.Path, StringComparer.Ordinal);
        foreach (var (file, (length, entries)) in indexed.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (!present.TryGetValue(file, out var path))
            {
                v.Report(new ChainIssue(ChainIssueKind.MissingFile, file, 0, 0,
                    $"the index lists {entries} entries in this day file, but the file is missing"));
                continue;
            }
            var size = new FileInfo(path).Length;
            if (size < length)
            {
                v.Report(new ChainIssue(ChainIssueKind.TruncatedRecord, file, entries, size,
                    $"the file is {size} bytes but {length} bytes ({entries} entries) were indexed: it was truncated"));
            }
        }
    }
}
