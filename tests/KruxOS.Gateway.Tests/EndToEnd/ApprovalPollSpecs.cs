using KruxOS.Testing;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// The agents' approval poll over real sockets, on both edges that serve it (MCP <c>kruxos/checkApproval</c> over
/// WebSocket, <c>/rpc approvals.check</c>): an agent sees its own approvals and learns nothing about another agent's.
/// </summary>
public sealed class ApprovalPollSpecs
{
    private const string Owner = "bot";

    private static async Task<JsonNode> RpcAsync(TestGateway gateway, string token, string method, JsonObject parameters)
    {
        using var rpc = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc")
        {
            Content = new StringContent(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = method, ["params"] = parameters }.ToJsonString(),
                System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await rpc.SendAsync(request);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private static async Task<JsonObject> McpPollAsync(RawWebSocket ws, int id, string requestId) =>
        await ws.RequestAsync(id, "kruxos/checkApproval", new JsonObject { ["request_id"] = requestId });

    [Fact]
    public async Task Should_answer_another_agents_approval_id_exactly_as_an_unknown_one_on_mcp_and_rpc()
    {
        // arrange: the owner's policy holds system.time for approval; the owner files one over /rpc
        await using var gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-approval-poll-", Owner));
        var ownerToken = await gateway.CreateAgentAsync(Owner);
        var intruderToken = await gateway.CreateAgentAsync("intruder");
        var held = await RpcAsync(gateway, ownerToken, "capabilities.invoke",
            new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = "UTC" } });
        var approvalId = held["error"]!["data"]!["request_id"]!.GetValue<string>();
        const string unknownId = "appr-00000000deadbeef";
        await using var intruder = await RawWebSocket.ConnectAsync(gateway.McpWs, intruderToken);
        await intruder.InitializeAsync();
        await using var owner = await RawWebSocket.ConnectAsync(gateway.McpWs, ownerToken);
        await owner.InitializeAsync();

        // act: the intruder polls the owner's real id and an id that does not exist, on both edges
        var mcpForeign = (await McpPollAsync(intruder, 2, approvalId))["result"]!;
        var mcpUnknown = (await McpPollAsync(intruder, 3, unknownId))["result"]!;
        var rpcForeign = (await RpcAsync(gateway, intruderToken, "approvals.check", new JsonObject { ["request_id"] = approvalId }))["result"]!;
        var mcpMalformed = await McpPollAsync(intruder, 4, "appr-../x");

        // assert: the only difference between the two answers is the id the intruder sent itself
        Assert.Equal(new JsonObject { ["request_id"] = approvalId, ["status"] = "not_found" }.ToJsonString(), mcpForeign.ToJsonString());
        Assert.Equal(new JsonObject { ["request_id"] = unknownId, ["status"] = "not_found" }.ToJsonString(), mcpUnknown.ToJsonString());
        Assert.Equal(mcpForeign.ToJsonString(), rpcForeign.ToJsonString());
        Assert.Equal(-32602, mcpMalformed["error"]!["code"]!.GetValue<int>());
        // the owner, on the same edge, sees its approval
        var mine = (await McpPollAsync(owner, 2, approvalId))["result"]!;
        Assert.Equal("pending", mine["status"]!.GetValue<string>());
        Assert.Equal(approvalId, mine["request_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_report_the_decision_to_its_owner_with_decided_at_on_mcp_and_without_it_on_rpc()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-approval-poll-", Owner));
        var token = await gateway.CreateAgentAsync(Owner);
        var held = await RpcAsync(gateway, token, "capabilities.invoke",
            new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = "UTC" } });
        var approvalId = held["error"]!["data"]!["request_id"]!.GetValue<string>();
        await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = approvalId, ["reason"] = "fine" });
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await ws.InitializeAsync();

        // act
        var mcp = (await McpPollAsync(ws, 2, approvalId))["result"]!.AsObject();
        var rpc = (await RpcAsync(gateway, token, "approvals.check", new JsonObject { ["request_id"] = approvalId }))["result"]!.AsObject();

        // assert: the same approval view, the MCP answer ending with decided_at
        Assert.Equal("approved", mcp["status"]!.GetValue<string>());
        Assert.Equal("fine", mcp["reason"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(mcp["decided_by"]!.GetValue<string>()));
        Assert.True(DateTimeOffset.TryParse(mcp["decided_at"]!.GetValue<string>(), out _));
        Assert.False(rpc.ContainsKey("decided_at"));
        var expected = mcp.DeepClone().AsObject();
        expected.Remove("decided_at");
        Assert.Equal(expected.Select(p => p.Key), rpc.Select(p => p.Key));
    }
}
