using KruxOS.Core.Audit;

namespace KruxOS.Audit;

/// <summary>
/// Keeps the verification of a live audit directory current without reading it all again each time (the
/// <c>integrity</c> of <c>GET /api/audit</c>). It keeps the <see cref="ChainVerifier"/> fed up to where it read:
/// every closed day file (ended, remembered by name, length and modification time) and the newest file up to
/// the last complete record it read (not ended, since the writer appends to it). A later call reads only what
/// was appended since: the rest of the newest file and any newer files.
/// <list type="bullet">
/// <item>It starts over (reads everything) when a closed file changed (name, length or modification time), the
/// anchors changed (retention), or the newest file shrank or changed without growing.</item>
/// <item>What it cannot see: bytes of the newest file rewritten in place <em>and</em> extended between two calls.
/// <c>kruxos audit verify</c> and the writer's background verification read everything.</item>
/// <item>A record cut short at the end of the newest file is reported (it may be a write in progress or a
/// truncation) but not remembered: the next call reads it again from its start.</item>
/// </list>
/// The index cross-check (<see cref="AuditVerifier.IndexIssues"/>) runs on every call. Not thread-safe: one call at a time.
/// </summary>
public sealed class IncrementalAuditVerifier(string directory)
{
    private ChainVerifier? _verifier;
    private readonly List<FileStamp> _closed = [];
    private string? _open;
    private long _openOffset;
    private int _openIndex;
    private FileStamp? _openSeen;
    private string _anchors = "";

    /// <summary>How many calls read the directory from the start.</summary>
    public long FullVerifications { get; private set; }

    /// <summary>How many records the last call read.</summary>
    public long LastEntriesRead { get; private set; }

    /// <summary>The verification of the directory as it is now.</summary>
    public ChainReport Verify()
    {
        var files = AuditDirectory.ListDayFiles(directory);
        var stamps = files.Select(FileStamp.Of).ToList();
        var anchors = AnchorsStamp();
        LastEntriesRead = 0;
        if (files.Count == 0)
        {
            Forget();
            FullVerifications++;
            return Finish(new ChainVerifier(AuditCbor.Genesis).Complete(), files);
        }
        if (!CanContinue(stamps, anchors)) Restart(files, anchors);

        // The file read last is still open (not ended): read what was appended, then end it if newer files exist.
        var verifier = _verifier!;
        var k = _closed.Count;
        var tail = Read(files[k], _openOffset, _openIndex);
        for (var i = k + 1; i < files.Count; i++)
        {
            verifier.EndFile(tail);
            _closed.Add(stamps[i - 1]);
            verifier.BeginFile(files[i].Name);
            tail = Read(files[i], 0, 0);
        }
        _open = files[^1].Name;
        _openOffset = tail.Offset;
        _openIndex = tail.Index;
        _openSeen = FileStamp.Of(files[^1]);
        var report = verifier.Complete();
        if (ChainVerifier.TailIssue(files[^1].Name, tail) is { } cut) report = report with { Issues = report.Issues.Add(cut) };
        return Finish(report, files);
    }

    private ChainReport Finish(ChainReport report, IReadOnlyList<AuditDayFile> files)
    {
        var fromIndex = AuditVerifier.IndexIssues(directory, files);
        return fromIndex.Count == 0 ? report : report with { Issues = report.Issues.AddRange(fromIndex) };
    }

    private bool CanContinue(List<FileStamp> stamps, string anchors)
    {
        if (_verifier is null || _open is null || anchors != _anchors || stamps.Count <= _closed.Count) return false;
        for (var i = 0; i < _closed.Count; i++)
            if (stamps[i] != _closed[i]) return false;
        var open = stamps[_closed.Count];
        if (open.Name != _open || open.Length < _openOffset) return false;
        // Unchanged length but a new modification time: rewritten in place.
        return !(open.Length == _openSeen!.Length && open.ModifiedTicks != _openSeen.ModifiedTicks);
    }

    private void Restart(IReadOnlyList<AuditDayFile> files, string anchors)
    {
        Forget();
        FullVerifications++;
        var (start, description) = AuditDirectory.StartFor(files[0].Day, AuditDirectory.ReadAnchors(directory));
        _verifier = new ChainVerifier(start, description);
        _verifier.BeginFile(files[0].Name);
        _open = files[0].Name;
        _anchors = anchors;
    }

    private void Forget()
    {
        _verifier = null;
        _closed.Clear();
        _open = null;
        _openOffset = 0;
        _openIndex = 0;
        _openSeen = null;
    }

    private FrameTail Read(AuditDayFile file, long offset, int index)
    {
        var tail = new TailHolder();
        foreach (var frame in AuditDirectory.ReadFrames(file.Path, tail, offset, index))
        {
            _verifier!.Accept(frame);
            LastEntriesRead++;
        }
        return tail.Value;
    }

    private string AnchorsStamp()
    {
        var path = Path.Combine(directory, AuditFileNames.Anchors);
        return File.Exists(path) ? FileStamp.Of(new AuditDayFile(default, path)).ToString() : "-";
    }

    private sealed record FileStamp(string Name, long Length, long ModifiedTicks)
    {
        public static FileStamp Of(AuditDayFile f)
        {
            var info = new FileInfo(f.Path);
            return new FileStamp(f.Name, info.Length, info.LastWriteTimeUtc.Ticks);
        }
    }
}
