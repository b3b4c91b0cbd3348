using System.Data.Common;
using LinqToDB;
using Microsoft.Data.Sqlite;

namespace KruxOS.Actors.Hosting;

/// <summary>
/// How the embedded SQLite journal (<c>kruxos.db</c>) is opened. SQLite admits one writer at a time, and
/// Microsoft.Data.Sqlite answers a busy database by sleeping 150 ms before it retries: with the plugin's three
/// concurrent journal writers, four approvals in flight waited 150–450 ms for their pending event instead of 3 ms.
/// So the journal writes through one connection at a time (it still batches whatever queued meanwhile), and every
/// connection lets SQLite's own busy handler, which retries within milliseconds, wait for the lock instead.
/// </summary>
internal static class SqliteJournal
{
    /// <summary>Concurrent journal writers.</summary>
    public const int Writers = 1;

    /// <summary>How long a statement waits for another connection's write lock before it fails.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(10);

    private static readonly string BusyTimeoutPragma = $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds};";

    /// <summary>The connections of the journal, its queries and the snapshot store: each sets the busy timeout when opened.</summary>
    public static DataOptions DataOptions(string connectionString) => new DataOptions()
        .UseConnectionString(ProviderName.SQLiteMS, connectionString)
        .UseAfterConnectionOpened(SetBusyTimeout, SetBusyTimeoutAsync);

    /// <summary>
    /// Plugin settings that go with <see cref="DataOptions"/>. The plugin picks the indexes it creates with its tables
    /// (journal by persistence id and sequence number, tags by tag) by the provider name in its settings, which the
    /// DataOptions overload leaves empty; without those indexes every recovery scans the whole journal. So the provider
    /// name and connection string are set here too, with the number of writers.
    /// </summary>
    public static string Settings(string connectionString)
    {
        var provider = Quote(ProviderName.SQLiteMS);
        var connection = Quote(connectionString);
        return $$"""
            akka.persistence.journal.sql { provider-name = {{provider}}, connection-string = {{connection}}, parallelism = {{Writers}} }
            akka.persistence.query.journal.sql { provider-name = {{provider}}, connection-string = {{connection}} }
            akka.persistence.snapshot-store.sql { provider-name = {{provider}}, connection-string = {{connection}} }
            """;
    }

    /// <summary>
    /// Creates the file with WAL journaling (roughly doubles persisted writes per second; WAL mode is persistent).
    /// The file is created 0600 before SQLite opens it, and SQLite gives its -wal and -shm files the database
    /// file's mode, so the journal (token hashes, approval arguments) is never readable by another user.
    /// </summary>
    public static void PrepareFile(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory)) KruxOS.Sandbox.PrivateFiles.CreateDirectory(directory);
        if (!File.Exists(path) && !OperatingSystem.IsWindows())
        {
            using (new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = KruxOS.Sandbox.PrivateFiles.FileMode })) { }
        }
        foreach (var file in new[] { path, path + "-wal", path + "-shm", path + "-journal" }) KruxOS.Sandbox.PrivateFiles.Restrict(file, 0);
        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
    }

    // A HOCON string literal: JSON string escaping is valid HOCON.
    private static string Quote(string value) => System.Text.Json.JsonSerializer.Serialize(value);

    private static void SetBusyTimeout(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = BusyTimeoutPragma;
        command.ExecuteNonQuery();
    }

    private static async Task SetBusyTimeoutAsync(DbConnection connection, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = BusyTimeoutPragma;
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
