using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Admin;

/// <summary>A call of <c>system.time</c> over <c>/rpc</c> that the agent's policy holds for approval.</summary>
internal static class HeldRpcCall
{
    /// <summary>Makes the call with <paramref name="token"/>; it is answered at once (-32002) with the approval's id, which is returned.</summary>
    public static async Task<string> StartAsync(TestGateway gw, string token, string timezone)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gw.GatewayPort}/rpc")
        {
            Content = new StringContent(new JsonObject
            {
                ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
                ["params"] = new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = timezone } },
            }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(json["error"]?["code"]?.GetValue<int>() == -32002, json.ToJsonString());
        return json["error"]!["data"]!["request_id"]!.GetValue<string>();
    }
}
