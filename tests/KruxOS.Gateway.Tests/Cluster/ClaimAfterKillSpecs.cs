using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Cluster;

/// <summary>
/// ADR 0058 addendum (round 8), as an operator would meet it: calls held over MCP through surviving edges, whose agent's
/// session entity (and so the runs holding them) is on a node killed with SIGKILL; the operator accepts their approvals at once,
/// while the dead node is not yet downed (the resolver waits <c>DowningStableAfter</c>, 20 s here). Accepting no longer spends
/// a grant on a waiter that cannot claim it: once the node is downed each call re-attaches through a survivor, claims its
/// grant and runs exactly once. Three gateway processes on one PostgreSQL journal (skipped without <c>KRUXOS_TEST_POSTGRES</c>).
/// </summary>
public sealed class ClaimAfterKillSpecs(ITestOutputHelper output)
{
    private const string Agent = "claim-held";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Should_run_each_held_call_once_through_a_survivor_when_accepted_between_its_session_nodes_kill_and_downing()
    {
        var server = Environment.GetEnvironmentVariable("KRUXOS_TEST_POSTGRES");
        if (server is null) Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var db = await ClusterDatabase.CreateAsync(server, "claim");
        var root = Directory.CreateTempSubdirectory("kruxos-claim-").FullName;
        var ports = new[] { TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort() };
        var seeds = string.Join(",", ports.Select(p => $"127.0.0.1:{p}"));
        string[] args = ["--seed-nodes", seeds, "--KruxOS:Cluster:DowningStableAfter", "00:00:20", "--KruxOS:Cluster:SeedNodeWait", "00:00:03"];
        var nodes = new List<GatewayOsProcess>();
        var held = new List<HeldCall>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            // arrange: three nodes; system.time of the agent is held for approval on each
            for (var i = 0; i < 3; i++)
            {
                PolicyDirectory.WriteAtomically(Path.Combine(root, $"n{i}", "data", "policies", "agents", $"{Agent}.yaml"), TestPolicies.HoldSystemTime);
                nodes.Add(GatewayOsProcess.StartClusterNode(root, $"n{i}", ports[i], db.ConnectionString, args));
            }
            foreach (var n in nodes) await n.UntilAsync(async () => await n.ClusterMembersUpAsync(http) == 3, "three members up");
            var created = await nodes[0].ControlAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = Agent, ["purpose"] = "claim spec" });
            Assert.True(created.Ok, created.ErrorMessage);
            var token = created.Result!["token"]!.GetValue<string>();

            // arrange: four calls held over MCP through every edge (distinct arguments, every other one keyed as mcp-bridge sends them)
            for (var i = 0; i < 12; i++) held.Add(await HeldCall.StartAsync(nodes[i % 3], Agent, token, $"claim-{i}", keyed: i % 2 == 1));
            await nodes[0].UntilAsync(async () => await HeldCall.ApprovalsListedAsync(nodes[0], held), "every held call's approval pending");
            GatewayOsProcess? victim = null;
            await nodes[0].UntilAsync(async () => (victim = await HeldCall.SessionNodeAsync(nodes, Agent, held.Count)) is not null, "the node holding the calls");
            var survivors = nodes.Where(n => n != victim).ToList();
            var stranded = held.Where(h => h.Edge != victim).ToList();

            // act: the node running the agent's session (and every run holding a call) is killed; at once, long before the
            // resolver downs it, the operator accepts every stranded call's approval through the survivors
            output.WriteLine($"root {root}: killing {victim!.Name}; {stranded.Count} calls held through the survivors");
            victim.KillHard();
            Assert.True(await victim.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            var acceptedInWindow = 0;
            await Parallel.ForEachAsync(stranded.Select((h, i) => (h, i)), async (x, _) =>
            {
                var started = DateTime.UtcNow;
                await ApproveAsync(survivors[x.i % 2], x.h.ApprovalId!);
                // an approval whose entity lived on the dead node is decided only after the downing; the others inside the window
                if (DateTime.UtcNow - started < TimeSpan.FromSeconds(10)) Interlocked.Increment(ref acceptedInWindow);
            });
            output.WriteLine($"{acceptedInWindow} of {stranded.Count} approvals accepted before the dead node was downed");
            Assert.True(acceptedInWindow > 0, "no approval was accepted inside the window (all their entities lived on the killed node)");

            // assert: every stranded call gets its real result (the capability ran: an unknown time zone is its own answer), once
            foreach (var h in stranded)
            {
                var answer = await h.AnswerAsync(Bound);
                var text = answer["result"]?["content"]?[0]?["text"]?.GetValue<string>() ?? answer.ToJsonString();
                Assert.True(text.Contains("\"InvalidTimezone\"", StringComparison.Ordinal), $"the call {h.Timezone} held through {h.Edge.Name} was answered: {text}");
            }
            // assert: each approval spent exactly once, and one call entry with an outcome per call over the survivors' logs
            var statuses = await AgentApprovalsAsync(survivors[0]);
            foreach (var h in stranded)
            {
                await survivors[0].UntilAsync(async () => (statuses = await AgentApprovalsAsync(survivors[0])).GetValueOrDefault(h.ApprovalId!) == "consumed",
                    $"{h.ApprovalId} consumed");
                var outcomes = new List<KruxOS.Core.Audit.AuditEntry>();
                foreach (var n in survivors)
                    outcomes.AddRange((await new KruxOS.Audit.AuditReader(Path.Combine(n.DataDir, "audit")).QueryAsync(new KruxOS.Audit.AuditQuery
                        { Agent = Agent, ApprovalRequestId = h.ApprovalId, Limit = KruxOS.Audit.AuditQuery.MaxLimit })).Entries.Select(e => e.Entry)
                        .Where(e => e.Kind == KruxOS.Core.Audit.AuditEntryKind.Call && e.Status != KruxOS.Core.Audit.AuditStatus.Pending));
                Assert.Single(outcomes);
            }
        }
        catch
        {
            foreach (var n in nodes) output.WriteLine($"--- {n.Name} log tail ---\n{GatewayOsProcess.Tail(n.Log())}");
            throw;
        }
        finally
        {
            foreach (var h in held) await h.DisposeAsync();
            foreach (var n in nodes) await n.DisposeAsync();
            if (Environment.GetEnvironmentVariable("KRUXOS_KEEP") is null) try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        async Task ApproveAsync(GatewayOsProcess n, string id)
        {
            var deadline = DateTime.UtcNow + Bound;
            var retried = false;
            while (true)
            {
                var r = await n.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id, ["reason"] = "claim spec" });
                if (r.Ok) return;
                // a retry after a timed-out attempt may find that attempt's decision applied
                if (retried && r.ErrorType == "Conflict" && (r.ErrorMessage!.Contains("already approved", StringComparison.Ordinal)
                    || r.ErrorMessage.Contains("already consumed", StringComparison.Ordinal))) return;
                retried = true;
                Assert.True(r.ErrorType is "timeout" or "ServiceUnavailable" && DateTime.UtcNow < deadline, $"{id} on {n.Name}: {r.ErrorType} {r.ErrorMessage}");
                await Task.Delay(500);
            }
        }
    }

    private static async Task<Dictionary<string, string>> AgentApprovalsAsync(GatewayOsProcess n)
    {
        var r = await n.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "all" });
        Assert.True(r.Ok, r.ErrorMessage);
        return r.Result!["approvals"]!.AsArray().Where(a => a!["agent"]!.GetValue<string>() == Agent)
            .ToDictionary(a => a!["id"]!.GetValue<string>(), a => a!["status"]!.GetValue<string>(), StringComparer.Ordinal);
    }
}
