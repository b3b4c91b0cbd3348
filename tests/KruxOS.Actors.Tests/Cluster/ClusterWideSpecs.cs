using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Cluster;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Identity;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Cluster;

/// <summary>
/// What issue 21 asks to be cluster-wide (ADR 0059), on two in-process nodes sharing one journal (SQLite file, or a
/// PostgreSQL database when <c>KRUXOS_TEST_POSTGRES</c> is set): one policy revision, changed through either node and
/// decided under by both; a late or forged revision never takes a node back or out of its directory; every audit entry
/// names its node; each node's chain queried and verified from the other; supervision events seen on every node.
/// </summary>
public sealed class ClusterWideSpecs
{
    private const string BlockInfo = "rules:\n  - capability: system.info\n    tier: blocked\n    reason: cluster spec blocks host facts\n";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(PersistenceProvider.Sqlite)]
    [InlineData(PersistenceProvider.PostgreSql)]
    public async Task Should_decide_on_every_node_under_the_policy_changed_on_one_and_record_node_and_generation(PersistenceProvider provider)
    {
        if (provider == PersistenceProvider.PostgreSql && Postgres.ServerConnectionString is null)
            Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var pg = provider == PersistenceProvider.PostgreSql ? await Postgres.CreateAsync() : null;
        using var dir = new TempDir();
        var (settingsA, settingsB) = Settings(dir.Path, provider, pg?.ConnectionString);
        await using var a = await NodeHost.StartAsync(settingsA);
        await using var b = await NodeHost.StartAsync(settingsB);
        await WaitForMembers(a.System, 2);
        await WaitForMembers(b.System, 2);
        var storeA = a.Services.GetRequiredService<PolicyStore>();
        var storeB = b.Services.GetRequiredService<PolicyStore>();

        // arrange: both nodes in force on one cluster generation (the first node's empty directory became generation 1)
        await Eventually(() => storeA.Status.Generation is >= 1 && storeB.Status.Generation == storeA.Status.Generation);
        var first = storeA.Status.Generation!.Value;
        var created = await (await b.Registry.GetAsync<IdentityRegistry>()).Ask<IdentityResult>(
            new IdentityCommands.CreateAgent("builder", "cluster policy spec", TokenHashing.Hash(TokenHashing.NewAgentToken()), DateTimeOffset.UtcNow), TestTimeouts.Cluster, Ct);
        Assert.True(created.IsOk, created.Message);
        foreach (var node in new[] { a, b })
            await Eventually(() => node.Services.GetRequiredService<IdentityDirectory>().Current.Agents.ContainsKey("builder"));
        Assert.False((await InfoThrough(b)).IsError);

        // act: the policy is edited on node A only (its files, then a reload as `kruxos config set policy` does)
        File.WriteAllText(Path.Combine(settingsA.PoliciesDir, "org.yaml"), BlockInfo);
        var loaderA = await a.System.ActorSelection("/user/gateway/policies").ResolveOne(TestTimeouts.Reply, Ct);
        var acknowledged = await loaderA.Ask<PolicyStatus>(PolicyStoreCommands.Reload.Instance, TestTimeouts.Cluster, Ct);

        // assert: the reload answers once the cluster accepted it, as the next generation
        Assert.True(acknowledged.Loaded, string.Join("; ", acknowledged.Errors));
        Assert.Equal(first + 1, acknowledged.Generation);
        // node B puts the same revision in force within seconds, and mirrors the file into its own directory
        await Eventually(() => storeB.Status.Generation == acknowledged.Generation);
        Assert.Equal(acknowledged.Revision, storeB.Status.Revision);
        Assert.Equal(BlockInfo, File.ReadAllText(Path.Combine(settingsB.PoliciesDir, "org.yaml")));
        // a call through node B is decided under the new revision, wherever the agent's session entity lives
        var denied = await InfoThrough(b);
        Assert.True(denied.IsError);
        Assert.Equal("PolicyDenied", denied.Error!.ErrorType);

        // assert: the audit entry of that decision names the cluster generation and the node that wrote it
        var entries = new List<(AuditEntry Entry, string Node)>();
        foreach (var (settings, id) in new[] { (settingsA, NodeId.Of(settingsA)), (settingsB, NodeId.Of(settingsB)) })
        {
            var page = await new AuditReader(settings.AuditDirectory).QueryAsync(new AuditQuery { Capability = "system.info", Status = AuditStatus.Denied }, Ct);
            entries.AddRange(page.Entries.Where(v => v.Entry.Kind == AuditEntryKind.Call).Select(v => (v.Entry, id)));
            // every entry this node sealed names it (schema 2), and the chain with them verifies
            var all = await new AuditReader(settings.AuditDirectory).QueryAsync(new AuditQuery { Limit = 1000 }, Ct);
            Assert.All(all.Entries, v => Assert.Equal((id, AuditEntry.NodeSchemaVersion), (v.Entry.Node, v.Entry.SchemaVersion)));
            var chain = AuditVerifier.VerifyDirectory(settings.AuditDirectory);
            Assert.True(chain.IsIntact, string.Join("; ", chain.Issues));
        }
        var (call, writer) = Assert.Single(entries);
        Assert.Equal(acknowledged.Generation, call.PolicyDecision!.Revision);
        Assert.Equal(writer, call.Node);
        Assert.Equal(acknowledged.Revision, call.Metadata.Details!.Value.GetProperty("policy_revision").GetString());

        // attack: a late (replayed) publish of the older generation reaches node B; it must not take B back
        var loaderB = await b.System.ActorSelection("/user/gateway/policies").ResolveOne(TestTimeouts.Reply, Ct);
        var older = ClusterPolicyRevision.None with { Generation = first, Revision = PolicyCompiler.Revision(ImmutableSortedDictionary<string, string>.Empty), Origin = "replayed" };
        loaderB.Tell(older);
        var afterReplay = await loaderB.Ask<PolicyStatus>(PolicyStoreCommands.Reload.Instance, TestTimeouts.Cluster, Ct);
        Assert.Equal(acknowledged.Generation, afterReplay.Generation);
        Assert.True((await InfoThrough(b)).IsError);

        // attack: a newer "generation" whose file name climbs out of the policy directory: nothing is written outside it,
        // and B stops deciding (fail closed) rather than keep an older generation in force
        var escape = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("../escaped.yaml", BlockInfo)]);
        loaderB.Tell(new ClusterPolicyRevision(acknowledged.Generation!.Value + 5, PolicyCompiler.Revision(escape), escape, "forged", DateTimeOffset.UtcNow));
        await Eventually(() => !storeB.Status.Loaded);
        Assert.False(File.Exists(Path.Combine(settingsB.DataDir, "escaped.yaml")));
        Assert.False(File.Exists(Path.Combine(dir.Path, "escaped.yaml")));
        Assert.Contains(storeB.Status.Errors, e => e.Message.Contains("not a policy file path", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_query_and_verify_every_nodes_chain_from_one_node_and_show_every_nodes_events()
    {
        using var dir = new TempDir();
        var (settingsA, settingsB) = Settings(dir.Path, PersistenceProvider.Sqlite, null);
        await using var a = await NodeHost.StartAsync(settingsA);
        await using var b = await NodeHost.StartAsync(settingsB);
        await WaitForMembers(a.System, 2);
        await WaitForMembers(b.System, 2);
        var (idA, idB) = (NodeId.Of(settingsA), NodeId.Of(settingsB));

        // arrange: one entry written on each node
        foreach (var (node, label) in new[] { (a, "on-a"), (b, "on-b") })
        {
            var writer = await node.Registry.GetAsync<AuditWriter>();
            var draft = AuditEntry.Call(DateTimeOffset.UtcNow, Principal.ForUser("spec-" + label), null, CapabilityName.Parse("system.info"),
                Core.CoreJson.EmptyObject, AuditStatus.Success, "ok: 2 bytes of output", null, 1);
            await writer.Ask<AuditReplies.AuditAppended>(new Func<IActorRef, object>(reply => new AuditCommands.Append(draft, reply)), TestTimeouts.Reply, Ct);
        }

        // act: a cluster-wide query through node A
        var admin = a.Services.GetRequiredService<ClusterAuditAdmin>();
        var page = await admin.QueryAsync(new AuditQuery { Capability = "system.info", Limit = 10 }, Ct);

        // assert: both nodes answered, each entry names its node, newest first
        Assert.True(page.IsOk, page.Error?.Message);
        Assert.Empty(page.Value!.Missing);
        Assert.Equal(new[] { idA, idB }.Order(StringComparer.Ordinal), page.Value.Nodes.Select(n => n.Node).Order(StringComparer.Ordinal));
        var names = page.Value.Entries.Select(e => (Actor: e["actor"]!["name"]!.GetValue<string>(), Node: e["node"]!.GetValue<string>())).ToList();
        Assert.Contains(("spec-on-a", idA), names);
        Assert.Contains(("spec-on-b", idB), names);
        var times = page.Value.Entries.Select(e => e["timestamp"]!.GetValue<string>()).ToList();
        Assert.Equal(times.OrderByDescending(t => t, StringComparer.Ordinal), times);

        // act + assert: both chains verified through node A
        var verified = await admin.VerifyAsync(Ct);
        Assert.True(verified.IsOk, verified.Error?.Message);
        Assert.True(verified.Value!.IsIntact);
        Assert.Equal(2, verified.Value.Nodes.Length);

        // attack: a record on node B's chain is altered (its node id rewritten to A's, in the spec's own directory)
        var dayFile = Directory.EnumerateFiles(settingsB.AuditDirectory, "audit-*.log").Order(StringComparer.Ordinal).Last();
        var bytes = File.ReadAllBytes(dayFile);
        var at = IndexOf(bytes, System.Text.Encoding.UTF8.GetBytes(idB));
        Assert.True(at >= 0, "node B's id is in its records");
        var forged = System.Text.Encoding.UTF8.GetBytes(idA);
        Assert.Equal(forged.Length, idB.Length);
        forged.CopyTo(bytes, at);
        File.WriteAllBytes(dayFile, bytes);
        var broken = await admin.VerifyAsync(Ct);
        Assert.True(broken.IsOk, broken.Error?.Message);
        Assert.False(broken.Value!.IsIntact);
        Assert.True(broken.Value.Nodes.Single(n => n.Node == idA).Report!.IsIntact);
        var reportB = broken.Value.Nodes.Single(n => n.Node == idB).Report!;
        Assert.Contains(reportB.Issues, i => i.Kind == ChainIssueKind.HashMismatch);

        // act: node B publishes supervision events; a watcher on node A sees them, named by node B
        var feed = new SupervisionFeed(a.System, idA);
        using var watch = feed.Subscribe(null, new HashSet<string>());
        var seen = new List<SupervisionEvent>();
        await Eventually(() =>
        {
            b.System.EventStream.Publish(SupervisionEvent.Create(SupervisionEventTypes.Notification, DateTimeOffset.UtcNow, "from-b", null, new { n = 1 }));
            a.System.EventStream.Publish(SupervisionEvent.Create(SupervisionEventTypes.Notification, DateTimeOffset.UtcNow, "from-a", null, new { n = 2 }));
            while (watch.Events.TryRead(out var e)) seen.Add(e);
            return seen.Any(e => e.Agent == "from-b") && seen.Any(e => e.Agent == "from-a");
        });
        Assert.All(seen.Where(e => e.Agent == "from-b"), e => Assert.Equal(idB, e.Node));
        Assert.All(seen.Where(e => e.Agent == "from-a"), e => Assert.Equal(idA, e.Node));
    }

    private static (KruxOsSettings A, KruxOsSettings B) Settings(string dir, PersistenceProvider provider, string? connection)
    {
        var seedPort = NodeHost.FreePort();
        var secondPort = NodeHost.FreePort();
        var seed = $"akka.tcp://{KruxOsSettings.ActorSystemName}@127.0.0.1:{seedPort}";
        var journal = connection ?? $"Data Source={Path.Combine(dir, "shared.db")};Pooling=True";
        KruxOsSettings Node(string name, int port) => new()
        {
            DataDir = Path.Combine(dir, name),
            UseClustering = true,
            Cluster = new ClusterNodeSettings { Hostname = "127.0.0.1", Port = port, SeedNodes = [seed] },
            Persistence = new PersistenceSettings { Provider = provider, ConnectionString = journal },
            MetricsInterval = TimeSpan.FromMinutes(5),
        };
        return (Node("a", seedPort), Node("b", secondPort));
    }

    private static async Task<ToolCallResult> InfoThrough(NodeHost node)
    {
        var region = await node.Registry.GetAsync<AgentSessionRegion>();
        return await region.Ask<ToolCallResult>(new Func<IActorRef, object>(reply => new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("system__info"), reply)), TestTimeouts.Cluster, Ct);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i <= haystack.Length - needle.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }

    private static async Task WaitForMembers(ActorSystem system, int count) =>
        await Eventually(() => Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == MemberStatus.Up) >= count);

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(100, Ct);
        }
    }
}
