using System.Data.Common;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Cluster;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace KruxOS.Actors.Cluster;

/// <summary>
/// The cluster lease row (<c>kruxos_cluster_lease</c>) in the journal's own database, so "a cluster already uses this
/// journal" is decided where the journal is. Reads return the database's clock with the row (PostgreSQL's
/// <c>clock_timestamp()</c>; on SQLite, a file on one host, its <c>julianday('now')</c>), so node clocks never matter.
/// Writes are compare-and-set on the row's version: of two nodes that read the same free lease, one wins.
/// </summary>
public sealed class ClusterLeaseStore(PersistenceProvider provider, string connectionString)
{
    private const string Table = "kruxos_cluster_lease";

    private string Now => provider == PersistenceProvider.PostgreSql
        ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        : "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

    /// <summary>Creates the table and its one row when missing, then reads it.</summary>
    public async Task<ClusterLeaseRow> ReadAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await ExecuteAsync(connection, $"CREATE TABLE IF NOT EXISTS {Table} (id INTEGER PRIMARY KEY, holder TEXT NOT NULL, expires_at_ms BIGINT NOT NULL, version BIGINT NOT NULL)", ct)
            .ConfigureAwait(false);
        await ExecuteAsync(connection, $"INSERT INTO {Table} (id, holder, expires_at_ms, version) VALUES (1, '', 0, 0) ON CONFLICT (id) DO NOTHING", ct)
            .ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT holder, expires_at_ms, version, {Now} FROM {Table} WHERE id = 1";
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false)) throw new InvalidOperationException("the cluster lease row is missing");
        return new ClusterLeaseRow(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>Writes <paramref name="holder"/> for <paramref name="ttl"/> if the row is still at <paramref name="version"/>; false when another node wrote first.</summary>
    public async Task<bool> TryWriteAsync(long version, string holder, TimeSpan ttl, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"UPDATE {Table} SET holder = @holder, expires_at_ms = {Now} + @ttl, version = version + 1 WHERE id = 1 AND version = @version";
        Add(command, "holder", holder);
        Add(command, "ttl", (long)ttl.TotalMilliseconds);
        Add(command, "version", version);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    /// <summary>Frees the lease if <paramref name="holder"/> still holds it (the last member of a cluster stopping).</summary>
    public async Task ReleaseAsync(string holder, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"UPDATE {Table} SET holder = '', expires_at_ms = 0, version = version + 1 WHERE id = 1 AND holder = @holder";
        Add(command, "holder", holder);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        DbConnection connection = provider == PersistenceProvider.PostgreSql ? new NpgsqlConnection(connectionString) : new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            if (connection is SqliteConnection) await ExecuteAsync(connection, "PRAGMA busy_timeout = 10000", ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = "@" + name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}
