using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Microsoft.Data.Sqlite;

namespace KruxOS.Audit;

/// <summary>Where an entry lives in the log.</summary>
/// <param name="File">Day file name.</param>
/// <param name="EntryIndex">0-based position in the file.</param>
/// <param name="Offset">Byte offset of the record's length prefix.</param>
/// <param name="Length">Length of the framed record (prefix included).</param>
public sealed record AuditPosition(string File, int EntryIndex, long Offset, int Length);

/// <summary>An entry and its position, as returned by queries.</summary>
public sealed record AuditRecordView(AuditEntry Entry, AuditPosition Position);

/// <summary>
/// The SQLite index <c>audit-index.db</c> (WAL): entry metadata and file positions only, never inputs or
/// outputs. Derived data: it can always be rebuilt from the day files (<see cref="Rebuild"/>), and
/// <see cref="CatchUp"/> indexes whatever the log holds beyond what the index knows (after a crash).
/// One instance per connection; not thread-safe.
/// </summary>
public sealed class AuditIndex : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly string _directory;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS entries(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL,
            ts_us INTEGER NOT NULL,
            kind TEXT NOT NULL,
            actor_type TEXT NOT NULL,
            actor_name TEXT NOT NULL,
            session_id TEXT,
            capability TEXT NOT NULL,
            status TEXT NOT NULL,
            tier TEXT,
            duration_ms INTEGER NOT NULL,
            approval_request_id TEXT,
            approval_decision TEXT,
            entry_hash TEXT NOT NULL,
            file TEXT NOT NULL,
            entry_index INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS ix_entries_ts ON entries(ts_us);
        CREATE INDEX IF NOT EXISTS ix_entries_actor ON entries(actor_name, ts_us);
        CREATE INDEX IF NOT EXISTS ix_entries_session ON entries(session_id, ts_us) WHERE session_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_entries_capability ON entries(capability, ts_us);
        CREATE INDEX IF NOT EXISTS ix_entries_status ON entries(status, ts_us);
        CREATE INDEX IF NOT EXISTS ix_entries_approval_linked ON entries(approval_request_id) WHERE approval_request_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_entries_decision ON entries(approval_decision, ts_us) WHERE approval_decision IS NOT NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS ux_entries_position ON entries(file, offset);
        CREATE TABLE IF NOT EXISTS files(
            file TEXT PRIMARY KEY,
            indexed_length INTEGER NOT NULL,
            entries INTEGER NOT NULL);
        """;

    // Indexes of earlier versions, replaced above: every insert paid for them. ix_entries_id served no
    // query (entries are found by position); the unique position index now makes inserts idempotent on its
    // own (INSERT OR IGNORE) instead of a separate NOT EXISTS probe; the approval and session indexes are
    // partial, so plain calls without an approval (most of them) do not touch them.
    private const string DropRetiredIndexes = """
        DROP INDEX IF EXISTS ix_entries_id;
        DROP INDEX IF EXISTS ix_entries_file;
        DROP INDEX IF EXISTS ix_entries_approval;
        DROP INDEX IF EXISTS ix_entries_session;
        """;

    /// <summary>
    /// The schema this code writes, recorded in the file as <c>PRAGMA user_version</c> once an index is migrated to
    /// it: 2 = <c>approval_decision</c> column. An index that records less (0: written before versions were
    /// recorded) is migrated when the writer opens it, and read-only readers do not use it (<see cref="HasCurrentSchema"/>).
    /// </summary>
    public const int SchemaVersion = 2;

    private SqliteCommand? _insert;
    private readonly Dictionary<string, SqliteParameter> _insertParameters = new(StringComparer.Ordinal);

    private AuditIndex(SqliteConnection connection, string directory)
    {
        _connection = connection;
        _directory = directory;
    }

    /// <summary>Path of the index in an audit directory.</summary>
    public static string PathIn(string directory) => Path.Combine(directory, AuditFileNames.Index);

    /// <summary>Opens (creating if needed) the index of <paramref name="directory"/> for writing.</summary>
    public static AuditIndex Open(string directory)
    {
        // Created 0600 before SQLite opens it; its -wal and -shm take the database file's mode.
        AuditFileModes.EnsureFile(PathIn(directory));
        var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = PathIn(directory),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        c.Open();
        Exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
        var index = new AuditIndex(c, directory);
        index.MigrateIfOlder();
        return index;
    }

    /// <summary>
    /// Whether this index has the current schema (<see cref="SchemaVersion"/>). A read-only reader that finds an
    /// older one (the writer has not migrated it yet) builds its private in-memory index instead.
    /// </summary>
    public bool HasCurrentSchema => UserVersion(_connection) >= SchemaVersion;

    /// <summary>Opens an existing index read-only, or returns null when there is none.</summary>
    public static AuditIndex? OpenReadOnly(string directory)
    {
        if (!File.Exists(PathIn(directory))) return null;
        var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = PathIn(directory),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        c.Open();
        Exec(c, "PRAGMA busy_timeout=5000;");
        return new AuditIndex(c, directory);
    }

    /// <summary>
    /// A private in-memory index built from the day files of <paramref name="directory"/>, for reading a
    /// directory whose own index is missing or stale without writing to it.
    /// </summary>
    public static AuditIndex BuildInMemory(string directory)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = ":memory:",
            Mode = SqliteOpenMode.Memory,
            Pooling = false,
        }.ToString());
        c.Open();
        Exec(c, Schema + $"PRAGMA user_version = {SchemaVersion};");
        var index = new AuditIndex(c, directory);
        index.CatchUp();
        return index;
    }

    /// <summary>
    /// Whether the index covers every day file except possibly the end of the newest one (which the
    /// running writer indexes right after each fsync).
    /// </summary>
    public bool CoversClosedFiles()
    {
        var known = IndexedFiles();
        var files = AuditDirectory.ListDayFiles(_directory);
        for (var i = 0; i < files.Count; i++)
        {
            if (!known.TryGetValue(files[i].Name, out var k))
            {
                if (i == files.Count - 1 && new FileInfo(files[i].Path).Length == 0) continue;
                return false;
            }
            if (i < files.Count - 1 && k.Length < new FileInfo(files[i].Path).Length) return false;
        }
        return true;
    }

    internal SqliteConnection Connection => _connection;

    /// <summary>Adds entries written to one day file, in file order.</summary>
    /// <returns>How many rows were new (rows already indexed at the same position are skipped).</returns>
    public int Add(IReadOnlyList<(AuditEntry Entry, AuditPosition Position)> rows, string file, long fileLength)
    {
        if (rows.Count == 0 && fileLength == 0) return 0;
        var added = 0;
        using var tx = _connection.BeginTransaction();
        var cmd = InsertCommand();
        cmd.Transaction = tx;
        var p = _insertParameters;
        foreach (var (e, pos) in rows)
        {
            p["$id"].Value = e.Id.ToString("D");
            p["$ts"].Value = AuditTime.ToUnixMicros(e.Timestamp);
            p["$kind"].Value = e.Kind.ToWire();
            p["$at"].Value = e.Actor.Kind == Core.Agents.PrincipalKind.Agent ? "agent" : "user";
            p["$an"].Value = e.Actor.Name;
            p["$sid"].Value = (object?)e.SessionId ?? DBNull.Value;
            p["$cap"].Value = e.Capability;
            p["$status"].Value = e.Status.ToWire();
            p["$tier"].Value = (object?)e.PolicyDecision?.Tier.ToWire() ?? DBNull.Value;
            p["$dur"].Value = e.DurationMs;
            p["$appr"].Value = (object?)e.Metadata.ApprovalRequestId ?? DBNull.Value;
            p["$dec"].Value = (object?)e.Metadata.ApprovalDecision ?? DBNull.Value;
            p["$hash"].Value = e.EntryHash ?? "";
            p["$file"].Value = pos.File;
            p["$idx"].Value = pos.EntryIndex;
            p["$off"].Value = pos.Offset;
            p["$len"].Value = pos.Length;
            added += cmd.ExecuteNonQuery();
        }
        using (var files = _connection.CreateCommand())
        {
            files.Transaction = tx;
            files.CommandText = """
                INSERT INTO files(file, indexed_length, entries) VALUES($f, $l, $n)
                ON CONFLICT(file) DO UPDATE SET indexed_length = MAX(indexed_length, excluded.indexed_length), entries = MAX(entries, excluded.entries)
                """;
            files.Parameters.AddWithValue("$f", file);
            files.Parameters.AddWithValue("$l", fileLength);
            // entries = records in the file up to indexed_length: the last row's index + 1 (rows come in file order)
            files.Parameters.AddWithValue("$n", rows.Count == 0 ? 0 : rows[^1].Position.EntryIndex + 1);
            files.ExecuteNonQuery();
        }
        tx.Commit();
        return added;
    }

    // One prepared statement for the life of the connection: a batch binds and steps it per row.
    // Idempotent: a record already indexed at (file, offset) is ignored (unique position index), so the
    // writer's background indexer and a catch-up (after a restart, or after a failed insert) may overlap
    // without duplicates.
    private SqliteCommand InsertCommand()
    {
        if (_insert is not null) return _insert;
        var cmd = _connection.CreateCommand();
        cmd.CommandText = """
            INSERT OR IGNORE INTO entries(id, ts_us, kind, actor_type, actor_name, session_id, capability, status, tier,
                duration_ms, approval_request_id, approval_decision, entry_hash, file, entry_index, offset, length)
            VALUES($id, $ts, $kind, $at, $an, $sid, $cap, $status, $tier, $dur, $appr, $dec, $hash, $file, $idx, $off, $len)
            """;
        foreach (var name in new[] { "$id", "$ts", "$kind", "$at", "$an", "$sid", "$cap", "$status", "$tier", "$dur", "$appr", "$dec", "$hash", "$file", "$idx", "$off", "$len" })
            _insertParameters[name] = cmd.Parameters.Add(new SqliteParameter { ParameterName = name });
        cmd.Prepare();
        return _insert = cmd;
    }

    // Brings an index written by an earlier version to SchemaVersion, then records it. Each step is detected from
    // the file itself, so an index from before user_version was recorded (0) is handled too, and each is safe to
    // repeat: a crash before user_version is written just runs them again at the next open. Derived data, so
    // nothing is lost either way.
    //   1: the retired indexes (and possibly no unique position index): dropped (if present) before the schema creates the current ones.
    //   2: no approval_decision column: added, and filled in from the records that can carry a decision.
    private void MigrateIfOlder()
    {
        var c = _connection;
        if (UserVersion(c) >= SchemaVersion)
        {
            Exec(c, Schema);
            return;
        }
        Exec(c, DropRetiredIndexes);
        if (TableExists(c, "entries") && !ColumnExists(c, "entries", "approval_decision"))
            Exec(c, "ALTER TABLE entries ADD COLUMN approval_decision TEXT;");
        Exec(c, Schema);
        BackfillApprovalDecisions();
        Exec(c, $"PRAGMA user_version = {SchemaVersion};");
    }

    // Only an entry linked to an approval (approval_request_id) can carry a decision: read just those records.
    private void BackfillApprovalDecisions()
    {
        var rows = new List<(long Seq, string File, long Offset)>();
        using (var find = _connection.CreateCommand())
        {
            find.CommandText = "SELECT seq, file, offset FROM entries WHERE approval_request_id IS NOT NULL AND approval_decision IS NULL ORDER BY file, offset";
            using var r = find.ExecuteReader();
            while (r.Read()) rows.Add((r.GetInt64(0), r.GetString(1), r.GetInt64(2)));
        }
        if (rows.Count == 0) return;
        using var tx = _connection.BeginTransaction();
        using var update = _connection.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE entries SET approval_decision = $dec WHERE seq = $seq";
        var dec = update.Parameters.Add(new SqliteParameter { ParameterName = "$dec" });
        var seq = update.Parameters.Add(new SqliteParameter { ParameterName = "$seq" });
        foreach (var group in rows.GroupBy(x => x.File))
        {
            var path = Path.Combine(_directory, group.Key);
            if (!File.Exists(path)) continue;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            foreach (var row in group)
            {
                string? decision;
                try { decision = AuditDirectory.ReadEntryAt(stream, row.Offset).Metadata.ApprovalDecision; }
                catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException or InvalidOperationException
                                               or System.Formats.Cbor.CborContentException)
                {
                    continue; // changed under the index; verification reports it
                }
                if (decision is null) continue;
                dec.Value = decision;
                seq.Value = row.Seq;
                update.ExecuteNonQuery();
            }
        }
        tx.Commit();
    }

    private static long UserVersion(SqliteConnection c)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA user_version;";
        return (long)cmd.ExecuteScalar()!;
    }

    private static bool TableExists(SqliteConnection c, string table)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $t";
        cmd.Parameters.AddWithValue("$t", table);
        return (long)cmd.ExecuteScalar()! > 0;
    }

    private static bool ColumnExists(SqliteConnection c, string table, string column)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = $c";
        cmd.Parameters.AddWithValue("$c", column);
        return (long)cmd.ExecuteScalar()! > 0;
    }

    /// <summary>The length of <paramref name="file"/> the index covers (0 when it knows nothing of it).</summary>
    public long IndexedLength(string file)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT indexed_length FROM files WHERE file = $f";
        cmd.Parameters.AddWithValue("$f", file);
        return cmd.ExecuteScalar() is long length ? length : 0;
    }

    /// <summary>What the index knows about each file: indexed length and entry count.</summary>
    public IReadOnlyDictionary<string, (long Length, int Entries)> IndexedFiles()
    {
        var result = new Dictionary<string, (long, int)>(StringComparer.Ordinal);
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT file, indexed_length, entries FROM files";
        using var r = cmd.ExecuteReader();
        while (r.Read()) result[r.GetString(0)] = (r.GetInt64(1), r.GetInt32(2));
        return result;
    }

    /// <summary>
    /// Indexes every complete record the day files hold beyond what the index knows. Returns the number of
    /// entries added. Records that cannot be decoded are skipped (verification reports them).
    /// <paramref name="boundedFile"/> is read only up to <paramref name="boundedLength"/>: the running
    /// writer passes its newest file and the length known durable, so bytes of a batch still being
    /// written (or about to be cut back after a failed fsync) are never indexed.
    /// </summary>
    public int CatchUp(string? boundedFile = null, long boundedLength = long.MaxValue)
    {
        var known = IndexedFiles();
        var added = 0;
        foreach (var day in AuditDirectory.ListDayFiles(_directory))
        {
            var (fromLength, fromIndex) = known.TryGetValue(day.Name, out var k) ? k : (0L, 0);
            var size = new FileInfo(day.Path).Length;
            var limit = day.Name == boundedFile ? Math.Min(size, boundedLength) : size;
            if (limit <= fromLength) continue;
            var rows = new List<(AuditEntry, AuditPosition)>();
            var tail = new TailHolder();
            long end = fromLength;
            foreach (var frame in AuditDirectory.ReadFrames(day.Path, tail, fromLength, fromIndex))
            {
                var frameEnd = frame.Offset + AuditFraming.PrefixLength + frame.Payload.Length;
                if (frameEnd > limit) break;
                end = frameEnd;
                try
                {
                    rows.Add((AuditCbor.DecodeStored(frame.Payload),
                        new AuditPosition(day.Name, frame.Index, frame.Offset, AuditFraming.PrefixLength + frame.Payload.Length)));
                }
                catch (Exception ex) when (ex is System.Formats.Cbor.CborContentException or FormatException or InvalidOperationException)
                {
                    // not indexable; the verifier reports it
                }
            }
            added += Add(rows, day.Name, end);
        }
        return added;
    }

    /// <summary>Drops every row and indexes the day files again from scratch.</summary>
    public int Rebuild()
    {
        Exec(_connection, "DELETE FROM entries; DELETE FROM files;");
        return CatchUp();
    }

    /// <summary>Removes the rows of deleted day files.</summary>
    public void RemoveFiles(IEnumerable<string> files)
    {
        using var tx = _connection.BeginTransaction();
        foreach (var f in files)
        {
            using var cmd = _connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM entries WHERE file = $f; DELETE FROM files WHERE file = $f;";
            cmd.Parameters.AddWithValue("$f", f);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Positions of the entries matching a query, and the total number of matches.</summary>
    public (IReadOnlyList<AuditPosition> Positions, long Total) Find(AuditQuery query, DateTimeOffset now)
    {
        var (where, bind) = Where(query, now);
        long total;
        using (var count = _connection.CreateCommand())
        {
            count.CommandText = $"SELECT COUNT(*) FROM entries {where}";
            bind(count);
            total = (long)count.ExecuteScalar()!;
        }
        using var cmd = _connection.CreateCommand();
        var order = query.Ascending ? "ASC" : "DESC";
        cmd.CommandText = $"SELECT file, entry_index, offset, length FROM entries {where} ORDER BY ts_us {order}, seq {order} LIMIT $limit OFFSET $offset";
        bind(cmd);
        cmd.Parameters.AddWithValue("$limit", Math.Clamp(query.Limit, 1, AuditQuery.MaxLimit));
        cmd.Parameters.AddWithValue("$offset", Math.Max(0, query.Offset));
        var list = new List<AuditPosition>();
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(new AuditPosition(r.GetString(0), r.GetInt32(1), r.GetInt64(2), r.GetInt32(3)));
        return (list, total);
    }

    /// <summary>
    /// Counts by status and capability and duration percentiles of the matching <c>call</c> entries, and counts of the
    /// matching entries of every other kind. Only call entries count as outcomes: a blocked call also has a
    /// <c>policy_violation</c> entry, an approval a resolution entry, and counting those as calls would count one
    /// call twice.
    /// </summary>
    public AuditStats Stats(AuditQuery query, DateTimeOffset now)
    {
        var (matching, bind) = Where(query, now);
        var where = (matching.Length == 0 ? "WHERE " : matching + " AND ") + "kind = 'call'";
        var byStatus = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var byCapability = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var otherKinds = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = $"SELECT kind, COUNT(*) FROM entries {(matching.Length == 0 ? "WHERE " : matching + " AND ")}kind <> 'call' GROUP BY kind";
            bind(cmd);
            using var r = cmd.ExecuteReader();
            while (r.Read()) otherKinds[r.GetString(0)] = r.GetInt64(1);
        }
        using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = $"SELECT status, COUNT(*) FROM entries {where} GROUP BY status";
            bind(cmd);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                byStatus[r.GetString(0)] = r.GetInt64(1);
                total += r.GetInt64(1);
            }
        }
        using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = $"SELECT capability, COUNT(*) FROM entries {where} GROUP BY capability";
            bind(cmd);
            using var r = cmd.ExecuteReader();
            while (r.Read()) byCapability[r.GetString(0)] = r.GetInt64(1);
        }
        return new AuditStats(total, byStatus, byCapability, Percentile(0.50), Percentile(0.95), Average(), otherKinds);

        long? Percentile(double q)
        {
            if (total == 0) return null;
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = $"SELECT duration_ms FROM entries {where} ORDER BY duration_ms LIMIT 1 OFFSET $k";
            bind(cmd);
            cmd.Parameters.AddWithValue("$k", (long)Math.Ceiling(q * total) - 1);
            return (long?)cmd.ExecuteScalar();
        }

        double? Average()
        {
            if (total == 0) return null;
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = $"SELECT AVG(duration_ms) FROM entries {where}";
            bind(cmd);
            return Convert.ToDouble(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private static (string Where, Action<SqliteCommand> Bind) Where(AuditQuery q, DateTimeOffset now)
    {
        var clauses = new List<string>();
        var values = new List<(string, object)>();
        if (q.Agent is not null) { clauses.Add("actor_type = 'agent' AND actor_name = $agent"); values.Add(("$agent", q.Agent)); }
        if (q.ActorType is not null) { clauses.Add("actor_type = $atype"); values.Add(("$atype", q.ActorType)); }
        if (q.Capability is not null) { clauses.Add("capability GLOB $cap"); values.Add(("$cap", q.Capability)); }
        if (q.Status is { } s) { clauses.Add("status = $status"); values.Add(("$status", s.ToWire())); }
        if (q.SessionId is not null) { clauses.Add("session_id = $sid"); values.Add(("$sid", q.SessionId)); }
        if (q.ApprovalRequestId is not null) { clauses.Add("approval_request_id = $appr"); values.Add(("$appr", q.ApprovalRequestId)); }
        if (q.ApprovalDecision is not null) { clauses.Add("approval_decision = $dec"); values.Add(("$dec", q.ApprovalDecision)); }
        var from = q.From;
        if (q.Last is { } last)
        {
            var f = now - last;
            from = from is null || f > from ? f : from;
        }
        if (from is { } fr) { clauses.Add("ts_us >= $from"); values.Add(("$from", AuditTime.ToUnixMicros(fr))); }
        if (q.To is { } to) { clauses.Add("ts_us < $to"); values.Add(("$to", AuditTime.ToUnixMicros(to))); }
        var where = clauses.Count == 0 ? "" : "WHERE " + string.Join(" AND ", clauses);
        return (where, cmd =>
        {
            foreach (var (n, v) in values) cmd.Parameters.AddWithValue(n, v);
        });
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _insert?.Dispose();
        _connection.Dispose();
    }
}

/// <summary>
/// Filters of <c>kruxos audit query</c> and <c>GET /api/audit</c>. Null means "any".
/// <see cref="Capability"/> is a glob (<c>filesystem.*</c>); <see cref="Last"/> and <see cref="From"/>
/// combine to the later bound; <see cref="To"/> is exclusive.
/// </summary>
public sealed record AuditQuery
{
    /// <summary>Largest page.</summary>
    public const int MaxLimit = 1000;

    /// <summary>Agent name (implies actor type agent).</summary>
    public string? Agent { get; init; }
    /// <summary><c>agent</c> or <c>user</c>.</summary>
    public string? ActorType { get; init; }
    /// <summary>Capability glob.</summary>
    public string? Capability { get; init; }
    /// <summary>Outcome.</summary>
    public AuditStatus? Status { get; init; }
    /// <summary>Session (for replay).</summary>
    public string? SessionId { get; init; }
    /// <summary>Entries linked to an approval request.</summary>
    public string? ApprovalRequestId { get; init; }
    /// <summary>
    /// Entries whose approval ended so (<c>metadata.approval_decision</c>: <c>approved</c>, <c>rejected</c>,
    /// <c>timed_out</c>, <c>expired</c>): the approval's resolution entry and the held call's final entry.
    /// </summary>
    public string? ApprovalDecision { get; init; }
    /// <summary>Inclusive lower bound.</summary>
    public DateTimeOffset? From { get; init; }
    /// <summary>Exclusive upper bound.</summary>
    public DateTimeOffset? To { get; init; }
    /// <summary>A window ending now (<c>1h</c>, <c>24h</c>, <c>7d</c>).</summary>
    public TimeSpan? Last { get; init; }
    /// <summary>Page size. <b>Default</b>: 50.</summary>
    public int Limit { get; init; } = 50;
    /// <summary>Rows to skip.</summary>
    public int Offset { get; init; }
    /// <summary>Oldest first (replay) instead of newest first. <b>Default</b>: false.</summary>
    public bool Ascending { get; init; }

    /// <summary>
    /// This query filtered by an outcome (<c>--outcome</c>, <c>status=</c>): a status (<c>success</c>, <c>denied</c>,
    /// <c>error</c>, <c>pending</c> and their aliases) filters on <see cref="Status"/>; an approval decision
    /// (<c>approved</c>, <c>rejected</c>, <c>timed_out</c>, <c>expired</c>) on <see cref="ApprovalDecision"/>.
    /// </summary>
    public bool TryWithOutcome(string? outcome, out AuditQuery query)
    {
        query = this;
        if (AuditWire.TryParseApprovalDecision(outcome, out var decision)) query = this with { ApprovalDecision = decision };
        else if (AuditWire.TryParseStatus(outcome, out var status)) query = this with { Status = status };
        else return false;
        return true;
    }

    /// <summary>What <see cref="TryWithOutcome"/> accepts, for error messages.</summary>
    public const string Outcomes = "success, denied, error, pending, or an approval decision: approved, rejected, timed_out, expired";

    /// <summary>
    /// Parses a time bound (<c>--from</c>/<c>--to</c>, <c>from</c>/<c>to</c>): an RFC 3339 timestamp, or a date alone
    /// (<c>YYYY-MM-DD</c>, UTC) meaning that whole day: as a lower bound its start, as an upper bound
    /// (<paramref name="upper"/>, exclusive) the start of the next day, so <c>--to 2026-03-01</c> includes March 1.
    /// </summary>
    public static bool TryParseBound(string? text, bool upper, out DateTimeOffset bound)
    {
        bound = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        if (DateOnly.TryParseExact(text.Trim(), "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var day))
        {
            bound = new DateTimeOffset((upper ? day.AddDays(1) : day).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return true;
        }
        return DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out bound);
    }

    /// <summary>Parses a window such as <c>30m</c>, <c>1h</c>, <c>24h</c>, <c>7d</c>.</summary>
    public static bool TryParseWindow(string? text, out TimeSpan window)
    {
        window = default;
        if (string.IsNullOrWhiteSpace(text) || text.Length < 2) return false;
        if (!int.TryParse(text.AsSpan(0, text.Length - 1), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var n) || n <= 0) return false;
        window = char.ToLowerInvariant(text[^1]) switch
        {
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            _ => TimeSpan.Zero,
        };
        return window > TimeSpan.Zero;
    }

    /// <summary>Whether a capability glob is well formed (dotted segments, <c>*</c> and <c>?</c>).</summary>
    public static bool IsValidCapabilityGlob(string glob) =>
        glob.Length is > 0 and <= 128 && glob.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '.' or '*' or '?');
}

/// <summary>Counts and latency of a set of entries: outcomes over the calls, the other kinds counted apart.</summary>
/// <param name="Total">Matching <c>call</c> entries.</param>
/// <param name="ByStatus">Counts of the calls per status (wire spelling).</param>
/// <param name="ByCapability">Counts of the calls per capability.</param>
/// <param name="P50DurationMs">Median duration of the calls.</param>
/// <param name="P95DurationMs">95th percentile duration of the calls.</param>
/// <param name="AverageDurationMs">Mean duration of the calls.</param>
/// <param name="OtherKinds">Counts of the matching entries of every other kind (<c>policy_violation</c>, <c>path_escape</c>,
/// <c>approval_resolution</c>, <c>chain_note</c>).</param>
public sealed record AuditStats(
    long Total,
    IReadOnlyDictionary<string, long> ByStatus,
    IReadOnlyDictionary<string, long> ByCapability,
    long? P50DurationMs,
    long? P95DurationMs,
    double? AverageDurationMs,
    IReadOnlyDictionary<string, long> OtherKinds);
