using Npgsql;

namespace KruxOS.Actors.Tests.Support;

/// <summary>
/// A throw-away PostgreSQL database for the multi-node journal specs. The server is named by
/// <c>KRUXOS_TEST_POSTGRES</c> (a connection string with CREATEDB rights; <c>.ci/run</c> starts one);
/// without it these specs are reported as skipped, never as passed.
/// </summary>
public sealed class Postgres : IAsyncDisposable
{
    private readonly string _admin;

    private Postgres(string admin, string database, string connectionString)
    {
        _admin = admin;
        Database = database;
        ConnectionString = connectionString;
    }

    public string Database { get; }

    public string ConnectionString { get; }

    public static string? ServerConnectionString => Environment.GetEnvironmentVariable("KRUXOS_TEST_POSTGRES");

    public static async Task<Postgres> CreateAsync()
    {
        var admin = ServerConnectionString ?? throw new InvalidOperationException("KRUXOS_TEST_POSTGRES is not set");
        var name = "kruxos_" + Guid.NewGuid().ToString("N")[..12];
        await using (var c = new NpgsqlConnection(admin))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            await cmd.ExecuteNonQueryAsync();
        }
        var cs = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        return new Postgres(admin, name, cs);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var c = new NpgsqlConnection(_admin);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Database} WITH (FORCE)", c);
        await cmd.ExecuteNonQueryAsync();
    }
}
