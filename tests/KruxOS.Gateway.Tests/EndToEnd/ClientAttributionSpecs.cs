using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// X-KruxOS-Client and clientInfo over a real WebSocket: recorded on the connection, shown on the approval
/// (<c>kruxos approve list/show</c>), refused when malformed; and an idempotency key on the wire.
/// </summary>
public sealed class ClientAttributionSpecs
{
    private const string Agent = "attr-bot";

    private static async Task<TestGateway> StartAsync()
    {
        return await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-attr-", Agent));
    }

    private static JsonObject Call(int id, string key) => new()
    {
        ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = "tools/call",
        ["params"] = new JsonObject
        {
            ["name"] = "system__time", ["arguments"] = new JsonObject { ["timezone"] = "UTC" },
            ["_meta"] = new JsonObject { ["kruxos/idempotency_key"] = key },
        },
    };

    [Fact]
    public async Task Should_show_the_cli_of_the_connection_as_the_initiating_client_of_its_approvals()
    {
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token, headers: new Dictionary<string, string> { ["X-KruxOS-Client"] = "Codex" });
        await ws.InitializeAsync();
        await ws.SendAsync(Call(5, "attr-key-0001").ToJsonString());

        JsonArray pending;
        using (var cts = new CancellationTokenSource(TestTimeouts.Process))
            while ((pending = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray()).Count == 0)
                await Task.Delay(100, cts.Token);
        var approval = Assert.Single(pending)!;
        Assert.Equal("codex", approval["initiating_client"]!.GetValue<string>());
        var id = approval["id"]!.GetValue<string>();
        var shown = await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id });
        Assert.Equal("raw-test", shown["client"]!.GetValue<string>());
        Assert.Equal("codex", shown["client_cli"]!.GetValue<string>());

        var table = await ProcessRunner.Kruxos(gateway, "approve", "list");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("CLIENT", table.StdOut);
        Assert.Contains("codex", table.StdOut);

        // the same key re-sent on the same connection while held: attached, no second request
        await ws.SendAsync(Call(6, "attr-key-0001").ToJsonString());
        await Task.Delay(300);
        Assert.Single((await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray());

        await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id, ["reason"] = "ok" });
        var answers = new Dictionary<int, JsonObject>();
        while (answers.Count < 2)
        {
            var msg = await ws.ReceiveAsync() ?? throw new InvalidOperationException("socket closed");
            if (msg["id"] is JsonValue v && v.TryGetValue<int>(out var got)) answers[got] = msg;
        }
        Assert.Equal(answers[5]["result"]!.ToJsonString(), answers[6]["result"]!.ToJsonString());
        Assert.False(answers[5]["result"]!["isError"]?.GetValue<bool>() ?? false, answers[5].ToJsonString());
    }

    [Fact]
    public async Task Should_refuse_a_malformed_client_header_on_both_transports_and_a_malformed_key_on_the_call()
    {
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);

        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        ws.Options.SetRequestHeader("X-KruxOS-Client", "claude code; rm -rf");
        ws.Options.AddSubProtocol("mcp");
        await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(gateway.McpWs, TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.BadRequest, ws.HttpStatusCode);
        ws.Dispose();

        using var http = new HttpClient();
        using var post = new HttpRequestMessage(HttpMethod.Post, gateway.McpHttp)
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}""",
                System.Text.Encoding.UTF8, "application/json"),
        };
        post.Headers.Add("Authorization", $"Bearer {token}");
        post.Headers.Add("Accept", "application/json, text/event-stream");
        post.Headers.TryAddWithoutValidation("X-KruxOS-Client", "<script>");
        var response = await http.SendAsync(post, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_client_header", JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["error_type"]!.GetValue<string>());

        await using var good = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await good.InitializeAsync();
        var bad = await good.RequestAsync(7, "tools/call", new JsonObject
        {
            ["name"] = "system__time", ["arguments"] = new JsonObject(), ["_meta"] = new JsonObject { ["kruxos/idempotency_key"] = "no spaces allowed" },
        });
        Assert.True(bad["result"]!["isError"]!.GetValue<bool>());
        Assert.Contains("InvalidInput", bad["result"]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Empty((await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray());
    }
}
