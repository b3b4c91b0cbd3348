using Akka.Actor;
using Akka.Cluster;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Tests.Hosting.TestArea;
using KruxOS.Actors.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Hosting;

/// <summary>
/// A new area hosts itself through its own extension (the test-only echo area): the same registration serves from a
/// node-local parent on a single node and from a shard region in a cluster, and a child finds the region by its key.
/// </summary>
public sealed class EntityHostingSpecs
{
    private static KruxOsSettings SingleNode(TempDir dir) => new() { DataDir = dir.Path, MetricsInterval = TimeSpan.FromMinutes(5) };

    [Fact]
    public async Task Should_host_a_new_areas_entities_under_the_gateway_root_on_a_single_node()
    {
        // arrange
        using var dir = new TempDir();
        await using var node = await NodeHost.StartAsync(SingleNode(dir), s => s.AddTestArea());
        var client = await node.Registry.GetAsync<EchoClient>();

        // act: twice to the same entity through the child that depends on the region by its key
        var first = await client.Ask<Echoed>(new Relay("e1", "hello"), TestTimeouts.Reply);
        var second = await client.Ask<Echoed>(new Relay("e1", "again"), TestTimeouts.Reply);

        // assert: one entity under the node-local parent, built by the area's factory (its service from the context)
        Assert.Equal("/user/gateway/test-echo/e1", first.Path);
        Assert.Equal("echo: hello", first.Text);
        Assert.Equal([1, 2], new[] { first.Count, second.Count });
        Assert.Equal("/user/gateway/test-echo", (await node.Registry.GetAsync<EchoRegion>()).Path.ToStringWithoutAddress());
        Assert.Equal("/user/gateway/test-echo-client", client.Path.ToStringWithoutAddress());
        var report = await node.Services.GetRequiredService<HealthRegistry>().RunAsync(CancellationToken.None);
        var check = Assert.Single(report.Services, s => s.Name == TestAreaHostingExtensions.CheckName);
        Assert.Equal((HealthStatus.Healthy, "echo area hosted"), (check.Status, check.Message));
    }

    [Fact]
    public async Task Should_serve_a_new_areas_entities_from_a_shard_region_across_two_nodes()
    {
        // arrange: two nodes, both with the test area
        using var dir = new TempDir();
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.Sqlite, $"Data Source={Path.Combine(dir.Path, "shared.db")};Pooling=True",
            services: (_, s) => s.AddTestArea());
        var (a, b) = (nodes.A, nodes.B);
        var addressA = Akka.Cluster.Cluster.Get(a.System).SelfAddress.ToString();

        // the region is a shard region (not under the gateway root); the client is node-local on each node
        foreach (var node in new[] { a, b })
        {
            Assert.NotEqual("/user/gateway/test-echo", (await node.Registry.GetAsync<EchoRegion>()).Path.ToStringWithoutAddress());
            Assert.Equal("/user/gateway/test-echo-client", (await node.Registry.GetAsync<EchoClient>()).Path.ToStringWithoutAddress());
        }

        // act: find an entity that lives on A (through A's client), then reach it through B's client
        var clientA = await a.Registry.GetAsync<EchoClient>();
        Echoed? onA = null;
        for (var i = 0; i < 40 && onA is null; i++)
        {
            var reply = await clientA.Ask<Echoed>(new Relay($"e{i}", "from a"), TestTimeouts.Cluster);
            if (reply.Node == addressA) onA = reply;
        }
        Assert.NotNull(onA);
        var clientB = await b.Registry.GetAsync<EchoClient>();
        var fromB = await clientB.Ask<Echoed>(new Relay(onA.EntityId, "from b"), TestTimeouts.Cluster);

        // assert: the same entity, still on A, answered B's message
        Assert.Equal((addressA, onA.Path, 2, "echo: from b"), (fromB.Node, fromB.Path, fromB.Count, fromB.Text));
    }

    [Fact]
    public async Task Should_refuse_to_start_when_a_node_child_is_ordered_before_the_key_it_needs()
    {
        // arrange: the client is registered to be created before the entities' parent it needs
        using var dir = new TempDir();

        // act
        var failure = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var node = await NodeHost.StartAsync(SingleNode(dir), s => s.AddTestArea(clientOrder: TestAreaHostingExtensions.EntityOrder - 1));
        });

        // assert: start-up fails, naming the child and the missing key
        var hosting = Assert.IsType<HostingException>(failure);
        Assert.Contains("'test-echo-client'", hosting.Message);
        Assert.Contains("'EchoRegion' is not registered yet", hosting.Message);
    }
}
