using System.Text;
using System.Text.Json.Nodes;

namespace KruxOS.Gateway.Tests.Comms;

/// <summary><c>/rpc capabilities.invoke</c> over a real socket, for the comms, scheduler and alerts specs.</summary>
internal static class Rpc
{
    public static async Task<JsonNode> InvokeAsync(int gatewayPort, string token, string capability, JsonObject? arguments = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(90) };
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = capability, ["arguments"] = arguments ?? new JsonObject() },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gatewayPort}/rpc")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    /// <summary>The output of a successful call; fails the spec with the whole answer otherwise.</summary>
    public static async Task<JsonNode> OkAsync(int gatewayPort, string token, string capability, JsonObject? arguments = null)
    {
        var answer = await InvokeAsync(gatewayPort, token, capability, arguments);
        var result = answer["result"];
        if (result?["data"] is not { } data || result["error"] is not null)
            throw new Xunit.Sdk.XunitException($"{capability} failed: {answer.ToJsonString()}");
        return data;
    }

    /// <summary>The structured error of a failed call; fails the spec when it succeeded.</summary>
    public static async Task<JsonNode> ErrorAsync(int gatewayPort, string token, string capability, JsonObject? arguments = null)
    {
        var answer = await InvokeAsync(gatewayPort, token, capability, arguments);
        return answer["result"]?["error"] ?? answer["error"] ?? throw new Xunit.Sdk.XunitException($"{capability} succeeded: {answer.ToJsonString()}");
    }
}
