using System.Text.Json.Nodes;
using KruxOS.Bridge.Tests.Support;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>
/// Issue 9's reconnect test: the real mcp-bridge process against a real gateway that restarts while a call
/// is in flight. The side effect is countable (filesystem.append adds a line to a file in the agent's
/// workspace), so "exactly once" is checked on disk, not just on the answer.
/// </summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", Root = true)]
public sealed class ExactlyOnceTests
{
    private static Dictionary<string, string> AgentEnv(int port, string name, string token) => new()
    {
        ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{port}", ["KRUXOS_AGENT_NAME"] = name, ["KRUXOS_AGENT_TOKEN"] = token, ["KRUXOS_LOG"] = "debug",
    };

    private const string Append = """{"path":"count.txt","content":"x\n"}""";

    private static string Workspace(TestGateway gw, string agent, string file) => Path.Combine(gw.DataDir, "workspace", agent, file);

    private static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        while (!condition())
        {
            if (cts.IsCancellationRequested) throw new TimeoutException("never happened: " + what);
            await Task.Delay(50);
        }
    }

    private static async Task StartSessionAsync(BridgeProcess bridge)
    {
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        Assert.NotNull((await bridge.ReadAnswerAsync(1)).Answer["result"]);
        await bridge.SendAsync(BridgeProcess.Initialized);
    }

    private static void AssertSuccess(JsonObject answer)
    {
        Assert.True(answer["result"] is JsonObject, answer.ToJsonString());
        Assert.False(answer["result"]!["isError"]?.GetValue<bool>() ?? false, answer.ToJsonString());
    }

    [Fact]
    public async Task A_call_whose_answer_was_lost_is_answered_from_the_record_after_a_gateway_restart_and_runs_once()
    {
        var gw = await TestGateway.StartAsync();
        try
        {
            const string agent = "idem-lost";
            var token = await gw.CreateAgentAsync(agent);
            await using var proxy = new TcpProxy(gw.GatewayPort);
            await using var bridge = BridgeProcess.Start(AgentEnv(proxy.Port, agent, token));
            await StartSessionAsync(bridge);
            var file = Workspace(gw, agent, "count.txt");

            // The gateway runs the call and answers; the answer never reaches the bridge.
            proxy.DropToClient = true;
            await bridge.SendAsync(BridgeProcess.Call(2, "filesystem__append", Append));
            await UntilAsync(() => ReadOrEmpty(file) == "x\n" && proxy.DroppedBytes > 0, "the append ran and its answer was swallowed");

            // The gateway restarts; the bridge reconnects, replays initialize and re-sends call 2 with the same key.
            var restart = gw.RestartAsync();
            await bridge.WaitForLogAsync("reconnecting in");
            proxy.DropToClient = false;
            gw = await restart;

            var (answer, others) = await bridge.ReadAnswerAsync(2, TestTimeouts.Process);
            AssertSuccess(answer);
            Assert.Contains("\"appended_bytes\":2", answer["result"]!["content"]![0]!["text"]!.GetValue<string>().Replace(" ", ""));
            Assert.DoesNotContain(others, m => m["id"] is not null && m["method"] is null);
            Assert.Contains("initialize replayed", bridge.StdErr);
            Assert.Equal("x\n", ReadOrEmpty(file)); // ran exactly once

            // A new call (new key) does run: the counter moves, so the check above could have failed.
            await bridge.SendAsync(BridgeProcess.Call(3, "filesystem__append", Append));
            AssertSuccess((await bridge.ReadAnswerAsync(3)).Answer);
            Assert.Equal("x\nx\n", ReadOrEmpty(file));

            bridge.CloseStdin();
            Assert.Equal(0, await bridge.WaitForExitAsync());
            Assert.DoesNotContain(token, bridge.StdErr);
        }
        finally
        {
            await gw.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_call_held_for_approval_across_a_gateway_restart_reattaches_and_runs_once_when_approved()
    {
        const string agent = "idem-held";
        var gw = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-idem-held-", agent,
            "rules:\n  - capability: filesystem.append\n    tier: approval_required\n    reason: a human checks appends\n"));
        try
        {
            var token = await gw.CreateAgentAsync(agent);
            await using var bridge = BridgeProcess.Start(AgentEnv(gw.GatewayPort, agent, token));
            await StartSessionAsync(bridge);
            var file = Workspace(gw, agent, "count.txt");

            await bridge.SendAsync(BridgeProcess.Call(2, "filesystem__append", Append));
            var pending = await PendingAsync(gw);
            var id = pending["id"]!.GetValue<string>();
            Assert.Equal("bridge-tests", pending["initiating_client"]!.GetValue<string>());
            // The session records the hold just after the request is durable; give it a moment before pulling the plug.
            await Task.Delay(1000);

            var restart = gw.RestartAsync();
            await bridge.WaitForLogAsync("reconnecting in");
            gw = await restart;
            await bridge.WaitForLogAsync("initialize replayed");
            Assert.Equal("", ReadOrEmpty(file));

            await gw.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id, ["reason"] = "fine" });
            var (answer, _) = await bridge.ReadAnswerAsync(2, TestTimeouts.Process);
            AssertSuccess(answer);
            Assert.Equal("x\n", ReadOrEmpty(file));

            // One approval, one execution: no second request was filed by the re-sent call.
            var all = (await gw.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "all" }))["approvals"]!.AsArray();
            var only = Assert.Single(all)!;
            Assert.Equal(id, only["id"]!.GetValue<string>());
            Assert.Equal("consumed", only["status"]!.GetValue<string>());

            bridge.CloseStdin();
            Assert.Equal(0, await bridge.WaitForExitAsync());
        }
        finally
        {
            await gw.DisposeAsync();
        }
    }

    private static async Task<JsonNode> PendingAsync(TestGateway gw)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        while (true)
        {
            var list = (await gw.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "pending" }))["approvals"]!.AsArray();
            if (list.Count > 0) return Assert.Single(list)!;
            if (cts.IsCancellationRequested) throw new TimeoutException("no pending approval appeared");
            await Task.Delay(100);
        }
    }
}
