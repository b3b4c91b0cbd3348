using KruxOS.Testing;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Bridge.Tests.Support;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>The bridge process against a scripted server, for cases the real gateway cannot produce on demand.</summary>
public sealed class FakeGatewayTests
{
    private const string Hex64 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    private static Dictionary<string, string> Env(FakeGateway fake, params (string, string)[] extra)
    {
        var env = new Dictionary<string, string>
        {
            ["KRUXOS_ENDPOINT"] = fake.Endpoint.ToString(), ["KRUXOS_AGENT_NAME"] = "fake-agent", ["KRUXOS_AGENT_TOKEN"] = Hex64,
        };
        foreach (var (k, v) in extra) env[k] = v;
        return env;
    }

    [Fact]
    public async Task A_two_megabyte_tool_result_reaches_the_client_as_valid_truncated_json()
    {
        var big = string.Concat(Enumerable.Repeat("0123456789abcdef", 2 * 1024 * 1024 / 16));
        await using var fake = await FakeGateway.StartAsync(async (_, _, conn) =>
        {
            while (await conn.ReceiveAsync() is { } msg)
            {
                if (msg["method"]?.GetValue<string>() == "initialize") await conn.AnswerInitializeAsync(msg);
                else if (msg["method"]?.GetValue<string>() == "tools/call") await conn.AnswerTextAsync(msg, big, isError: true);
            }
        });
        await using var bridge = BridgeProcess.Start(Env(fake));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        await bridge.SendAsync(BridgeProcess.Call(2, "filesystem__read", """{"path":"/big"}"""));
        var (answer, _) = await bridge.ReadAnswerAsync(2);

        Assert.True(Encoding.UTF8.GetByteCount(answer.ToJsonString()) <= 1024 * 1024);
        Assert.True(answer["result"]!["isError"]!.GetValue<bool>());
        var text = answer["result"]!["content"]![0]!["text"]!.GetValue<string>();
        Assert.Contains("[truncated]", text);
        Assert.StartsWith("0123456789abcdef0123456789abcdef", text, StringComparison.Ordinal);
        Assert.Contains("capped", bridge.StdErr);
        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());
    }

    [Fact]
    public async Task A_held_call_answered_ApprovalReattach_is_sent_again_naming_its_approval_and_only_its_real_answer_reaches_the_client()
    {
        // The gateway's session holding the call went away (ADR 0058): the first answer is ApprovalReattach; the same
        // request again, naming the approval, gets the real result. The client must see only that result.
        const string approval = "appr-0123456789abcdef";
        var reattach = $$$"""{"error":"ApprovalReattach","message":"cut off","recovery":[],"retryable":true,"retry_after":0,"context":{"request_id":"{{{approval}}}","capability":"system.time"}}""";
        var calls = new List<JsonObject>();
        await using var fake = await FakeGateway.StartAsync(async (_, _, conn) =>
        {
            while (await conn.ReceiveAsync() is { } msg)
            {
                if (msg["method"]?.GetValue<string>() == "initialize") await conn.AnswerInitializeAsync(msg);
                else if (msg["method"]?.GetValue<string>() == "tools/call")
                {
                    lock (calls) calls.Add(msg);
                    var named = msg["params"]?["_meta"]?["kruxos/approval_id"]?.GetValue<string>();
                    if (named == approval) await conn.AnswerTextAsync(msg, "{\"utc\":\"now\"}");
                    else await conn.AnswerTextAsync(msg, reattach, isError: true);
                }
            }
        });
        await using var bridge = BridgeProcess.Start(Env(fake, ("KRUXOS_LOG", "debug")));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        await bridge.SendAsync(BridgeProcess.Call(2, "system__time", "{}"));

        var (answer, others) = await bridge.ReadAnswerAsync(2);
        Assert.False(answer["result"]!["isError"]?.GetValue<bool>() ?? false, answer.ToJsonString());
        Assert.Contains("now", answer["result"]!["content"]![0]!["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(others, m => m["id"] is not null && m["method"] is null);
        lock (calls)
        {
            Assert.Equal(2, calls.Count);
            Assert.Equal(calls[0]["id"]!.ToJsonString(), calls[1]["id"]!.ToJsonString());
            var key = calls[0]["params"]!["_meta"]!["kruxos/idempotency_key"]!.GetValue<string>();
            Assert.Equal(key, calls[1]["params"]!["_meta"]!["kruxos/idempotency_key"]!.GetValue<string>());
            Assert.Null(calls[0]["params"]!["_meta"]!["kruxos/approval_id"]);
        }
        Assert.Contains("re-attaching request id 2 to approval " + approval, bridge.StdErr, StringComparison.Ordinal);
        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());
    }

    [Fact]
    public async Task A_call_the_gateway_keeps_answering_ApprovalReattach_reaches_the_client_as_that_error_after_the_limit()
    {
        var reattach = """{"error":"ApprovalReattach","message":"cut off","recovery":[],"retryable":true,"retry_after":0,"context":{"request_id":"appr-00aa","capability":"system.time"}}""";
        var count = 0;
        await using var fake = await FakeGateway.StartAsync(async (_, _, conn) =>
        {
            while (await conn.ReceiveAsync() is { } msg)
            {
                if (msg["method"]?.GetValue<string>() == "initialize") await conn.AnswerInitializeAsync(msg);
                else if (msg["method"]?.GetValue<string>() == "tools/call") { Interlocked.Increment(ref count); await conn.AnswerTextAsync(msg, reattach, isError: true); }
            }
        });
        await using var bridge = BridgeProcess.Start(Env(fake));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        await bridge.SendAsync(BridgeProcess.Call(2, "system__time", "{}"));

        var (answer, _) = await bridge.ReadAnswerAsync(2);
        Assert.True(answer["result"]!["isError"]!.GetValue<bool>());
        Assert.Contains("ApprovalReattach", answer["result"]!["content"]![0]!["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(ReattachAnswer.MaxReattaches + 1, Volatile.Read(ref count));
        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());
    }

    [Fact]
    public async Task After_a_drop_the_bridge_replays_initialize_and_resends_the_unanswered_call_with_its_id()
    {
        var secondConnectionDone = new TaskCompletionSource();
        await using var fake = await FakeGateway.StartAsync(async (_, index, conn) =>
        {
            if (index == 0)
            {
                // First connection: answer initialize, take the call and drop the connection without answering.
                while (await conn.ReceiveAsync() is { } msg)
                {
                    var method = msg["method"]?.GetValue<string>();
                    if (method == "initialize") await conn.AnswerInitializeAsync(msg);
                    else if (method == "tools/call") { conn.Socket.Abort(); return; }
                }
                return;
            }
            // Second connection: answer everything.
            while (await conn.ReceiveAsync() is { } msg)
            {
                var method = msg["method"]?.GetValue<string>();
                if (method == "initialize") await conn.AnswerInitializeAsync(msg);
                else if (method == "tools/call") await conn.AnswerTextAsync(msg, "done after reconnect");
            }
            secondConnectionDone.TrySetResult();
        });

        await using var bridge = BridgeProcess.Start(Env(fake));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        var (init, _) = await bridge.ReadAnswerAsync(1);
        Assert.Equal("fake-gateway", init["result"]!["serverInfo"]!["name"]!.GetValue<string>());
        await bridge.SendAsync(BridgeProcess.Initialized);
        await bridge.SendAsync(BridgeProcess.Call(7, "system__time"));

        var (answer, before) = await bridge.ReadAnswerAsync(7);
        Assert.Equal("done after reconnect", answer["result"]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Empty(before); // the replayed initialize was answered to the bridge, not the client

        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());
        Assert.Empty(await bridge.RemainingLinesAsync()); // and nothing else reached the client
        await secondConnectionDone.Task.WaitAsync(TestTimeouts.Call);

        // On the new connection: initialize (under the bridge's own id, with the client's clientInfo),
        // notifications/initialized, then the call with the client's id 7 — in that order, once each.
        var second = fake.Received[1].Select(m => (m["method"]?.GetValue<string>(), m["id"]?.ToJsonString())).ToList();
        Assert.Equal(3, second.Count);
        Assert.Equal("initialize", second[0].Item1);
        Assert.StartsWith("\"kruxos-bridge-reinit-", second[0].Item2, StringComparison.Ordinal);
        Assert.Equal("bridge-tests", fake.Received[1].First()["params"]!["clientInfo"]!["name"]!.GetValue<string>());
        Assert.Equal(("notifications/initialized", null), second[1]);
        Assert.Equal(("tools/call", "7"), second[2]);
        // The call was sent once per connection.
        Assert.Single(fake.Received[0], m => m["method"]?.GetValue<string>() == "tools/call");
        Assert.All(fake.UpgradeHeaders, h => Assert.Equal("fake-agent", h["X-KruxOS-Agent"]));
    }

    [Fact]
    public async Task Requests_written_while_disconnected_are_queued_and_sent_after_reconnecting()
    {
        var release = new TaskCompletionSource();
        await using var fake = await FakeGateway.StartAsync(async (_, index, conn) =>
        {
            if (index == 0)
            {
                var init = await conn.ReceiveAsync();
                await conn.AnswerInitializeAsync(init!);
                // Drop as soon as the client has the answer (it then sends notifications/initialized).
                await conn.ReceiveAsync();
                conn.Socket.Abort();
                return;
            }
            await release.Task; // hold the second connection's traffic until the test has queued its calls
            while (await conn.ReceiveAsync() is { } msg)
            {
                var method = msg["method"]?.GetValue<string>();
                if (method == "initialize") await conn.AnswerInitializeAsync(msg);
                else if (method == "tools/call") await conn.AnswerTextAsync(msg, "answer " + msg["id"]!.ToJsonString());
            }
        });

        await using var bridge = BridgeProcess.Start(Env(fake, ("KRUXOS_LOG", "debug")));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        await bridge.SendAsync(BridgeProcess.Initialized);
        await bridge.WaitForLogAsync("reconnecting in"); // disconnected now
        for (var id = 10; id < 13; id++) await bridge.SendAsync(BridgeProcess.Call(id, "system__time"));
        release.SetResult();

        var texts = new List<string>();
        for (var id = 10; id < 13; id++)
        {
            var (answer, _) = await bridge.ReadAnswerAsync(id);
            texts.Add(answer["result"]!["content"]![0]!["text"]!.GetValue<string>());
        }
        Assert.Equal(["answer 10", "answer 11", "answer 12"], texts);
        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());
        Assert.Empty(await bridge.RemainingLinesAsync());
    }

    [Fact]
    public async Task User_mode_sends_the_user_token_and_the_cli_attribution_and_keeps_the_clients_own_client_info()
    {
        const string userToken = "krx_user_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd";
        await using var fake = await FakeGateway.StartAsync(async (_, _, conn) =>
        {
            while (await conn.ReceiveAsync() is { } msg)
                if (msg["method"]?.GetValue<string>() == "initialize") await conn.AnswerInitializeAsync(msg);
        });
        await using var bridge = BridgeProcess.Start(new Dictionary<string, string> { ["KRUXOS_USER_TOKEN"] = userToken, ["KRUXOS_LOG"] = "debug" },
            "--gateway", fake.Endpoint.GetLeftPart(UriPartial.Authority), "--label", "claude-code", "--cli", "codex");
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        await bridge.ReadAnswerAsync(1);
        bridge.CloseStdin();
        Assert.Equal(0, await bridge.WaitForExitAsync());

        var headers = Assert.Single(fake.UpgradeHeaders);
        Assert.Equal("Bearer " + userToken, headers["Authorization"]);
        Assert.Equal("codex", headers["X-KruxOS-Client"]);
        Assert.False(headers.ContainsKey("X-KruxOS-Agent"));
        var init = fake.Received[0].First();
        Assert.Equal("bridge-tests", init["params"]!["clientInfo"]!["name"]!.GetValue<string>());
        Assert.DoesNotContain(userToken, bridge.StdErr); // not even at debug level
    }
}

