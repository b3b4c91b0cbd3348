using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Sessions;
using LinqToDB;
using LinqToDB.Data;
using Microsoft.Data.Sqlite;
using Xunit;

namespace KruxOS.Actors.Tests.Persistence;

/// <summary>The embedded SQLite journal is indexed, written by one writer, and waits for locks inside SQLite.</summary>
public sealed class SqliteJournalSpecs
{
    [Fact]
    public async Task Should_create_the_journal_with_its_lookup_indexes()
    {
        // arrange: a node on a fresh data directory persists one approval, so the plugin has created its tables
        using var dir = new TempDir();
        var settings = new KruxOsSettings { DataDir = dir.Path };
        await using (var node = await NodeHost.StartAsync(settings))
        {
            var region = await node.Registry.GetAsync<ApprovalRegion>();
            var result = await region.Ask<ApprovalResult>(new ApprovalCommands.RequestApproval(Request()), TestTimeouts.Reply);
            Assert.True(result.IsOk);
        }

        // act
        using var db = new SqliteConnection($"Data Source={settings.SqlitePath};Mode=ReadOnly;Pooling=False");
        db.Open();
        var indexes = IndexedColumns(db);

        // assert: recovery looks events up by persistence id and sequence number, the approval index reads by tag;
        // without these every recovery scans the whole journal
        Assert.Contains("journal(persistence_id,sequence_number) unique", indexes);
        Assert.Contains("tags(tag)", indexes);
    }

    [Fact]
    public void Should_write_the_journal_through_one_writer()
    {
        // act
        var config = Akka.Configuration.ConfigurationFactory.ParseString(SqliteJournal.Settings("Data Source=/tmp/x.db"));

        // assert
        Assert.Equal(1, config.GetInt("akka.persistence.journal.sql.parallelism"));
        Assert.Equal(LinqToDB.ProviderName.SQLiteMS, config.GetString("akka.persistence.journal.sql.provider-name"));
        Assert.Equal(LinqToDB.ProviderName.SQLiteMS, config.GetString("akka.persistence.snapshot-store.sql.provider-name"));
        Assert.Equal("Data Source=/tmp/x.db", config.GetString("akka.persistence.query.journal.sql.connection-string"));
    }

    [Fact]
    public async Task Should_let_sqlite_wait_for_a_busy_database_on_every_journal_connection()
    {
        // arrange
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "kruxos.db");
        SqliteJournal.PrepareFile(path);

        // act: a connection opened the way the journal opens its connections, synchronously and asynchronously
        await using var sync = new DataConnection(SqliteJournal.DataOptions($"Data Source={path}"));
        var syncTimeout = sync.Execute<long>("PRAGMA busy_timeout");
        await using var async = new DataConnection(SqliteJournal.DataOptions($"Data Source={path}"));
        var asyncTimeout = await async.ExecuteAsync<long>("PRAGMA busy_timeout", TestContext.Current.CancellationToken);

        // assert
        Assert.Equal((long)SqliteJournal.BusyTimeout.TotalMilliseconds, syncTimeout);
        Assert.Equal((long)SqliteJournal.BusyTimeout.TotalMilliseconds, asyncTimeout);
    }

    // "table(col,col)" per index, with " unique" for unique ones.
    private static List<string> IndexedColumns(SqliteConnection db)
    {
        var found = new List<string>();
        foreach (var table in new[] { "journal", "tags" })
        {
            using var list = db.CreateCommand();
            list.CommandText = $"PRAGMA index_list({table})";
            using var indexes = list.ExecuteReader();
            while (indexes.Read())
            {
                var name = indexes.GetString(1);
                var unique = indexes.GetInt64(2) == 1;
                using var info = db.CreateCommand();
                info.CommandText = $"PRAGMA index_info(\"{name}\")";
                using var columns = info.ExecuteReader();
                var names = new List<string>();
                while (columns.Read()) names.Add(columns.GetString(2));
                found.Add($"{table}({string.Join(',', names)}){(unique ? " unique" : "")}");
            }
        }
        return found;
    }

    private static ApprovalRequest Request()
    {
        var agent = AgentName.Parse("builder");
        var args = JsonDocument.Parse("""{"text":"x"}""").RootElement.Clone();
        var now = DateTimeOffset.UtcNow;
        return new ApprovalRequest(ApprovalId.New(), Principal.ForAgent(agent), agent, "sess-1", "test.echo", ApprovalArguments.Redact(args),
            ApprovalArguments.Hash(args), "test.yaml:1", "rev-1", "needs a human", new ClientInfo("spec", "1"), now, now + TimeSpan.FromHours(1));
    }
}
