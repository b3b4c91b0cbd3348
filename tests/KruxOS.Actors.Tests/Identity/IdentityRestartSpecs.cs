using Akka.Actor;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Identity;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Identity;

public sealed class IdentityRestartSpecs
{
    [Theory]
    [InlineData(PersistenceProvider.Sqlite)]
    [InlineData(PersistenceProvider.PostgreSql)]
    public async Task Should_recover_agents_and_user_tokens_from_the_journal_when_the_node_restarts(PersistenceProvider provider)
    {
        if (provider == PersistenceProvider.PostgreSql && Postgres.ServerConnectionString is null)
            Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server for the journal");
        await using var pg = provider == PersistenceProvider.PostgreSql ? await Postgres.CreateAsync() : null;

        // arrange
        using var dir = new TempDir();
        var settings = new KruxOsSettings
        {
            DataDir = dir.Path,
            MetricsInterval = TimeSpan.FromMinutes(5),
            Persistence = new PersistenceSettings { Provider = provider, ConnectionString = pg?.ConnectionString },
        };
        var agentHash = TokenHashing.Hash(TokenHashing.NewAgentToken());
        var rotatedHash = TokenHashing.Hash(TokenHashing.NewAgentToken());
        var userHash = TokenHashing.Hash(TokenHashing.NewUserToken());
        var operatorHash = TokenHashing.Hash(TokenHashing.NewUserToken());
        var at = DateTimeOffset.UtcNow;

        // act: life 1 persists, then stops
        await using (var life1 = await NodeHost.StartAsync(settings))
        {
            var registry = await life1.Registry.GetAsync<IdentityRegistry>();
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.CreateAgent("builder", "builds", agentHash, at), TestTimeouts.Reply)).IsOk);
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.RotateAgentToken("builder", rotatedHash, at.AddSeconds(1)), TestTimeouts.Reply)).IsOk);
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.CreateUserToken("u-1", "ops", userHash, at), TestTimeouts.Reply)).IsOk);
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.CreateUserToken("u-2", "human", operatorHash, at, CredentialRole.Operator), TestTimeouts.Reply)).IsOk);
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.CreateAgent("retired", "", TokenHashing.Hash("r"), at), TestTimeouts.Reply)).IsOk);
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.RevokeAgent("retired", at), TestTimeouts.Reply)).IsOk);
        }

        // assert: the embedded journal runs in WAL mode (the mode is stored in the database file)
        if (provider == PersistenceProvider.Sqlite)
        {
            await using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={settings.SqlitePath};Pooling=False");
            await db.OpenAsync();
            await using var pragma = db.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode;";
            Assert.Equal("wal", (string?)await pragma.ExecuteScalarAsync());
        }

        // assert: life 2 on the same file sees the same identities, with the rotation and revocation intact
        await using var life2 = await NodeHost.StartAsync(settings);
        var directory = life2.Services.GetRequiredService<IdentityDirectory>();
        await directory.Ready.WaitAsync(TestTimeouts.Reply);
        Assert.Equal(CredentialMatch.Unknown, directory.Current.Resolve(agentHash).Match);
        Assert.Equal(CredentialMatch.Agent, directory.Current.Resolve(rotatedHash).Match);
        Assert.Equal(CredentialMatch.User, directory.Current.Resolve(userHash).Match);
        // roles survive the restart: a client stays a client, an operator an operator
        Assert.Equal(CredentialRole.Client, directory.Current.Resolve(userHash).User!.Role);
        Assert.Equal(CredentialRole.Operator, directory.Current.Resolve(operatorHash).User!.Role);
        Assert.Equal(AgentStatus.Revoked, directory.Current.Agents["retired"].Status);
        Assert.Equal("builds", directory.Current.Agents["builder"].Purpose);
    }

    [Fact]
    public async Task Should_reply_only_after_the_event_is_durable_and_refuse_duplicates_after_restart()
    {
        using var dir = new TempDir();
        var settings = new KruxOsSettings { DataDir = dir.Path, MetricsInterval = TimeSpan.FromMinutes(5) };
        await using (var life1 = await NodeHost.StartAsync(settings))
        {
            var registry = await life1.Registry.GetAsync<IdentityRegistry>();
            Assert.True((await registry.Ask<IdentityResult>(new IdentityCommands.CreateAgent("builder", "", TokenHashing.Hash("a"), DateTimeOffset.UtcNow), TestTimeouts.Reply)).IsOk);
        }
        await using var life2 = await NodeHost.StartAsync(settings);
        var again = await (await life2.Registry.GetAsync<IdentityRegistry>())
            .Ask<IdentityResult>(new IdentityCommands.CreateAgent("builder", "", TokenHashing.Hash("b"), DateTimeOffset.UtcNow), TestTimeouts.Reply);
        Assert.Equal(IdentityResultCode.AlreadyExists, again.Code);
    }
}
