using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Cluster;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Tests.Support;
using KruxOS.Audit;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Cluster;

/// <summary>
/// ADR 0058 addendum (round 8): a call that is executing — not held — when the node running its session entity and tool
/// run is lost is answered at once by the node the client is connected to: <c>OutcomeUnknown</c> naming the lost node
/// (never a success, never "not run"), recorded in that node's audit log, instead of waiting out the dispatcher's timeout.
/// Two in-process nodes; the node running the call shuts down without answering its callers, as a killed node would (the
/// process harness kills one for real: <c>ThreeNodeClusterSpecs</c>).
/// </summary>
public sealed class LostNodeCallSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Should_answer_a_call_running_on_a_lost_node_at_once_with_OutcomeUnknown_and_audit_it_on_the_edge()
    {
        // arrange: two nodes; every run of stall.forever blocks until cancelled, and each handler knows its node
        using var dir = new TempDir();
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.Sqlite, $"Data Source={Path.Combine(dir.Path, "shared.db")};Pooling=True",
            configure: (_, s) => s.ToolCallTimeout = TimeSpan.FromMinutes(5),
            services: (_, s) => s.AddCapabilityModule<StallModule>());
        var (a, b) = (nodes.A, nodes.B);
        var nodeB = NodeId.Of(b.Services.GetRequiredService<KruxOsSettings>());
        var dispatcherA = a.Services.GetRequiredService<CallDispatcher>();

        // arrange: an agent whose session entity lives on node B (the edge is node A)
        var agent = await AgentHostedOnAsync(a, b, dispatcherA, nodeB);

        // act: a call through node A starts running on node B
        var call = dispatcherA.DispatchAsync(Submission(agent, "stall.forever", """{"n":1}"""), Ct);
        await Eventually(() => StallModule.Started.Contains((nodeB, agent.Value)));
        Assert.False(call.IsCompleted);

        // act: node B goes away without answering (its process exits: the session entity says nothing to callers at a node's
        // shutdown, as after a kill), and leaves the cluster
        _ = CoordinatedShutdown.Get(b.System).Run(CoordinatedShutdown.ClrExitReason.Instance);

        // assert: the edge answers at once — long before the dispatcher's own timeout — that the outcome is unknown
        var result = await call.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.True(result.IsError);
        var error = result.Error!;
        Assert.Equal("OutcomeUnknown", error.ErrorType);
        Assert.Equal(nodeB, error.ContextString("node"));
        Assert.Contains("may or may not have taken effect", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not run", error.Message, StringComparison.Ordinal);
        Assert.False(error.Retryable); // no idempotency key: sending it again could run it twice

        // assert: node A's audit log holds the call's outcome
        var page = await new AuditReader(nodes.AuditDirectories[0]).QueryAsync(new AuditQuery { Capability = "stall.forever" }, Ct);
        var entry = Assert.Single(page.Entries, v => v.Entry.Kind == AuditEntryKind.Call).Entry;
        Assert.Equal((AuditStatus.Error, "OutcomeUnknown", agent.Value), (entry.Status, entry.Metadata.ErrorType, entry.Actor.Name));
        Assert.True(AuditVerifier.VerifyDirectory(nodes.AuditDirectories[0]).IsIntact);
    }

    // Agents are created until one's session entity is placed on the wanted node (shard allocation spreads them). A region
    // that registers with the coordinator after its node is up gets no new shard before then, so this goes on for as long
    // as the cluster timeout, not a fixed number of agents.
    private static async Task<AgentName> AgentHostedOnAsync(NodeHost edge, NodeHost other, CallDispatcher dispatcher, string node)
    {
        var registry = await other.Registry.GetAsync<IdentityRegistry>();
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        for (var i = 0; DateTime.UtcNow < deadline; i++)
        {
            var name = $"roamer-{i}";
            var created = await registry.Ask<IdentityResult>(new IdentityCommands.CreateAgent(name, "lost node spec", TokenHashing.Hash(TokenHashing.NewAgentToken()),
                DateTimeOffset.UtcNow), TestTimeouts.Cluster, Ct);
            Assert.True(created.IsOk, created.Message);
            await Eventually(() => edge.Services.GetRequiredService<IdentityDirectory>().Current.Agents.ContainsKey(name));
            var agent = AgentName.Parse(name);
            var where = await dispatcher.DispatchAsync(Submission(agent, "stall.where", "{}"), Ct);
            Assert.False(where.IsError, where.Error?.Message);
            if (where.Data!.Value.GetProperty("node").GetString() == node) return agent;
        }
        throw new InvalidOperationException("no agent's session was placed on " + node);
    }

    private static CallSubmission Submission(AgentName agent, string capability, string args) =>
        new(Principal.ForAgent(agent), agent, "sess-lost-1", capability, JsonDocument.Parse(args).RootElement.Clone(), new ClientInfo("spec", "1"), CallMode.Held);

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(100, Ct);
        }
    }

    /// <summary><c>stall.where</c> answers its node's id; <c>stall.forever</c> records (node, agent) and runs until cancelled.</summary>
    public sealed class StallModule() : CapabilityModule("stall", "stall")
    {
        public static readonly ConcurrentBag<(string Node, string Agent)> Started = [];

        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() =>
            [TestCapabilities.Def("stall.where", Tier.Autonomous), TestCapabilities.Def("stall.forever", Tier.Autonomous, new InputDefinition("n", InputType.Integer, false, "n"))];

        public override ICapabilityHandler? CreateHandler(CapabilityDefinition definition, IServiceProvider services) =>
            new Handler(definition.Name, NodeId.Of(services.GetRequiredService<KruxOsSettings>()));

        private sealed class Handler(CapabilityName name, string node) : ICapabilityHandler
        {
            public CapabilityName Name => name;

            public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
            {
                if (name.Value == "stall.where") return JsonSerializer.SerializeToElement(new { node });
                Started.Add((node, context.Principal.Name));
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return JsonSerializer.SerializeToElement(new { node });
            }
        }
    }
}
