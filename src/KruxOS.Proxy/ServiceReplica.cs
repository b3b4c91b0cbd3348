using System.Globalization;
using KruxOS.Core.Proxy;
using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy;

/// <summary>The machinery's record of a replica's sync, kept in the replica file itself (table <c>kruxos_replica</c>).</summary>
/// <param name="Cursor">The last sync's cursor, or null before the first (then the next sync is initial).</param>
/// <param name="Account">The account the replica holds data of.</param>
/// <param name="LastSyncAt">When the last successful sync ended.</param>
/// <param name="Entries">How many entries the last sync reported.</param>
/// <param name="LastError">The last failed sync's reason (cleared by a success).</param>
/// <param name="LastErrorAt">When it failed.</param>
public sealed record ReplicaSyncState(string? Cursor, string? Account, DateTimeOffset? LastSyncAt, long Entries, string? LastError, DateTimeOffset? LastErrorAt)
{
    /// <summary>A replica that has never synced.</summary>
    public static readonly ReplicaSyncState Empty = new(null, null, null, 0, null, null);
}

/// <summary>
/// The node-local replica of one service: the SQLite file <c>&lt;data&gt;/proxy/&lt;service&gt;/sync.db</c> (WAL), in a
/// directory created owner-only inside the gateway's private data directory. Reads (the modules' search/read handlers)
/// and syncs open short-lived connections with <see cref="OpenAsync"/>; <see cref="PurgeAsync"/> (disconnect, another
/// account) waits for open connections to close, deletes the files and starts the next sync from scratch. Nothing here
/// runs on an actor thread: callers are handlers (tasks) and the sync runner's piped work.
/// </summary>
public sealed class ServiceReplica
{
    /// <summary>The file name inside the service's directory.</summary>
    public const string FileName = "sync.db";

    /// <summary>How long a purge waits for open connections before it gives up (and reports it).</summary>
    public static readonly TimeSpan PurgeWait = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private int _open;
    private bool _purging;
    private TaskCompletionSource? _drained;

    /// <summary>The replica of <paramref name="service"/> under <paramref name="proxyDirectory"/> (<c>&lt;data&gt;/proxy</c>).</summary>
    public ServiceReplica(string proxyDirectory, ServiceName service)
    {
        ArgumentException.ThrowIfNullOrEmpty(proxyDirectory);
        Service = service;
        ProxyDirectory = Path.GetFullPath(proxyDirectory);
        Directory = Path.Combine(ProxyDirectory, service.Value);
        FilePath = Path.Combine(Directory, FileName);
    }

    /// <summary>The service.</summary>
    public ServiceName Service { get; }

    /// <summary><c>&lt;data&gt;/proxy</c>.</summary>
    public string ProxyDirectory { get; }

    /// <summary><c>&lt;data&gt;/proxy/&lt;service&gt;</c>.</summary>
    public string Directory { get; }

    /// <summary><c>&lt;data&gt;/proxy/&lt;service&gt;/sync.db</c>.</summary>
    public string FilePath { get; }

    /// <summary>True when the replica file exists.</summary>
    public bool Exists => File.Exists(FilePath);

    /// <summary>
    /// Opens a connection (creating the directory and file when missing). Throws <see cref="ReplicaUnavailableException"/>
    /// while a purge runs or when the directory is not what the gateway made (a symbolic link, not a directory).
    /// Dispose the lease to close it.
    /// </summary>
    public async Task<ReplicaLease> OpenAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_purging) throw new ReplicaUnavailableException($"the {Service.Value} replica is being purged");
            _open++;
        }
        SqliteConnection? connection = null;
        try
        {
            EnsureDirectory();
            connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = FilePath,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Cache = SqliteCacheMode.Private,
                Pooling = false,
                DefaultTimeout = 30,
            }.ToString());
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;", cancellationToken).ConfigureAwait(false);
            await Execute(connection, "CREATE TABLE IF NOT EXISTS kruxos_replica (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;", cancellationToken)
                .ConfigureAwait(false);
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
                File.SetUnixFileMode(FilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            return new ReplicaLease(this, connection);
        }
        catch
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            Released();
            throw;
        }
    }

    /// <summary>The machinery's sync record (<see cref="ReplicaSyncState.Empty"/> when the file does not exist yet).</summary>
    public async Task<ReplicaSyncState> ReadSyncStateAsync(CancellationToken cancellationToken)
    {
        if (!Exists) return ReplicaSyncState.Empty;
        await using var lease = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ReadSyncStateAsync(lease.Connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the sync record through an open connection.</summary>
    public static async Task<ReplicaSyncState> ReadSyncStateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT key, value FROM kruxos_replica";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) values[reader.GetString(0)] = reader.GetString(1);
        }
        return new ReplicaSyncState(
            values.GetValueOrDefault("cursor"),
            values.GetValueOrDefault("account"),
            Time(values.GetValueOrDefault("last_sync_at")),
            long.TryParse(values.GetValueOrDefault("entries"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0,
            values.GetValueOrDefault("last_error"),
            Time(values.GetValueOrDefault("last_error_at")));
    }

    /// <summary>Records a successful sync (cursor, entries, time) in one transaction; clears the last error.</summary>
    public static Task SaveSyncAsync(SqliteConnection connection, string? cursor, long entries, DateTimeOffset at, CancellationToken cancellationToken) =>
        Set(connection, cancellationToken,
            ("cursor", cursor), ("entries", entries.ToString(CultureInfo.InvariantCulture)), ("last_sync_at", Text(at)),
            ("last_error", null), ("last_error_at", null));

    /// <summary>Records a failed sync (the cursor stays).</summary>
    public static Task SaveSyncErrorAsync(SqliteConnection connection, string error, DateTimeOffset at, CancellationToken cancellationToken) =>
        Set(connection, cancellationToken, ("last_error", error.Length <= 500 ? error : error[..500]), ("last_error_at", Text(at)));

    /// <summary>Records the account the replica belongs to.</summary>
    public static Task SaveAccountAsync(SqliteConnection connection, string account, CancellationToken cancellationToken) =>
        Set(connection, cancellationToken, ("account", account));

    /// <summary>
    /// Deletes the replica (file, WAL and shared-memory files) once every open connection is closed; new opens are refused
    /// meanwhile. False when connections stayed open longer than <see cref="PurgeWait"/> (nothing is deleted then).
    /// </summary>
    public async Task<bool> PurgeAsync(CancellationToken cancellationToken)
    {
        Task drained;
        lock (_gate)
        {
            if (_purging) return false;
            _purging = true;
            _drained = _open == 0 ? null : new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained?.Task ?? Task.CompletedTask;
        }
        try
        {
            try { await drained.WaitAsync(PurgeWait, cancellationToken).ConfigureAwait(false); }
            catch (TimeoutException) { return false; }
            foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
            {
                var path = FilePath + suffix;
                if (File.Exists(path)) File.Delete(path);
            }
            return true;
        }
        finally
        {
            lock (_gate)
            {
                _purging = false;
                _drained = null;
            }
        }
    }

    internal void Released()
    {
        lock (_gate)
        {
            _open--;
            if (_open == 0) _drained?.TrySetResult();
        }
    }

    // <data>/proxy and <data>/proxy/<service> are the gateway's own directories: refuse anything else standing there.
    private void EnsureDirectory()
    {
        foreach (var dir in new[] { ProxyDirectory, Directory })
        {
            var info = new DirectoryInfo(dir);
            if (info.Exists)
            {
                if (info.LinkTarget is not null) throw new ReplicaUnavailableException($"'{dir}' is a symbolic link; the replica is not opened");
                continue;
            }
            if (File.Exists(dir)) throw new ReplicaUnavailableException($"'{dir}' is not a directory; the replica is not opened");
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
                System.IO.Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            else
                System.IO.Directory.CreateDirectory(dir);
        }
        if (new FileInfo(FilePath) is { Exists: true, LinkTarget: not null })
            throw new ReplicaUnavailableException($"'{FilePath}' is a symbolic link; the replica is not opened");
    }

    private static async Task Set(SqliteConnection connection, CancellationToken ct, params (string Key, string? Value)[] values)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var (key, value) in values)
        {
            await using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            if (value is null)
            {
                cmd.CommandText = "DELETE FROM kruxos_replica WHERE key = $k";
            }
            else
            {
                cmd.CommandText = "INSERT INTO kruxos_replica (key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
                cmd.Parameters.AddWithValue("$v", value);
            }
            cmd.Parameters.AddWithValue("$k", key);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private static async Task Execute(SqliteConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static string Text(DateTimeOffset at) => at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset? Time(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;
}

/// <summary>An open connection to a replica; disposing closes it and lets a waiting purge proceed.</summary>
public sealed class ReplicaLease : IAsyncDisposable, IDisposable
{
    private readonly ServiceReplica _replica;
    private int _released;

    internal ReplicaLease(ServiceReplica replica, SqliteConnection connection)
    {
        _replica = replica;
        Connection = connection;
    }

    /// <summary>The open connection.</summary>
    public SqliteConnection Connection { get; }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        await Connection.DisposeAsync().ConfigureAwait(false);
        _replica.Released();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        Connection.Dispose();
        _replica.Released();
    }
}

/// <summary>The replica cannot be opened now (being purged, or its directory is not the gateway's).</summary>
public sealed class ReplicaUnavailableException(string message) : Exception(message);
