using Akka.Actor;
using Akka.Cluster;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.State;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateQueries;
using PersistentReplies = KruxOS.Core.State.Persistent.PersistentStateReplies;
using SharedReplies = KruxOS.Core.State.Shared.SharedStateReplies;

namespace KruxOS.Actors.Tests.State;

/// <summary>
/// Two in-process nodes on one PostgreSQL journal: an agent's persistent state written through one node is read through
/// the other (one sharded entity per agent), and a shared key's optimistic lock decides the same whichever node the
/// writers come through (one sharded entity per partition).
/// </summary>
public sealed class StateClusterSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Should_serve_one_agents_state_and_one_shared_lock_from_both_nodes()
    {
        if (Postgres.ServerConnectionString is null) Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var pg = await Postgres.CreateAsync();

        // arrange
        using var dir = new TempDir();
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.PostgreSql, pg.ConnectionString);
        var (a, b) = (nodes.A, nodes.B);
        var viaA = a.Services.GetRequiredService<StateAccess>();
        var viaB = b.Services.GetRequiredService<StateAccess>();
        var agent = AgentName.Parse("roamer");

        // the first requests may meet shard allocation still in progress: warm up with reads from both nodes
        foreach (var node in new[] { viaA, viaB })
        {
            await Eventually(() => node.PersistentAsync(new GetValue(agent, "plan"), Ct));
            await Eventually(() => node.SharedAsync(new GetShared("cluster/k"), Ct));
        }

        // act + assert: persistent state written via A, read and extended via B
        Assert.IsType<PersistentReplies.SetResult>(await viaA.PersistentAsync(new SetValue(agent, "plan", StoredJson.Parse("\"from a\"")), Ct));
        var read = Assert.IsType<PersistentReplies.GetResult>(await viaB.PersistentAsync(new GetValue(agent, "plan"), Ct));
        Assert.Equal((1, "\"from a\""), (read.Version, read.Value.Text));
        var next = Assert.IsType<PersistentReplies.SetResult>(await viaB.PersistentAsync(new SetValue(agent, "plan", StoredJson.Parse("\"from b\"")), Ct));
        Assert.Equal((2, 1), (next.Version, next.PreviousVersion));

        // act + assert: a shared key created via A; two writers at version 1, one through each node: one wins
        var wa = Principal.ForAgent(AgentName.Parse("node-a-writer"));
        var wb = Principal.ForAgent(AgentName.Parse("node-b-writer"));
        Assert.IsType<SharedReplies.SetResult>(await viaA.SharedAsync(new SetShared("cluster/k", StoredJson.Parse("0"), 0, wa), Ct));
        var replies = await Task.WhenAll(
            viaA.SharedAsync(new SetShared("cluster/k", StoredJson.Parse("\"a\""), 1, wa), Ct),
            viaB.SharedAsync(new SetShared("cluster/k", StoredJson.Parse("\"b\""), 1, wb), Ct));
        Assert.Equal(2, Assert.Single(replies.OfType<SharedReplies.SetResult>()).Version);
        var lost = Assert.Single(replies.OfType<StateRefused>());
        Assert.Equal("VersionConflict", lost.Error.ErrorType);
        Assert.Equal(2, lost.Error.Context["actual_version"].GetInt64());
        var seenByA = Assert.IsType<SharedReplies.GetResult>(await viaA.SharedAsync(new GetShared("cluster/k"), Ct));
        var seenByB = Assert.IsType<SharedReplies.GetResult>(await viaB.SharedAsync(new GetShared("cluster/k"), Ct));
        Assert.Equal((seenByA.Version, seenByA.Value.Text, seenByA.OwnerAgent), (seenByB.Version, seenByB.Value.Text, seenByB.OwnerAgent));
    }

    // Reads only: retried while shard allocation is still in progress (an ask timeout).
    private static async Task<IStateReply> Eventually(Func<Task<IStateReply>> call)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (true)
        {
            var reply = await call();
            if (reply is not StateRefused { Error.ErrorType: "Timeout" or "ServiceUnavailable" } || DateTime.UtcNow > deadline) return reply;
        }
    }
}
