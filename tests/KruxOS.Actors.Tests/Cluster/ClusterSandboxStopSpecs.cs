using KruxOS.Testing;
using System.Globalization;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Identity;
using KruxOS.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Cluster;

/// <summary>
/// In a cluster an agent's processes live on whichever node ran its calls: a kill or a revocation issued through
/// another node must still stop them there.
/// </summary>
public sealed class ClusterSandboxStopSpecs
{
    [Fact]
    public async Task A_kill_and_a_revocation_through_one_node_stop_the_agents_processes_on_the_other()
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");
        // arrange: two nodes, one shared journal
        using var dir = new TempDir();
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.Sqlite, $"Data Source={Path.Combine(dir.Path, "shared.db")};Pooling=True");
        var (a, b) = (nodes.A, nodes.B);
        var registry = await b.Registry.GetAsync<IdentityRegistry>();
        var created = await registry.Ask<IdentityResult>(new IdentityCommands.CreateAgent("roamer", "cluster stop spec",
            TokenHashing.Hash(TokenHashing.NewAgentToken()), DateTimeOffset.UtcNow), TimeSpan.FromSeconds(30));
        Assert.True(created.IsOk, created.Message);
        var hostA = a.Services.GetRequiredService<SandboxHost>();
        var agent = AgentName.Parse("roamer");
        var uid = hostA.HostUidFor(agent);

        // act 1: the agent's background process runs on node A; the operator's kill goes through node B
        await StartLoop(hostA, agent);
        await Eventually(() => SandboxLeftovers.ProcessesOf(uid).Count > 0); // the launcher drops to the agent's uid a moment after it starts
        var housekeepingB = await b.Registry.GetAsync<SandboxHousekeeping>();
        // Right after the cluster forms, node A's subscription to the stop topic may not have reached B yet (pub-sub
        // gossips it); in a running cluster it long has. So the kill is sent through B until A has acted on it.
        var stoppedOnB = default(SandboxStopMessages.AgentStopped);
        await EventuallyAsync(async () =>
        {
            stoppedOnB = await housekeepingB.Ask<SandboxStopMessages.AgentStopped>(new SandboxStopMessages.StopAgent("roamer", false, "killed by operator"), TimeSpan.FromSeconds(60));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            while (DateTime.UtcNow < deadline && SandboxLeftovers.ProcessesOf(uid).Count > 0) await Task.Delay(100);
            return SandboxLeftovers.ProcessesOf(uid).Count == 0;
        });

        // assert 1: B had nothing of the agent to stop; A stopped it
        Assert.Equal(0, stoppedOnB!.ProcessesKilled);
        Assert.Empty(SandboxLeftovers.ProcessesOf(uid));

        // act 2: a new loop on A; the agent is revoked through the registry from node B
        await StartLoop(hostA, agent);
        await Eventually(() => SandboxLeftovers.ProcessesOf(uid).Count > 0); // the launcher drops to the agent's uid a moment after it starts
        var revoked = await registry.Ask<IdentityResult>(new IdentityCommands.RevokeAgent("roamer", DateTimeOffset.UtcNow), TimeSpan.FromSeconds(30));
        Assert.True(revoked.IsOk, revoked.Message);

        // assert 2: node A saw the revocation in its read model, stopped everything and holds the agent
        await Eventually(() => SandboxLeftovers.ProcessesOf(uid).Count == 0);
        await EventuallyAsync(async () => (await Run(hostA, agent, "process.run", """{"command":"true"}""")).Error?.ErrorType == "SandboxUnavailable");
        Assert.Empty(SandboxLeftovers.ProcessesOf(uid));
    }

    private static async Task StartLoop(SandboxHost host, AgentName agent)
    {
        var r = await Run(host, agent, "process.run", """{"command":"sh","args":["-c","while :; do sleep 0.2; done"],"background":true,"timeout":3600,"stdout_lines":100}""");
        Assert.True(r.IsSuccess, r.Error?.Message);
    }

    private static Task<SandboxResult> Run(SandboxHost host, AgentName agent, string capability, string json) =>
        host.ExecuteAsync(new SandboxRequest(agent, CapabilityName.Parse(capability), JsonDocument.Parse(json).RootElement), CancellationToken.None);

    private static Task Eventually(Func<bool> condition) => EventuallyAsync(() => Task.FromResult(condition()));

    private static async Task EventuallyAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(200);
        }
    }
}
