using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Dashboard.Tests.Support;

/// <summary>Held calls for the specs: <c>/rpc</c> calls the agent's policy makes approval_required (answered -32002 with the request id at once).</summary>
public static class HeldCalls
{
    /// <summary>Invokes <paramref name="capability"/> over <c>/rpc</c> and returns the approval id it is held under.</summary>
    public static async Task<string> RpcAsync(TestGateway gateway, string token, string capability, JsonObject arguments)
    {
        using var rpc = new HttpClient();
        rpc.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = capability, ["arguments"] = arguments },
        }.ToJsonString();
        using var r = await rpc.PostAsync($"http://127.0.0.1:{gateway.GatewayPort}/rpc", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var json = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.True(json["error"]?["code"]?.GetValue<int>() == -32002, json.ToJsonString());
        return json["error"]!["data"]!["request_id"]!.GetValue<string>();
    }

    /// <summary>Invokes a capability over <c>/rpc</c> and returns the whole answer (for calls that are not held).</summary>
    public static async Task<JsonNode> InvokeAsync(TestGateway gateway, string token, string capability, JsonObject arguments)
    {
        using var rpc = new HttpClient { Timeout = TestTimeouts.Process };
        rpc.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = capability, ["arguments"] = arguments },
        }.ToJsonString();
        using var r = await rpc.PostAsync($"http://127.0.0.1:{gateway.GatewayPort}/rpc", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        return JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
    }

    /// <summary>The status of an approval (control socket view).</summary>
    public static async Task<string> StatusAsync(TestGateway gateway, string id) =>
        (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id }))["status"]!.GetValue<string>();
}
