using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Auth;

/// <summary>
/// The structured auth errors of spec §16 as a client reads them off the wire: the 401 body of a refused
/// WebSocket upgrade, of a Streamable HTTP request and of a JSON-RPC request.
/// </summary>
public sealed class AuthErrorSpecs
{
    private sealed record Refusal(int Status, string? ErrorType, JsonNode Body, IReadOnlyDictionary<string, string> Headers);

    [Theory]
    [InlineData("ws")]
    [InlineData("http")]
    [InlineData("rpc")]
    public async Task Should_answer_each_credential_failure_with_its_structured_auth_error(string transport)
    {
        // arrange: its own gateway, so this transport's five failures stay under the per-address limit of ten
        await using var gateway = await TestGateway.StartAsync();
        var alice = await gateway.CreateAgentAsync("alice");
        await gateway.CreateAgentAsync("bob");
        var gone = await gateway.CreateAgentAsync("gone");
        await gateway.ControlAsync(ControlProtocol.Methods.AgentRevoke, new JsonObject { ["name"] = "gone" });

        // act
        var unknown = await SendAsync(gateway, transport, new string('a', 64));
        var headerMismatch = await SendAsync(gateway, transport, alice, headers: new() { ["X-KruxOS-Agent"] = "bob" });
        var queryMismatch = await SendAsync(gateway, transport, alice, query: "?agent=bob");
        var revoked = await SendAsync(gateway, transport, gone);
        var missing = await SendAsync(gateway, transport, null);
        var matching = await SendAsync(gateway, transport, alice, headers: new() { ["X-KruxOS-Agent"] = "alice" });

        // assert
        foreach (var r in new[] { unknown, headerMismatch, queryMismatch, missing })
        {
            Assert.Equal(401, r.Status);
            Assert.Equal("auth.invalid_credentials", r.ErrorType);
        }
        Assert.Equal(401, revoked.Status);
        Assert.Equal("auth.agent_revoked", revoked.ErrorType);
        Assert.True(matching.Status is 101 or 200, $"the matching agent name was refused: {matching.Status} {matching.Body.ToJsonString()}");
        if (transport == "rpc")
        {
            Assert.All(new[] { unknown, revoked, missing }, r => Assert.Equal(-32003, r.Body["error"]!["code"]!.GetValue<int>()));
            Assert.Contains("revoked", revoked.Body["error"]!["message"]!.GetValue<string>());
            return;
        }
        // the §3.7 body of a refused upgrade or request
        Assert.Equal("Agent 'gone' has been revoked.", revoked.Body["description"]!.GetValue<string>());
        Assert.Equal(revoked.Body["description"]!.GetValue<string>(), revoked.Body["agent_description"]!.GetValue<string>());
        Assert.Equal("gone", revoked.Body["context"]!["agent"]!.GetValue<string>());
        Assert.Equal(new[] { "contact_admin", "create_new_agent" }, revoked.Body["recovery_actions"]!.AsArray().Select(a => a!["action"]!.GetValue<string>()));
        Assert.False(revoked.Body["retryable"]!.GetValue<bool>());
        Assert.Equal("check_credentials", unknown.Body["recovery_actions"]![0]!["action"]!.GetValue<string>());
        Assert.Contains("Authorization: Bearer", missing.Body["description"]!.GetValue<string>());
        Assert.Equal("missing", missing.Body["context"]!["reason"]!.GetValue<string>());
        Assert.Equal("Bearer", missing.Headers["WWW-Authenticate"]);
    }

    private static async Task<Refusal> SendAsync(TestGateway gateway, string transport, string? token, Dictionary<string, string>? headers = null, string query = "")
    {
        headers ??= [];
        if (token is not null) headers["Authorization"] = $"Bearer {token}";
        if (transport == "ws")
        {
            await using var upgrade = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp" + query, headers);
            var a = upgrade.Answer;
            var body = a.Status == 101 ? new JsonObject() : a.Json;
            return new Refusal(a.Status, body["error_type"]?.GetValue<string>(), body, a.Headers);
        }
        using var http = new HttpClient();
        var (path, payload) = transport == "http"
            ? ("/mcp", """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","clientInfo":{"name":"auth-spec","version":"1"},"capabilities":{}}}""")
            : ("/rpc", """{"jsonrpc":"2.0","id":1,"method":"capabilities.list","params":{}}""");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}{path}{query}")
        {
            Content = new StringContent(payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        foreach (var (k, v) in headers) request.Headers.TryAddWithoutValidation(k, v);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var responseHeaders = response.Headers.ToDictionary(h => h.Key, h => string.Join(", ", h.Value), StringComparer.OrdinalIgnoreCase);
        if (response.StatusCode == HttpStatusCode.OK) return new Refusal(200, null, new JsonObject(), responseHeaders);
        var json = JsonNode.Parse(text)!;
        var type = transport == "rpc" ? json["error"]!["data"]!["type"]!.GetValue<string>() : json["error_type"]!.GetValue<string>();
        return new Refusal((int)response.StatusCode, type, json, responseHeaders);
    }
}
