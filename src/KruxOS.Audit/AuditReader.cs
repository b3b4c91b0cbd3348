using KruxOS.Core.Audit;
using Microsoft.Data.Sqlite;

namespace KruxOS.Audit;

/// <summary>A page of query results.</summary>
/// <param name="Entries">Matching entries with their positions.</param>
/// <param name="Total">All matches (for "Showing N–M of T").</param>
/// <param name="Limit">Page size used.</param>
/// <param name="Offset">Rows skipped.</param>
public sealed record AuditPage(IReadOnlyList<AuditRecordView> Entries, long Total, int Limit, int Offset);

/// <summary>Statistics plus, when asked, the chain verification.</summary>
public sealed record AuditStatsReport(AuditStats Stats, ChainReport? Chain)
{
    /// <summary><c>verified (N entries across M files)</c>, the break summary, or <c>not checked</c>.</summary>
    public string ChainSummary => Chain?.Summary ?? "not checked";
}

/// <summary>
/// Read side of the audit log for the CLI (<c>audit query|tail|replay|stats|verify</c>) and
/// <c>GET /api/audit</c>. Metadata comes from the SQLite index, opened read-only (or built in memory from
/// the day files when it is missing or stale); full entries are read from the CBOR records, grouped by
/// file. Safe to use while the gateway writes: it never writes to the directory. Each call opens and closes its own
/// connection, so one instance may be shared.
/// </summary>
public sealed class AuditReader
{
    private readonly string _directory;
    private readonly TimeProvider _clock;

    /// <summary>A reader over <paramref name="directory"/>.</summary>
    public AuditReader(string directory, TimeProvider? clock = null)
    {
        _directory = directory;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>Entries matching <paramref name="query"/>, newest first unless <see cref="AuditQuery.Ascending"/>.</summary>
    public Task<AuditPage> QueryAsync(AuditQuery query, CancellationToken ct = default) =>
        Task.Run(() => Query(query), ct);

    /// <summary>Every entry of a session in log order (up to <see cref="AuditQuery.MaxLimit"/> per page).</summary>
    public Task<AuditPage> ReplayAsync(string sessionId, int offset = 0, CancellationToken ct = default) =>
        QueryAsync(new AuditQuery { SessionId = sessionId, Ascending = true, Limit = AuditQuery.MaxLimit, Offset = offset }, ct);

    /// <summary>The newest <paramref name="count"/> entries, optionally of one agent, oldest first.</summary>
    public async Task<AuditPage> TailAsync(string? agent, int count = 20, CancellationToken ct = default)
    {
        var page = await QueryAsync(new AuditQuery { Agent = agent, Limit = count }, ct).ConfigureAwait(false);
        return page with { Entries = [.. page.Entries.Reverse()] };
    }

    /// <summary>Counts, latency and (when <paramref name="verifyChain"/>) the chain verification.</summary>
    public Task<AuditStatsReport> StatsAsync(AuditQuery query, bool verifyChain = true, CancellationToken ct = default) =>
        Task.Run(() =>
        {
            AuditStats stats;
            using (var index = OpenIndex())
            {
                stats = index?.Stats(query, _clock.GetUtcNow()) ?? new AuditStats(0, new Dictionary<string, long>(), new Dictionary<string, long>(), null, null, null, new Dictionary<string, long>());
            }
            return new AuditStatsReport(stats, verifyChain ? AuditVerifier.VerifyDirectory(_directory) : null);
        }, ct);

    /// <summary>Verifies the whole directory (see <see cref="AuditVerifier"/>).</summary>
    public Task<ChainReport> VerifyAsync(CancellationToken ct = default) =>
        Task.Run(() => AuditVerifier.VerifyDirectory(_directory), ct);

    private AuditPage Query(AuditQuery query)
    {
        using var index = OpenIndex();
        if (index is null) return new AuditPage([], 0, query.Limit, query.Offset);
        var (positions, total) = index.Find(query, _clock.GetUtcNow());
        return new AuditPage(Load(positions), total, query.Limit, query.Offset);
    }

    private List<AuditRecordView> Load(IReadOnlyList<AuditPosition> positions)
    {
        var result = new AuditRecordView?[positions.Count];
        foreach (var group in positions.Select((p, i) => (p, i)).GroupBy(x => x.p.File))
        {
            var path = Path.Combine(_directory, group.Key);
            if (!File.Exists(path)) continue;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            foreach (var (p, i) in group.OrderBy(x => x.p.Offset))
            {
                try
                {
                    result[i] = new AuditRecordView(AuditDirectory.ReadEntryAt(stream, p.Offset), p);
                }
                catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException or System.Formats.Cbor.CborContentException)
                {
                    // the record changed under the index; verify reports it
                }
            }
        }
        return [.. result.OfType<AuditRecordView>()];
    }

    /// <summary>How long a read waits for the writer's background indexer to reach the newest file's end.</summary>
    public static readonly TimeSpan IndexCatchUpWait = TimeSpan.FromSeconds(2);

    // Never writes: the gateway's writer owns the index. A missing index, or one that does not cover the
    // closed day files (a copied directory, a crash before the writer caught up), is replaced by a private
    // in-memory index built from the day files. The writer indexes in the background a moment after each
    // fsync, so a read first waits (briefly) until the index covers the newest file as long as it was when
    // the read began: an entry whose call was answered is always found. If the index does not get there
    // (no writer running after a crash between fsync and index), the read uses an in-memory index.
    private AuditIndex? OpenIndex()
    {
        if (!Directory.Exists(_directory)) return null;
        AuditIndex? index = null;
        try
        {
            var newest = AuditDirectory.ListDayFiles(_directory) is { Count: > 0 } files ? files[^1] : null;
            var target = newest is null ? 0 : new FileInfo(newest.Path).Length;
            index = AuditIndex.OpenReadOnly(_directory);
            if (index is not null && index.HasCurrentSchema && index.CoversClosedFiles() && (newest is null || WaitForIndex(index, newest.Name, target)))
                return index;
        }
        catch (SqliteException)
        {
            // unreadable index: rebuild in memory below
        }
        index?.Dispose();
        return AuditIndex.BuildInMemory(_directory);
    }

    private static bool WaitForIndex(AuditIndex index, string file, long length)
    {
        var deadline = DateTime.UtcNow + IndexCatchUpWait;
        while (index.IndexedLength(file) < length)
        {
            if (DateTime.UtcNow >= deadline) return false;
            // The writer may be another process (the CLI reads while the gateway writes), so the index file is
            // the only shared signal: poll it. Readers run on Task.Run threads, never on an actor or request thread.
            Thread.Sleep(5);
        }
        return true;
    }
}
