using KruxOS.Testing;
using System.Net.Sockets;
using KruxOS.Bridge.Tests.Support;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>Every exit code of the real <c>mcp-bridge</c> process, against a real in-process gateway where one is needed.</summary>
public sealed class ExitCodeTests
{
    private const string Hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Fact]
    public async Task A_token_on_argv_exits_2_and_is_not_echoed()
    {
        var r = await BridgeRunner.Bridge(new Dictionary<string, string> { ["KRUXOS_ENDPOINT"] = "ws://127.0.0.1:1" }, "", "--label", Hex64);
        Assert.Equal(ExitCodes.CredentialInArgv, r.ExitCode);
        Assert.DoesNotContain(Hex64, r.StdErr);
        Assert.Equal("", r.StdOut);

        var user = await BridgeRunner.Bridge(new Dictionary<string, string>(), "", "--gateway=ws://127.0.0.1:1/?krx_user_leak");
        Assert.Equal(ExitCodes.CredentialInArgv, user.ExitCode);
        Assert.DoesNotContain("krx_user_leak", user.StdErr);
    }

    [Fact]
    public async Task A_missing_token_exits_4()
    {
        var agent = await BridgeRunner.Bridge(new Dictionary<string, string> { ["KRUXOS_ENDPOINT"] = "ws://127.0.0.1:1", ["KRUXOS_AGENT_NAME"] = "a1" });
        Assert.Equal(ExitCodes.CredentialMissing, agent.ExitCode);
        // User mode without KRUXOS_USER_TOKEN mints from the auth socket instead: see AuthSocketTests for 3, 4 and 5.
    }

    [Fact]
    public async Task An_unreachable_gateway_exits_11()
    {
        // A port that was free a moment ago and has no listener now: connection refused.
        var port = TestGateway.FreePort();
        var r = await BridgeRunner.Bridge(new Dictionary<string, string>
        {
            ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{port}", ["KRUXOS_AGENT_NAME"] = "a1", ["KRUXOS_AGENT_TOKEN"] = Hex64,
        }, stdin: BridgeProcess.Initialize(1) + "\n");
        Assert.Equal(ExitCodes.GatewayUnreachable, r.ExitCode);
        Assert.Contains("cannot reach the gateway", r.StdErr);
        Assert.DoesNotContain(Hex64, r.StdErr);
    }

    [Fact]
    public async Task A_refused_credential_exits_10_and_a_valid_one_runs_until_stdin_closes()
    {
        await using var gw = await TestGateway.StartAsync();
        var token = await gw.CreateAgentAsync("bridge-exit");

        var wrong = await BridgeRunner.Bridge(new Dictionary<string, string>
        {
            ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{gw.GatewayPort}", ["KRUXOS_AGENT_NAME"] = "bridge-exit", ["KRUXOS_AGENT_TOKEN"] = Hex64,
        });
        Assert.Equal(ExitCodes.AuthenticationRefused, wrong.ExitCode);
        Assert.Contains("HTTP 401", wrong.StdErr);

        // The right token under another agent's name is refused too (the name must match the token).
        var mismatch = await BridgeRunner.Bridge(new Dictionary<string, string>
        {
            ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{gw.GatewayPort}", ["KRUXOS_AGENT_NAME"] = "someone-else", ["KRUXOS_AGENT_TOKEN"] = token,
        });
        Assert.Equal(ExitCodes.AuthenticationRefused, mismatch.ExitCode);
        Assert.DoesNotContain(token, mismatch.StdErr);

        await using var bridge = BridgeProcess.Start(new Dictionary<string, string>
        {
            ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{gw.GatewayPort}", ["KRUXOS_AGENT_NAME"] = "bridge-exit", ["KRUXOS_AGENT_TOKEN"] = token,
            ["KRUXOS_LOG"] = "debug",
        });
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        var (init, _) = await bridge.ReadAnswerAsync(1);
        Assert.Equal("kruxos-gateway", init["result"]!["serverInfo"]!["name"]!.GetValue<string>());
        await bridge.SendAsync(BridgeProcess.Initialized);
        await bridge.SendAsync(BridgeProcess.Call(2, "system__time"));
        bridge.CloseStdin();
        // The call was in flight when stdin closed: its answer is still written before the bridge exits 0.
        var (call, _) = await bridge.ReadAnswerAsync(2);
        Assert.NotNull(call["result"]);
        Assert.Equal(ExitCodes.Ok, await bridge.WaitForExitAsync());
        Assert.DoesNotContain(token, bridge.StdErr);
    }

    [Fact]
    public async Task A_user_token_connects_in_user_mode_with_the_cli_attribution()
    {
        await using var gw = await TestGateway.StartAsync();
        var created = await gw.ControlAsync(KruxOS.Core.Control.ControlProtocol.Methods.UserTokenCreate, new System.Text.Json.Nodes.JsonObject { ["label"] = "claude-code" });
        var userToken = created["token"]!.GetValue<string>();

        await using var bridge = BridgeProcess.Start(new Dictionary<string, string> { ["KRUXOS_USER_TOKEN"] = userToken },
            "--gateway", $"ws://127.0.0.1:{gw.GatewayPort}", "--label", "claude-code", "--cli", "claude-code");
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        var (init, _) = await bridge.ReadAnswerAsync(1);
        Assert.NotNull(init["result"]);
        await bridge.SendAsync(BridgeProcess.Initialized);
        await bridge.SendAsync("""{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""");
        var (list, _) = await bridge.ReadAnswerAsync(2);
        Assert.NotEmpty(list["result"]!["tools"]!.AsArray());
        bridge.CloseStdin();
        Assert.Equal(ExitCodes.Ok, await bridge.WaitForExitAsync());
    }
}
