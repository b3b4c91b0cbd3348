using Npgsql;

namespace KruxOS.Gateway.Tests.Cluster;

/// <summary>A throw-away database on the PostgreSQL test server (<c>KRUXOS_TEST_POSTGRES</c>) for one multi-process spec, dropped at the end.</summary>
internal sealed class ClusterDatabase : IAsyncDisposable
{
    private readonly string _server;
    private readonly string _name;

    private ClusterDatabase(string server, string name, string connectionString)
    {
        _server = server;
        _name = name;
        ConnectionString = connectionString;
    }

    /// <summary>The connection string of the new database (given to the gateways in their environment, never in argv).</summary>
    public string ConnectionString { get; }

    /// <summary>Creates <c>kruxos_&lt;prefix&gt;_&lt;random&gt;</c> on <paramref name="server"/>.</summary>
    public static async Task<ClusterDatabase> CreateAsync(string server, string prefix)
    {
        // The name is built from a fixed prefix and hex only: nothing outside the spec reaches the SQL text.
        if (!prefix.All(c => c is >= 'a' and <= 'z' or '_')) throw new ArgumentException("lower-case letters and '_' only", nameof(prefix));
        var name = $"kruxos_{prefix}_{Guid.NewGuid().ToString("N")[..12]}";
        await using (var c = new NpgsqlConnection(server))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            await cmd.ExecuteNonQueryAsync();
        }
        return new ClusterDatabase(server, name, new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var c = new NpgsqlConnection(_server);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", c);
        await cmd.ExecuteNonQueryAsync();
    }
}
