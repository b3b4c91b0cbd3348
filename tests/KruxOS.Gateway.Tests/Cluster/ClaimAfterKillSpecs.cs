using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Npgsql;
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
        await using var db = await Database.CreateAsync(server);
        var root = Directory.CreateTempSubdirectory("kruxos-claim-").FullName;
        var ports = new[] { TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort() };
        var seeds = string.Join(",", ports.Select(p => $"127.0.0.1:{p}"));
        string[] args = ["--seed-nodes", seeds, "--KruxOS:Cluster:DowningStableAfter", "00:00:20", "--KruxOS:Cluster:SeedNodeWait", "00:00:03"];
        var nodes = new List<GatewayProcess>();
        var held = new List<HeldCall>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            // arrange: three nodes; system.time of the agent is held for approval on each
            for (var i = 0; i < 3; i++)
            {
                PolicyDirectory.WriteAtomically(Path.Combine(root, $"n{i}", "data", "policies", "agents", $"{Agent}.yaml"), TestPolicies.HoldSystemTime);
                nodes.Add(GatewayProcess.Start(root, $"n{i}", ports[i], db.ConnectionString, args));
            }
            foreach (var n in nodes) await UntilAsync(n, async () => await ClusterUpCountAsync(http, n) == 3, "three members up");
            var created = await nodes[0].ControlAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = Agent, ["purpose"] = "claim spec" });
            Assert.True(created.Ok, created.ErrorMessage);
            var token = created.Result!["token"]!.GetValue<string>();

            // arrange: four calls held over MCP through every edge (distinct arguments, every other one keyed as mcp-bridge sends them)
            for (var i = 0; i < 12; i++) held.Add(await HeldCall.StartAsync(nodes[i % 3], token, $"claim-{i}", keyed: i % 2 == 1));
            await UntilAsync(nodes[0], async () => await HeldApprovalsAsync(nodes[0], held), "every held call's approval pending");
            GatewayProcess? victim = null;
            await UntilAsync(nodes[0], async () => (victim = await PendingNodeAsync(nodes, held.Count)) is not null, "the node holding the calls");
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
                await UntilAsync(survivors[0], async () => (statuses = await AgentApprovalsAsync(survivors[0])).GetValueOrDefault(h.ApprovalId!) == "consumed",
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
            foreach (var n in nodes) output.WriteLine($"--- {n.Name} log tail ---\n{Tail(n.Log())}");
            throw;
        }
        finally
        {
            foreach (var h in held) await h.DisposeAsync();
            foreach (var n in nodes) await n.DisposeAsync();
            if (Environment.GetEnvironmentVariable("KRUXOS_KEEP") is null) try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        async Task ApproveAsync(GatewayProcess n, string id)
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

    private static string Tail(string log) => log.Length > 4000 ? log[^4000..] : log;

    private sealed class HeldCall : IAsyncDisposable
    {
        private readonly Support.RawWebSocket _socket;
        private readonly Task<JsonObject?> _answer;

        private HeldCall(GatewayProcess edge, string timezone, Support.RawWebSocket socket)
        {
            Edge = edge;
            Timezone = timezone;
            _socket = socket;
            _answer = Task.Run(async () =>
            {
                while (await socket.ReceiveAsync(Bound * 3) is { } msg)
                    if (msg["id"]?.GetValue<int>() == 1) return msg;
                return null;
            });
        }

        public GatewayProcess Edge { get; }
        public string Timezone { get; }
        public string? ApprovalId { get; set; }

        public static async Task<HeldCall> StartAsync(GatewayProcess edge, string token, string timezone, bool keyed)
        {
            var deadline = DateTime.UtcNow + Bound;
            Support.RawWebSocket socket;
            while (true)
            {
                // a node may not know the new agent for a moment (identities replicate from the shared journal)
                try
                {
                    socket = await Support.RawWebSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{edge.GatewayPort}/mcp"), token);
                    break;
                }
                catch (System.Net.WebSockets.WebSocketException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(250);
                }
            }
            await socket.InitializeAsync();
            var p = new JsonObject { ["name"] = "system__time", ["arguments"] = new JsonObject { ["timezone"] = timezone } };
            if (keyed) p["_meta"] = new JsonObject { ["kruxos/idempotency_key"] = "kbr-" + Guid.NewGuid().ToString("N") };
            await socket.SendAsync(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "tools/call", ["params"] = p }.ToJsonString());
            return new HeldCall(edge, timezone, socket);
        }

        public async Task<JsonObject> AnswerAsync(TimeSpan timeout) =>
            await _answer.WaitAsync(timeout) ?? throw new InvalidOperationException($"the connection to {Edge.Name} closed without an answer to {Timezone}");

        public ValueTask DisposeAsync() => _socket.DisposeAsync();
    }

    private static async Task<bool> HeldApprovalsAsync(GatewayProcess n, List<HeldCall> held)
    {
        var r = await n.ControlAsync(ControlProtocol.Methods.ApprovalList);
        Assert.True(r.Ok, r.ErrorMessage);
        var byTimezone = r.Result!["approvals"]!.AsArray()
            .Where(a => a!["arguments"]?["timezone"] is JsonValue)
            .ToDictionary(a => a!["arguments"]!["timezone"]!.GetValue<string>(), a => a!["id"]!.GetValue<string>(), StringComparer.Ordinal);
        foreach (var h in held) h.ApprovalId = byTimezone.GetValueOrDefault(h.Timezone);
        return held.All(h => h.ApprovalId is not null);
    }

    // The node whose audit log holds all of the agent's pending call entries (where its session entity runs), or null.
    private static async Task<GatewayProcess?> PendingNodeAsync(List<GatewayProcess> nodes, int calls)
    {
        foreach (var n in nodes)
        {
            var page = await new KruxOS.Audit.AuditReader(Path.Combine(n.DataDir, "audit"))
                .QueryAsync(new KruxOS.Audit.AuditQuery { Agent = Agent, Status = KruxOS.Core.Audit.AuditStatus.Pending, Limit = KruxOS.Audit.AuditQuery.MaxLimit });
            if (page.Entries.Count >= calls) return n;
        }
        return null;
    }

    private static async Task<Dictionary<string, string>> AgentApprovalsAsync(GatewayProcess n)
    {
        var r = await n.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "all" });
        Assert.True(r.Ok, r.ErrorMessage);
        return r.Result!["approvals"]!.AsArray().Where(a => a!["agent"]!.GetValue<string>() == Agent)
            .ToDictionary(a => a!["id"]!.GetValue<string>(), a => a!["status"]!.GetValue<string>(), StringComparer.Ordinal);
    }

    private static async Task<int> ClusterUpCountAsync(HttpClient http, GatewayProcess n)
    {
        try
        {
            var (_, body) = await n.HealthAsync(http);
            return body?["cluster"]?["members"]?.AsArray().Count(m => m!["status"]!.GetValue<string>() == "up" && m["reachable"]!.GetValue<bool>()) ?? 0;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }

    private static async Task UntilAsync(GatewayProcess n, Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!await condition())
        {
            if (n.HasExited) throw new InvalidOperationException($"{n.Name} exited ({n.ExitCode}) waiting for: {what}\n{Tail(n.Log())}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{n.Name}: {what} not reached within {Bound.TotalSeconds:0} s");
            await Task.Delay(250);
        }
    }

    // A database of its own on the PostgreSQL server, dropped at the end.
    private sealed class Database : IAsyncDisposable
    {
        private readonly string _server;
        private readonly string _name;

        private Database(string server, string name, string connectionString)
        {
            _server = server;
            _name = name;
            ConnectionString = connectionString;
        }

        public string ConnectionString { get; }

        public static async Task<Database> CreateAsync(string server)
        {
            var name = "kruxos_claim_" + Guid.NewGuid().ToString("N")[..12];
            await using (var c = new NpgsqlConnection(server))
            {
                await c.OpenAsync();
                await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
                await cmd.ExecuteNonQueryAsync();
            }
            return new Database(server, name, new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString);
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await using var c = new NpgsqlConnection(_server);
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", c);
            await cmd.ExecuteNonQueryAsync();
        }
    }
}
