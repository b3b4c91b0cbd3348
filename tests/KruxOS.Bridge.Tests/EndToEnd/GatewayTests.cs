using KruxOS.Testing;
using System.Text.Json.Nodes;
using KruxOS.Bridge.Tests.Support;
using KruxOS.Core.Control;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>The bridge against a real in-process gateway: the Node SDK's stdio client, and reconnecting after the session is killed.</summary>
public sealed class GatewayTests
{
    private static Dictionary<string, string> AgentEnv(TestGateway gw, string name, string token) => new()
    {
        ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{gw.GatewayPort}", ["KRUXOS_AGENT_NAME"] = name, ["KRUXOS_AGENT_TOKEN"] = token,
    };

    [Fact]
    public async Task The_node_sdk_stdio_client_lists_tools_and_calls_system_time_through_the_bridge()
    {
        await using var gw = await TestGateway.StartAsync();
        var token = await gw.CreateAgentAsync("bridge-node");
        var r = await StdioClients.RunStdioAsync(AgentEnv(gw, "bridge-node", token), "--list", "--call", "system__time", "{}");

        Assert.True(r["connected"]!.GetValue<bool>(), r.ToJsonString());
        Assert.Equal("kruxos-gateway", r["server"]!["name"]!.GetValue<string>());
        var tools = r["tools"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        Assert.Contains("system__time", tools);
        var result = r["results"]![0]!;
        Assert.False(result["isError"]!.GetValue<bool>(), result.ToJsonString());
        Assert.NotNull(result["body"]);
    }

    [Fact]
    public async Task A_held_call_from_the_node_sdk_stdio_client_is_released_by_kruxos_approve_accept_with_the_real_result()
    {
        await using var gw = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-bridge-held-", "bridge-held"));
        var token = await gw.CreateAgentAsync("bridge-held");

        var session = StdioClients.RunStdioAsync(AgentEnv(gw, "bridge-held", token), "--list", "--call", "system__time", """{"timezone":"Europe/Berlin"}""");
        JsonArray pending = [];
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Process;
        while (pending.Count == 0 && DateTimeOffset.UtcNow < deadline)
        {
            if (session.IsCompleted) Assert.Fail("the held call finished before it was decided: " + (await session).ToJsonString());
            pending = (await gw.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "pending" }))["approvals"]!.AsArray();
            if (pending.Count == 0) await Task.Delay(100);
        }
        var approval = Assert.Single(pending)!;
        Assert.Equal("bridge-held", approval["agent"]!.GetValue<string>());
        Assert.False(session.IsCompleted);

        var accepted = await ProcessRunner.Kruxos(gw, "approve", "accept", approval["id"]!.GetValue<string>());
        Assert.True(accepted.ExitCode == 0, accepted.StdErr);

        var r = await session;
        Assert.True(r["connected"]!.GetValue<bool>(), r.ToJsonString());
        Assert.Contains("system__time", r["tools"]!.AsArray().Select(t => t!.GetValue<string>()));
        var result = Assert.Single(r["results"]!.AsArray())!;
        Assert.False(result["isError"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal("Europe/Berlin", result["body"]!["timezone"]!.GetValue<string>());
    }

    [Fact]
    public async Task After_the_session_is_killed_the_bridge_reconnects_and_later_calls_succeed()
    {
        await using var gw = await TestGateway.StartAsync();
        var token = await gw.CreateAgentAsync("bridge-reconnect");
        var env = AgentEnv(gw, "bridge-reconnect", token);
        env["KRUXOS_LOG"] = "debug";
        await using var bridge = BridgeProcess.Start(env);

        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        await bridge.SendAsync(BridgeProcess.Initialized);
        await bridge.SendAsync(BridgeProcess.Call(2, "system__time"));
        var (before, _) = await bridge.ReadAnswerAsync(2);
        Assert.NotNull(before["result"]);

        var killed = await gw.ControlAsync(ControlProtocol.Methods.Kill, new JsonObject { ["name"] = "bridge-reconnect" });
        Assert.True(killed["connections_closed"]!.GetValue<int>() >= 1, killed.ToJsonString());

        // A call written right after the kill: answered once, whichever connection carries it.
        await bridge.SendAsync(BridgeProcess.Call(3, "system__time"));
        var (during, others) = await bridge.ReadAnswerAsync(3);
        Assert.NotNull(during["result"]);
        Assert.DoesNotContain(others, m => m["id"] is not null && m["method"] is null); // no stray answers (e.g. a second initialize)

        await bridge.WaitForLogAsync("reconnected");
        Assert.Contains("the gateway closed the connection", bridge.StdErr);
        await bridge.SendAsync(BridgeProcess.Call(4, "system__time"));
        var (after, _) = await bridge.ReadAnswerAsync(4);
        Assert.NotNull(after["result"]);
        Assert.False(after["result"]!["isError"]?.GetValue<bool>() ?? false, after.ToJsonString());

        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());
        Assert.DoesNotContain(await bridge.RemainingLinesAsync(), l => l.Contains("\"id\":3", StringComparison.Ordinal));
        Assert.DoesNotContain(token, bridge.StdErr);
    }

    [Fact]
    public async Task A_revoked_agent_makes_the_bridge_exit_10_on_reconnect()
    {
        await using var gw = await TestGateway.StartAsync();
        var token = await gw.CreateAgentAsync("bridge-revoked");
        await using var bridge = BridgeProcess.Start(AgentEnv(gw, "bridge-revoked", token));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        await bridge.SendAsync(BridgeProcess.Initialized);

        await gw.ControlAsync(ControlProtocol.Methods.AgentRevoke, new JsonObject { ["name"] = "bridge-revoked" });
        Assert.Equal(ExitCodes.AuthenticationRefused, await bridge.WaitForExitAsync());
        Assert.Contains("refused the credential", bridge.StdErr);
    }

    [Fact]
    public async Task The_bridge_rides_out_a_gateway_restart_and_a_call_written_while_it_is_down_is_answered_once()
    {
        var gw = await TestGateway.StartAsync();
        try
        {
            var token = await gw.CreateAgentAsync("bridge-restart");
            var env = AgentEnv(gw, "bridge-restart", token);
            env["KRUXOS_LOG"] = "debug";
            await using var bridge = BridgeProcess.Start(env);
            await bridge.SendAsync(BridgeProcess.Initialize(1));
            await bridge.ReadAnswerAsync(1);
            await bridge.SendAsync(BridgeProcess.Initialized);
            await bridge.SendAsync(BridgeProcess.Call(2, "system__time"));
            await bridge.ReadAnswerAsync(2);

            // Stop the gateway; while it is down, the client writes a call.
            var restart = gw.RestartAsync();
            await bridge.WaitForLogAsync("reconnecting in");
            await bridge.SendAsync(BridgeProcess.Call(3, "system__time"));
            gw = await restart;

            var (answer, others) = await bridge.ReadAnswerAsync(3, TestTimeouts.Process);
            Assert.True(answer["result"] is not null, $"{answer.ToJsonString()}\n{bridge.StdErr}");
            Assert.DoesNotContain(others, m => m["id"] is not null && m["method"] is null);
            Assert.Contains("reconnected", bridge.StdErr);
            Assert.Contains("initialize replayed", bridge.StdErr);

            await bridge.SendAsync(BridgeProcess.Call(4, "system__time"));
            Assert.NotNull((await bridge.ReadAnswerAsync(4)).Answer["result"]);
            bridge.CloseStdin();
            Assert.Equal(0, await bridge.WaitForExitAsync());
            Assert.Empty(await bridge.RemainingLinesAsync());
        }
        finally
        {
            await gw.DisposeAsync();
        }
    }
}
