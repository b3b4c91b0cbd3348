using System.Globalization;
using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Scheduling;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Core.Scheduling;
using KruxOS.Gateway.Tests.Comms;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Cluster;

/// <summary>
/// Issue 19: a scheduled job keeps firing exactly once per due time when the node running its scheduler entity is killed
/// with SIGKILL. Three gateway processes on one PostgreSQL journal (skipped without <c>KRUXOS_TEST_POSTGRES</c>), real
/// minute boundaries (the clock seam does not cross processes). Where each agent's scheduler entity lives is read from
/// <c>cluster.status</c> (the scheduler region's shard ids per node) and the agent's shard id, never guessed. The victim
/// is killed a few tens of milliseconds after a minute boundary, so its every-minute jobs are firing as it dies, with
/// delays due just before, at and after the kill, and with runs held for approval in flight on it. Every due time then
/// runs exactly once over all four audit logs (the victim's read after the kill), every run's result reaches its agent's
/// inbox once (a run left in flight on the dead node is finished, not stranded), and cron jobs keep firing on the survivors.
/// </summary>
public sealed class SchedulerNodeLossSpecs(ITestOutputHelper output)
{
    private static readonly string[] AutoAgents = ["sk-auto-0", "sk-auto-1", "sk-auto-2", "sk-auto-3", "sk-auto-4", "sk-auto-5"];
    private static readonly string[] HeldAgents = ["sk-held-0", "sk-held-1", "sk-held-2", "sk-held-3"];
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    // Delays of each auto agent, due at these offsets from the kill (just before, while dead and not yet downed, after downing).
    private static readonly double[] DelayOffsets = [-1.5, 4, 30];

    [Fact]
    public async Task Should_run_every_due_time_exactly_once_over_all_nodes_when_the_node_running_the_scheduler_is_killed()
    {
        var server = Environment.GetEnvironmentVariable("KRUXOS_TEST_POSTGRES");
        if (server is null) Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var db = await ClusterDatabase.CreateAsync(server, "schedkill");
        var root = Directory.CreateTempSubdirectory("kruxos-schedkill-").FullName;
        var ports = new[] { TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort() };
        string[] args = ["--seed-nodes", string.Join(",", ports.Select(p => $"127.0.0.1:{p}")), "--KruxOS:Cluster:DowningStableAfter", "00:00:05",
            "--KruxOS:Cluster:SeedNodeWait", "00:00:03", "--KruxOS:Scheduler:WakeInterval", "00:00:02", "--KruxOS:Scheduler:CheckInterval", "00:00:01"];
        var nodes = new List<GatewayOsProcess>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            // arrange: three nodes; the held agents' policy holds system.time for approval (the others run it autonomously)
            for (var i = 0; i < 3; i++)
            {
                foreach (var a in HeldAgents)
                    PolicyDirectory.WriteAtomically(Path.Combine(root, $"n{i}", "data", "policies", "agents", $"{a}.yaml"), TestPolicies.HoldSystemTime);
                nodes.Add(GatewayOsProcess.StartClusterNode(root, $"n{i}", ports[i], db.ConnectionString, args));
            }
            foreach (var n in nodes) await n.UntilAsync(async () => await n.ClusterMembersUpAsync(http) == 3, "three members up");
            var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var a in HeldAgents.Concat(AutoAgents))
            {
                var made = await nodes[0].ControlAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = a, ["purpose"] = "scheduler node loss" });
                Assert.True(made.Ok, made.ErrorMessage);
                tokens[a] = made.Result!["token"]!.GetValue<string>();
            }

            // arrange: each held agent a delay due at once, held for approval (in flight) until after the kill
            var heldDelays = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var a in HeldAgents)
                heldDelays[a] = (await OkAsync(nodes, tokens[a], "scheduler.delay", new JsonObject { ["capability"] = "system.time", ["delay_seconds"] = 1 }))["delay_id"]!.GetValue<string>();
            // arrange: each auto agent an every-minute job
            var crons = new Dictionary<string, (string Id, DateTimeOffset FirstDue)>(StringComparer.Ordinal);
            foreach (var a in AutoAgents)
            {
                var made = await OkAsync(nodes, tokens[a], "scheduler.cron_create", new JsonObject
                {
                    ["capability"] = "system.time", ["inputs"] = new JsonObject { ["timezone"] = "UTC" }, ["schedule"] = "* * * * *",
                });
                crons[a] = (made["cron_id"]!.GetValue<string>(), DateTimeOffset.Parse(made["next_run"]!.GetValue<string>(), CultureInfo.InvariantCulture));
            }
            Dictionary<string, string> approvals = [];
            await nodes[0].UntilAsync(async () => (approvals = await HeldApprovalsAsync(nodes[0])).Count == HeldAgents.Length, "every held run's approval pending");

            // arrange: the victim is the node hosting the most of these scheduler entities, held ones first (each is started by now)
            var placement = await SchedulerPlacementAsync(nodes[0], nodes, [.. HeldAgents, .. AutoAgents]);
            var victim = nodes.OrderByDescending(n => HeldAgents.Count(a => placement[a] == n) > 0).ThenByDescending(n => placement.Values.Count(v => v == n)).First();
            var survivors = nodes.Where(n => n != victim).ToList();
            var onVictim = placement.Where(kv => kv.Value == victim).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
            output.WriteLine($"scheduler entities on {victim.Name}: {string.Join(", ", onVictim)}");
            Assert.Contains(onVictim, a => AutoAgents.Contains(a));
            Assert.Contains(onVictim, a => HeldAgents.Contains(a));

            // arrange: the kill comes 50 ms after the first minute boundary at least 15 s away; each auto agent gets delays due around it
            var now = DateTimeOffset.UtcNow;
            var boundary = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(1);
            if (boundary - now < TimeSpan.FromSeconds(15)) boundary = boundary.AddMinutes(1);
            var killAt = boundary.AddMilliseconds(50);
            var delays = new List<(string Agent, string Id)>();
            foreach (var a in AutoAgents)
                foreach (var offset in DelayOffsets)
                {
                    var seconds = (int)Math.Round((killAt.AddSeconds(offset) - DateTimeOffset.UtcNow).TotalSeconds);
                    var made = await OkAsync(nodes, tokens[a], "scheduler.delay", new JsonObject
                    {
                        ["capability"] = "system.time", ["inputs"] = new JsonObject { ["timezone"] = "UTC" }, ["delay_seconds"] = seconds,
                    });
                    delays.Add((a, made["delay_id"]!.GetValue<string>()));
                }

            // act: kill -9 the victim just after the boundary, while its every-minute jobs are firing
            var wait = killAt - DateTimeOffset.UtcNow;
            Assert.True(wait > TimeSpan.Zero, $"setup overran the kill time by {-wait.TotalSeconds:0.0} s");
            await Task.Delay(wait);
            output.WriteLine($"killing {victim.Name} at {DateTimeOffset.UtcNow:HH:mm:ss.fff} (boundary {boundary:HH:mm:ss})");
            victim.KillHard();
            Assert.True(await victim.WaitForExitAsync(TimeSpan.FromSeconds(10)), "the victim did not die");

            // act: once the survivors have downed it, the operator accepts the held runs' approvals from a survivor
            foreach (var n in survivors) await n.UntilAsync(async () => await n.ClusterMembersUpAsync(http) == 2, "the victim downed and removed");
            output.WriteLine($"victim removed at {DateTimeOffset.UtcNow:HH:mm:ss.fff}");
            foreach (var (agent, id) in approvals)
                await survivors[0].UntilAsync(async () =>
                {
                    var r = await survivors[0].ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id, ["reason"] = "node loss spec" });
                    // a retry that finds its earlier attempt applied is told so (never a second decision)
                    return r.Ok || (r.ErrorMessage ?? "").Contains("already approved", StringComparison.Ordinal);
                }, $"approval {id} of {agent} accepted");

            // act: let the next boundary pass on the survivors
            var after = boundary.AddMinutes(1);
            var settle = after.AddSeconds(15) - DateTimeOffset.UtcNow;
            if (settle > TimeSpan.Zero) await Task.Delay(settle);

            // assert: every due time of every cron job, from its first one to the boundary after the kill, ran exactly once over
            // all nodes' audit logs — the one at the kill included, wherever it ran — and nothing ran twice
            var expected = new List<(string Agent, string RunId)>();
            foreach (var a in AutoAgents)
            {
                for (var due = crons[a].FirstDue; due <= after; due = due.AddMinutes(1))
                    expected.Add((a, JobIds.RunId(crons[a].Id, due)));
            }
            var delayRuns = new List<(string Agent, string Prefix)>();
            foreach (var (a, id) in delays) delayRuns.Add((a, $"sch-{id}-"));
            foreach (var (a, id) in heldDelays) delayRuns.Add((a, $"sch-{id}-"));

            Dictionary<string, List<AuditEntry>> runs = [];
            List<string> problems = [];
            await survivors[0].UntilAsync(async () =>
            {
                runs = await RunEntriesAsync(nodes, [.. HeldAgents, .. AutoAgents]);
                problems = Problems(runs, expected, delayRuns);
                return problems.Count == 0;
            }, "every due time run exactly once", throwOnTimeout: false);
            Assert.True(problems.Count == 0, string.Join("\n", problems) + "\nruns: " + Describe(runs));

            // assert: each run's result reached its agent's inbox exactly once (a run left in flight on the dead node was finished)
            var mine = HeldAgents.Concat(AutoAgents).ToDictionary(a => a, a => runs
                .Where(kv => kv.Value.Any(e => e.Actor == Principal.ForAgent(AgentName.Parse(a)))).Select(kv => kv.Key).ToList(), StringComparer.Ordinal);
            var results = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            await survivors[0].UntilAsync(async () =>
            {
                foreach (var a in mine.Keys) results[a] = await SchedulerResultsAsync(survivors, tokens[a]);
                return mine.All(kv => kv.Value.All(id => results[kv.Key].Any(r => r.Contains(id, StringComparison.Ordinal))));
            }, "every run's result in its agent's inbox", throwOnTimeout: false);
            foreach (var (a, ids) in mine)
                foreach (var id in ids)
                {
                    var count = results[a].Count(r => r.Contains(id, StringComparison.Ordinal));
                    Assert.True(count == 1, $"{a}: run {id} has {count} results in the inbox: {string.Join(" | ", results[a])}");
                }
        }
        catch
        {
            foreach (var n in nodes) output.WriteLine($"--- {n.Name} log tail ---\n{GatewayOsProcess.Tail(n.Log())}");
            throw;
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // What is wrong with the runs: each expected cron run once; each delay once; no run id executed twice.
    private static List<string> Problems(Dictionary<string, List<AuditEntry>> runs, List<(string Agent, string RunId)> expected, List<(string Agent, string Prefix)> delays)
    {
        var problems = new List<string>();
        foreach (var (runId, entries) in runs)
        {
            var executed = entries.Count(e => e.Status == AuditStatus.Success);
            if (executed > 1) problems.Add($"{runId} ran {executed} times");
        }
        foreach (var (agent, runId) in expected)
            if (!Once(runs.GetValueOrDefault(runId))) problems.Add($"{agent}: {runId} did not run ({Statuses(runs.GetValueOrDefault(runId))})");
        foreach (var (agent, prefix) in delays)
        {
            var mine = runs.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            if (mine.Count != 1 || !Once(mine[0].Value)) problems.Add($"{agent}: delay {prefix}* ran as [{string.Join(", ", mine.Select(kv => $"{kv.Key}: {Statuses(kv.Value)}"))}]");
        }
        return problems;
    }

    // Ran once: one execution, or — cut off by the kill while it executed — answered OutcomeUnknown (ADR 0010: never run again).
    private static bool Once(List<AuditEntry>? entries) =>
        entries is not null && (entries.Count(e => e.Status == AuditStatus.Success) == 1
                                || (entries.All(e => e.Status != AuditStatus.Success) && entries.Any(e => e.OutputSummary.Contains("OutcomeUnknown", StringComparison.Ordinal))));

    private static string Statuses(List<AuditEntry>? entries) => entries is null ? "no entry" : string.Join("/", entries.Select(e => $"{e.Status}@{e.Node}"));

    private static string Describe(Dictionary<string, List<AuditEntry>> runs) =>
        string.Join("; ", runs.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={Statuses(kv.Value)}"));

    // Every scheduled run's call entries over every node's audit log (the dead node's too), by run id (= idempotency key).
    private static async Task<Dictionary<string, List<AuditEntry>>> RunEntriesAsync(List<GatewayOsProcess> nodes, string[] agents)
    {
        var byRun = new Dictionary<string, List<AuditEntry>>(StringComparer.Ordinal);
        foreach (var n in nodes)
            foreach (var a in agents)
            {
                var page = await new AuditReader(Path.Combine(n.DataDir, "audit"))
                    .QueryAsync(new AuditQuery { Agent = a, Capability = "system.time", Limit = AuditQuery.MaxLimit });
                foreach (var e in page.Entries.Select(x => x.Entry))
                    if (e.Kind == AuditEntryKind.Call && e.Metadata.Details is { } d && d.TryGetProperty("idempotency_key", out var key) && d.TryGetProperty("trigger", out _))
                    {
                        var id = key.GetString()!;
                        if (!byRun.TryGetValue(id, out var list)) byRun[id] = list = [];
                        list.Add(e);
                    }
            }
        return byRun;
    }

    // The texts of the scheduler's messages in the agent's inbox (peeked, so a retry sees them again).
    private static async Task<List<string>> SchedulerResultsAsync(List<GatewayOsProcess> survivors, string token)
    {
        var inbox = await OkAsync(survivors, token, "comms.receive", new JsonObject { ["limit"] = 100, ["acknowledge"] = false });
        return [.. inbox["messages"]!.AsArray().Where(m => m!["from"]!.GetValue<string>() == SchedulerActor.ResultSender).Select(m => m!["message"]!.GetValue<string>())];
    }

    // The pending approvals of the held agents, by agent.
    private static async Task<Dictionary<string, string>> HeldApprovalsAsync(GatewayOsProcess n)
    {
        var r = await n.ControlAsync(ControlProtocol.Methods.ApprovalList);
        Assert.True(r.Ok, r.ErrorMessage);
        return r.Result!["approvals"]!.AsArray().Where(a => HeldAgents.Contains(a!["agent"]!.GetValue<string>()))
            .ToDictionary(a => a!["agent"]!.GetValue<string>(), a => a!["id"]!.GetValue<string>(), StringComparer.Ordinal);
    }

    // Which node hosts each agent's scheduler entity: the agent's shard id (the entity's own extractor) in the scheduler
    // region's shard ids per node of cluster.status.
    private static async Task<Dictionary<string, GatewayOsProcess>> SchedulerPlacementAsync(GatewayOsProcess asked, List<GatewayOsProcess> nodes, string[] agents)
    {
        var extractor = new SchedulerMessageExtractor();
        var placement = new Dictionary<string, GatewayOsProcess>(StringComparer.Ordinal);
        await asked.UntilAsync(async () =>
        {
            var r = await asked.ControlAsync(ControlProtocol.Methods.ClusterStatus);
            Assert.True(r.Ok, r.ErrorMessage);
            var ids = r.Result!["shards"]!.AsArray().Single(s => s!["type"]!.GetValue<string>() == "scheduler")!["shard_ids"]!.AsObject();
            placement.Clear();
            foreach (var a in agents)
            {
                var shard = extractor.ShardId(a, new SchedulerCommands.Tick(AgentName.Parse(a)));
                var host = ids.FirstOrDefault(kv => kv.Value!.AsArray().Any(s => s!.GetValue<string>() == shard)).Key;
                if (nodes.FirstOrDefault(n => n.ClusterAddress == host) is { } node) placement[a] = node;
            }
            return placement.Count == agents.Length;
        }, "every agent's scheduler shard allocated");
        return placement;
    }

    // A capability call through the first node that knows the agent (identities replicate from the shared journal).
    private static async Task<JsonNode> OkAsync(List<GatewayOsProcess> nodes, string token, string capability, JsonObject arguments)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            foreach (var n in nodes.Where(n => !n.HasExited))
            {
                var answer = await Rpc.InvokeAsync(n.GatewayPort, token, capability, (JsonObject)arguments.DeepClone());
                if (answer["result"]?["data"] is { } data && answer["result"]!["error"] is null) return data;
                if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"{capability} failed through {n.Name}: {answer.ToJsonString()}");
            }
            await Task.Delay(250);
        }
    }

}
