using Akka.Actor;
using Akka.Cluster;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Cluster;

public sealed class TwoNodeClusterSpecs
{
    [Theory]
    [InlineData(PersistenceProvider.Sqlite)]
    [InlineData(PersistenceProvider.PostgreSql)]
    public async Task Should_route_one_agents_calls_to_the_same_entity_from_both_nodes_and_share_identities(PersistenceProvider provider)
    {
        if (provider == PersistenceProvider.PostgreSql && Postgres.ServerConnectionString is null)
            Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var pg = provider == PersistenceProvider.PostgreSql ? await Postgres.CreateAsync() : null;

        // arrange: two nodes on runtime-chosen ports, one shared journal
        using var dir = new TempDir();
        var journal = pg?.ConnectionString ?? $"Data Source={Path.Combine(dir.Path, "shared.db")};Pooling=True";
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, provider, journal);
        var (a, b) = (nodes.A, nodes.B);

        // assert: each node's own actors live under its gateway root, not loose under /user
        foreach (var node in new[] { a, b })
        {
            foreach (var child in new[] { "connections", "approval-index", "identity-replica", "audit", "policies" })
                await node.System.ActorSelection($"/user/gateway/{child}").ResolveOne(TestTimeouts.Reply);
            foreach (var loose in new[] { "/user/connections", "/user/approval-index", "/user/identity-replica" })
                await Assert.ThrowsAsync<ActorNotFoundException>(() => node.System.ActorSelection(loose).ResolveOne(TimeSpan.FromSeconds(2)));
            // the registered connection parent (what the edges use) is that child
            var connections = await node.System.ActorSelection("/user/gateway/connections").ResolveOne(TestTimeouts.Reply);
            Assert.Equal(connections.Path, (await node.Registry.GetAsync<ConnectionRegistry>()).Path);
        }

        // act: create the agent through node B; both nodes' read models learn it
        var registry = await b.Registry.GetAsync<IdentityRegistry>();
        var created = await registry.Ask<IdentityResult>(
            new IdentityCommands.CreateAgent("builder", "cluster spec", TokenHashing.Hash(TokenHashing.NewAgentToken()), DateTimeOffset.UtcNow), TestTimeouts.Cluster);
        Assert.True(created.IsOk, created.Message);
        foreach (var node in new[] { a, b })
        {
            var directory = node.Services.GetRequiredService<IdentityDirectory>();
            await Eventually(() => directory.Current.Agents.ContainsKey("builder"));
        }

        // act: the same agent's calls from node A, then node B, then A again
        var counts = new List<long>();
        foreach (var node in new[] { a, b, a })
        {
            var region = await node.Registry.GetAsync<AgentSessionRegion>();
            var result = await region.Ask<ToolCallResult>(new Func<IActorRef, object>(reply => new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("agent__session"), reply)), TestTimeouts.Cluster, CancellationToken.None);
            Assert.False(result.IsError, result.Error?.Message);
            counts.Add(result.Data!.Value.GetProperty("invocation_count").GetInt64());
        }

        // assert: one entity counted all three calls, wherever it lives
        Assert.Equal([1L, 2L, 3L], counts);
        var infoA = await (await a.Registry.GetAsync<AgentSessionRegion>()).Ask<AgentSessionReplies.SessionInfo>(new AgentSessionCommands.GetInfo(Pipeline.Agent), TestTimeouts.Cluster);
        var infoB = await (await b.Registry.GetAsync<AgentSessionRegion>()).Ask<AgentSessionReplies.SessionInfo>(new AgentSessionCommands.GetInfo(Pipeline.Agent), TestTimeouts.Cluster);
        Assert.Equal(3, infoA.InvocationCount);
        Assert.Equal(infoA.InvocationCount, infoB.InvocationCount);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(100);
        }
    }
}
