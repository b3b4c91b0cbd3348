using Akka.Actor;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Hosting;

/// <summary>The areas reproduce the gateway root's children, their creation order and their paths exactly, in both modes.</summary>
public sealed class NodeChildOrderSpecs
{
    private static readonly string[] SingleNodeChildren =
        ["audit", "host-metrics", "policies", "approvals", "approval-index", "agent-sessions", "identity", "connections", "sandbox-housekeeping", "vault", "vault-startup", "comms-inboxes", "comms-channels", "alerts", "system-alerts", "pauses", "schedulers", "state-shared-quota", "state-shared", "state-persistent", "state-sessions", "state-watch", "proxy-writes", "proxy-write-index", "proxy-sync", "gmail-token-refresh"];

    private static readonly string[] ClusterChildren =
        ["audit", "audit-reader", "host-metrics", "policies", "approval-index", "identity-replica", "connections", "sandbox-housekeeping", "vault-replica", "vault-startup", "cluster-lease", "supervision-relay", "system-alerts", "pause-replica", "state-watch", "proxy-write-index", "proxy-sync", "gmail-token-refresh"];

    private static IServiceProvider Registrations(TempDir dir, bool clustering)
    {
        var services = new ServiceCollection();
        services.AddKruxOsActors(new KruxOsSettings
        {
            DataDir = dir.Path,
            UseClustering = clustering,
            Cluster = new ClusterNodeSettings { Hostname = "127.0.0.1", Port = 1 },
        });
        return services.BuildServiceProvider();
    }

    [Fact]
    public void Should_create_todays_children_in_todays_order_on_a_single_node()
    {
        using var dir = new TempDir();
        var children = NodeChildren.InCreationOrder(Registrations(dir, false).GetServices<NodeChild>(), HostingMode.SingleNode);
        Assert.Equal(SingleNodeChildren, children.Select(c => c.Name));
    }

    [Fact]
    public void Should_create_todays_children_in_todays_order_and_start_the_regions_and_singleton_before_them_in_a_cluster()
    {
        using var dir = new TempDir();
        var sp = Registrations(dir, true);
        Assert.Equal(ClusterChildren, NodeChildren.InCreationOrder(sp.GetServices<NodeChild>(), HostingMode.Cluster).Select(c => c.Name));
        Assert.Equal(["policy-ledger", "approval", "agent-session", "identity", "vault", "comms-inbox", "comms-channel", "alerts", "pauses", "scheduler", "state-shared-quota", "state-shared", "state-persistent", "state-session", "proxy-write"], sp.GetServices<ClusterHosted>().OrderBy(h => h.Order).Select(h => h.Name));
    }

    [Fact]
    public async Task Should_register_each_child_under_its_key_at_its_path_on_a_running_single_node()
    {
        // arrange
        using var dir = new TempDir();
        await using var node = await NodeHost.StartAsync(new KruxOsSettings { DataDir = dir.Path, MetricsInterval = TimeSpan.FromMinutes(5) });

        // assert: every child exists under the root, and the keys the rest of the code uses point at them
        foreach (var name in SingleNodeChildren)
            await node.System.ActorSelection($"/user/gateway/{name}").ResolveOne(TestTimeouts.Reply);
        async Task<string> PathOf<TKey>() => (await node.Registry.GetAsync<TKey>()).Path.ToStringWithoutAddress();
        Assert.Equal("/user/gateway", await PathOf<GatewayRoot>());
        Assert.Equal("/user/gateway/audit", await PathOf<AuditWriter>());
        Assert.Equal("/user/gateway/policies", await PathOf<PolicyStoreActor>());
        Assert.Equal("/user/gateway/approvals", await PathOf<ApprovalRegion>());
        Assert.Equal("/user/gateway/agent-sessions", await PathOf<AgentSessionRegion>());
        Assert.Equal("/user/gateway/identity", await PathOf<IdentityRegistry>());
        Assert.Equal("/user/gateway/connections", await PathOf<ConnectionRegistry>());
        Assert.Equal("/user/gateway/sandbox-housekeeping", await PathOf<SandboxHousekeeping>());
        Assert.Equal("/user/gateway/vault", await PathOf<KruxOS.Actors.Vault.VaultRegistry>());
    }

    [Fact]
    public void Should_refuse_two_children_with_one_name_or_one_key()
    {
        static Props None(HostingContext _) => Props.Empty;
        var sameName = new[] { NodeChild.Of<AuditWriter>("a", 0, None), NodeChild.Of<PolicyStoreActor>("a", 1, None) };
        var sameKey = new[] { NodeChild.Of<AuditWriter>("a", 0, None), NodeChild.Of<AuditWriter>("b", 1, None) };
        Assert.Contains("named 'a'", Assert.Throws<HostingException>(() => NodeChildren.InCreationOrder(sameName, HostingMode.SingleNode)).Message);
        Assert.Contains("'AuditWriter'", Assert.Throws<HostingException>(() => NodeChildren.InCreationOrder(sameKey, HostingMode.Cluster)).Message);
    }
}
