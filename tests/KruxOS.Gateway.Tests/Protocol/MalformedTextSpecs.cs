using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>
/// Adversarial: an agent sends arguments whose text is not text — an escaped lone surrogate (<c>"\ud800"</c>) or raw
/// bytes that are not UTF-8 — over every edge (MCP WebSocket, MCP Streamable HTTP, <c>/rpc</c>). The call is refused
/// as <c>InvalidInput</c> naming the field, the refusal is audited, and the agent's session keeps working: another
/// call of the same agent that is in flight meanwhile completes normally.
/// </summary>
public sealed class MalformedTextSpecs
{
    // "path":"notes/<bad>.txt", with <bad> either the six characters \ud800 or the two bytes FF FE.
    private static byte[] Arguments(bool rawBytes)
    {
        var bytes = new List<byte>();
        bytes.AddRange("{\"path\":\"notes/"u8.ToArray());
        bytes.AddRange(rawBytes ? [0xFF, 0xFE] : "\\ud800"u8.ToArray());
        bytes.AddRange(".txt\"}"u8.ToArray());
        return [.. bytes];
    }

    private static byte[] ToolsCall(int id, bool rawBytes) =>
        [.. Encoding.UTF8.GetBytes($"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"filesystem__read\",\"arguments\":"),
         .. Arguments(rawBytes), .. "}}"u8.ToArray()];

    private static byte[] RpcInvoke(int id, bool rawBytes) =>
        [.. Encoding.UTF8.GetBytes($"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"capabilities.invoke\",\"params\":{{\"capability\":\"filesystem.read\",\"arguments\":"),
         .. Arguments(rawBytes), .. "}}"u8.ToArray()];

    private static void AssertInvalidPath(JsonObject response)
    {
        var result = response["result"]?.AsObject() ?? throw new Xunit.Sdk.XunitException("no result: " + response.ToJsonString());
        Assert.True(result["isError"]!.GetValue<bool>(), response.ToJsonString());
        var error = JsonNode.Parse(result["content"]![0]!["text"]!.GetValue<string>())!;
        Assert.Equal("InvalidInput", error["error"]!.GetValue<string>());
        Assert.Equal("path", error["context"]!["field"]!.GetValue<string>());
    }

    private static async Task<IReadOnlyList<AuditEntry>> RefusalsAsync(TestGateway gateway, string agent) =>
        [.. (await new AuditReader(Path.Combine(gateway.DataDir, "audit")).QueryAsync(
                new AuditQuery { Agent = agent, Capability = "filesystem.read", Ascending = true }, TestContext.Current.CancellationToken))
            .Entries.Select(e => e.Entry).Where(e => e.Metadata.ErrorType == "InvalidInput")];

    // A call of the same agent that is in flight while the malformed ones arrive: a process that sleeps, then prints.
    private static JsonObject SlowCall(int id) => new()
    {
        ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = "tools/call",
        ["params"] = new JsonObject { ["name"] = "process__run", ["arguments"] = new JsonObject { ["command"] = "sh", ["args"] = new JsonArray("-c", "sleep 2; echo still-here") } },
    };

    private static async Task<(TestGateway Gateway, string Agent, string Token)> StartAsync(string prefix)
    {
        var gateway = await TestGateway.StartAsync();
        var agent = prefix + Guid.NewGuid().ToString("N")[..6];
        return (gateway, agent, await gateway.CreateAgentAsync(agent));
    }

    private static void RequireSandbox() =>
        Assert.SkipUnless(Environment.IsPrivilegedProcess && File.Exists("/usr/bin/bwrap"), "the in-flight call runs in the kernel sandbox (root and bubblewrap)");

    private static void AssertRecordedRepaired(IReadOnlyList<AuditEntry> refusals, int count)
    {
        Assert.Equal(count, refusals.Count);
        foreach (var e in refusals)
        {
            Assert.Equal(AuditStatus.Error, e.Status);
            // recorded as the agent sent it, with U+FFFD where the text was broken
            Assert.Contains('\uFFFD', e.Inputs.GetProperty("path").GetString()!);
        }
    }

    [Fact]
    public async Task Should_refuse_a_lone_surrogate_over_websocket_as_invalid_input_and_close_on_bytes_that_are_not_utf8()
    {
        RequireSandbox();
        // arrange
        var (gateway, agent, token) = await StartAsync("text-ws-");
        await using var _ = gateway;
        await using var slow = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await slow.InitializeAsync();
        await using var attacker = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await attacker.InitializeAsync();

        // act: one call of the agent in flight, then the malformed ones on another connection of the same agent
        await slow.SendAsync(SlowCall(7).ToJsonString());
        await attacker.Socket.SendAsync(ToolsCall(1, rawBytes: false), WebSocketMessageType.Text, true, CancellationToken.None);
        var surrogate = await attacker.ReceiveAsync();
        await attacker.Socket.SendAsync(ToolsCall(2, rawBytes: true), WebSocketMessageType.Text, true, CancellationToken.None);
        var afterRawBytes = await attacker.ReceiveAsync();

        // assert: the lone surrogate is InvalidInput naming the field, and audited
        AssertInvalidPath(surrogate!);
        // a text frame that is not UTF-8 breaks the WebSocket protocol itself (RFC 6455 §8.1): the socket layer fails the
        // connection (1007) before any JSON is read, so no call exists to refuse or audit
        Assert.Null(afterRawBytes);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, attacker.Socket.CloseStatus);
        // the agent's session was never disturbed: the call in flight completes normally, and new calls run
        var inFlight = await slow.ReceiveAsync();
        Assert.False(inFlight!["result"]!["isError"]?.GetValue<bool>() ?? false, inFlight.ToJsonString());
        Assert.Contains("still-here", inFlight.ToJsonString());
        var next = await slow.RequestAsync(8, "tools/call", new JsonObject { ["name"] = "system__time", ["arguments"] = new JsonObject() });
        Assert.False(next["result"]!["isError"]?.GetValue<bool>() ?? false, next.ToJsonString());
        AssertRecordedRepaired(await RefusalsAsync(gateway, agent), 1);
    }

    [Fact]
    public async Task Should_refuse_malformed_text_over_streamable_http_as_invalid_input_and_keep_the_session_serving()
    {
        RequireSandbox();
        // arrange
        var (gateway, agent, token) = await StartAsync("text-http-");
        await using var _ = gateway;
        using var http = new HttpClient { Timeout = TestTimeouts.Process };
        var slowSession = await InitializeHttpAsync(http, gateway, token);
        var attackerSession = await InitializeHttpAsync(http, gateway, token);

        // act
        var inFlight = PostAsync(http, gateway, token, slowSession, Encoding.UTF8.GetBytes(SlowCall(7).ToJsonString()));
        var surrogate = await PostAsync(http, gateway, token, attackerSession, ToolsCall(1, rawBytes: false));
        var rawBytes = await PostAsync(http, gateway, token, attackerSession, ToolsCall(2, rawBytes: true));

        // assert: both are InvalidInput naming the field (not the SDK's -32603, not a silent U+FFFD), both audited
        AssertInvalidPath(surrogate);
        AssertInvalidPath(rawBytes);
        var slow = await inFlight;
        Assert.False(slow["result"]!["isError"]?.GetValue<bool>() ?? false, slow.ToJsonString());
        Assert.Contains("still-here", slow.ToJsonString());
        AssertRecordedRepaired(await RefusalsAsync(gateway, agent), 2);
    }

    [Fact]
    public async Task Should_refuse_malformed_text_over_rpc_as_invalid_input_and_keep_the_session_serving()
    {
        RequireSandbox();
        // arrange
        var (gateway, agent, token) = await StartAsync("text-rpc-");
        await using var _ = gateway;
        using var http = new HttpClient { Timeout = TestTimeouts.Process };
        var rpc = new Uri($"http://127.0.0.1:{gateway.GatewayPort}/rpc");
        var slowCall = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 7, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = "process.run", ["arguments"] = new JsonObject { ["command"] = "sh", ["args"] = new JsonArray("-c", "sleep 2; echo still-here") } },
        };

        // act
        var inFlight = RpcAsync(http, rpc, token, Encoding.UTF8.GetBytes(slowCall.ToJsonString()));
        var surrogate = await RpcAsync(http, rpc, token, RpcInvoke(1, rawBytes: false));
        var rawBytes = await RpcAsync(http, rpc, token, RpcInvoke(2, rawBytes: true));
        // a malformed method name is not a call: a JSON-RPC error, not a server error
        var badMethod = await RpcAsync(http, rpc, token, [.. "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"capabilities.\\udc00\"}"u8]);

        // assert
        foreach (var response in new[] { surrogate, rawBytes })
        {
            var error = response["result"]!["error"]!;
            Assert.Equal("InvalidInput", error["type"]!.GetValue<string>());
            Assert.Equal("path", error["context"]!["field"]!.GetValue<string>());
        }
        Assert.Equal(-32600, badMethod["error"]!["code"]!.GetValue<int>());
        var slow = await inFlight;
        Assert.True(slow["result"]!["success"]!.GetValue<bool>(), slow.ToJsonString());
        Assert.Contains("still-here", slow.ToJsonString());
        AssertRecordedRepaired(await RefusalsAsync(gateway, agent), 2);
    }

    private static async Task<JsonObject> RpcAsync(HttpClient http, Uri rpc, string token, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, rpc) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static async Task<string> InitializeHttpAsync(HttpClient http, TestGateway gateway, string token)
    {
        var init = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 0, ["method"] = "initialize",
            ["params"] = new JsonObject { ["protocolVersion"] = "2025-06-18", ["capabilities"] = new JsonObject(), ["clientInfo"] = new JsonObject { ["name"] = "raw-test", ["version"] = "1" } },
        };
        using var request = Post(gateway, token, null, Encoding.UTF8.GetBytes(init.ToJsonString()));
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var session = response.Headers.GetValues("Mcp-Session-Id").Single();
        using var initialized = Post(gateway, token, session, """{"jsonrpc":"2.0","method":"notifications/initialized"}"""u8.ToArray());
        using var ack = await http.SendAsync(initialized);
        Assert.True(ack.IsSuccessStatusCode, ack.StatusCode.ToString());
        return session;
    }

    private static HttpRequestMessage Post(TestGateway gateway, string token, string? session, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpHttp) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new("Bearer", token);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (session is not null) request.Headers.Add("Mcp-Session-Id", session);
        return request;
    }

    // The JSON-RPC response to a POST: a JSON body, or the first data line of an event stream.
    private static async Task<JsonObject> PostAsync(HttpClient http, TestGateway gateway, string token, string session, byte[] body)
    {
        using var request = Post(gateway, token, session, body);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {text}");
        var json = response.Content.Headers.ContentType?.MediaType == "text/event-stream"
            ? text.Split('\n').First(l => l.StartsWith("data:", StringComparison.Ordinal))["data:".Length..]
            : text;
        return JsonNode.Parse(json)!.AsObject();
    }
}
