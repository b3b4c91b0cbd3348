using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Tests.Support;

/// <summary>
/// Two in-process gateway nodes on runtime-chosen loopback ports, one shared journal, formed into one cluster
/// (A is the seed). Each spec names what differs per node (settings, service registrations);
/// a node stopped early is not stopped again, and the joining node stops before the seed.
/// </summary>
public sealed class TwoNodeCluster : IAsyncDisposable
{
    private readonly List<NodeHost> _running;

    private TwoNodeCluster(NodeHost a, NodeHost b, ImmutableArray<string> auditDirectories)
    {
        A = a;
        B = b;
        _running = [a, b];
        AuditDirectories = auditDirectories;
    }

    /// <summary>The seed node ("a").</summary>
    public NodeHost A { get; }

    /// <summary>The joining node ("b").</summary>
    public NodeHost B { get; }

    /// <summary>A node still running (A unless it was stopped).</summary>
    public NodeHost Running => _running[0];

    /// <summary>Each node's own audit directory (A's first).</summary>
    public ImmutableArray<string> AuditDirectories { get; }

    /// <summary>Starts both nodes and waits until both see two members up.</summary>
    /// <param name="dir">Parent of each node's data directory ("a", "b").</param>
    /// <param name="provider">The journal's provider.</param>
    /// <param name="journal">The shared journal's connection string.</param>
    /// <param name="configure">Per-node settings changes, given the node's name ("a" or "b").</param>
    /// <param name="services">Per-node service registrations, given the node's name.</param>
    public static async Task<TwoNodeCluster> StartAsync(string dir, PersistenceProvider provider, string journal,
        Action<string, KruxOsSettings>? configure = null, Action<string, IServiceCollection>? services = null)
    {
        var seedPort = NodeHost.FreePort();
        var secondPort = NodeHost.FreePort();
        var seed = $"akka.tcp://{KruxOsSettings.ActorSystemName}@127.0.0.1:{seedPort}";
        KruxOsSettings Node(string name, int port)
        {
            var settings = new KruxOsSettings
            {
                DataDir = Path.Combine(dir, name),
                UseClustering = true,
                Cluster = new ClusterNodeSettings { Hostname = "127.0.0.1", Port = port, SeedNodes = [seed] },
                Persistence = new PersistenceSettings { Provider = provider, ConnectionString = journal },
                MetricsInterval = TimeSpan.FromMinutes(5),
            };
            configure?.Invoke(name, settings);
            return settings;
        }
        Action<IServiceCollection>? For(string name) => services is null ? null : s => services(name, s);

        var settingsA = Node("a", seedPort);
        var settingsB = Node("b", secondPort);
        var a = await NodeHost.StartAsync(settingsA, For("a"));
        NodeHost b;
        try
        {
            b = await NodeHost.StartAsync(settingsB, For("b"));
        }
        catch
        {
            await a.DisposeAsync();
            throw;
        }
        var nodes = new TwoNodeCluster(a, b, [settingsA.AuditDirectory, settingsB.AuditDirectory]);
        try
        {
            await WaitForMembersAsync(a.System, 2);
            await WaitForMembersAsync(b.System, 2);
        }
        catch
        {
            await nodes.DisposeAsync();
            throw;
        }
        return nodes;
    }

    /// <summary>Stops <paramref name="node"/> now (a graceful leave: its shards move to the other node).</summary>
    public async Task StopAsync(NodeHost node)
    {
        if (_running.Remove(node)) await node.DisposeAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_running.ToList())) await StopAsync(node);
    }

    /// <summary>Waits until <paramref name="system"/> sees <paramref name="count"/> members up.</summary>
    public static async Task WaitForMembersAsync(ActorSystem system, int count)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == MemberStatus.Up) < count)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the cluster did not form in time");
            await Task.Delay(100);
        }
    }
}
