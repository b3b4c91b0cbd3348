using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>Revoking an agent (or killing its sessions) ends its live Streamable HTTP sessions at once, as it closes WebSockets.</summary>
public sealed class StreamableHttpRevocationSpecs
{
    [Fact]
    public async Task Should_end_a_live_streamable_http_session_at_once_when_its_agent_is_revoked()
    {
        // arrange: an initialized HTTP session with its server event stream (GET) open
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("http-revoked");
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var init = await PostAsync(http, gateway, token, null,
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","clientInfo":{"name":"revoke-spec","version":"1"},"capabilities":{}}}""");
        Assert.Equal(HttpStatusCode.OK, init.StatusCode);
        var sessionId = init.Headers.GetValues("Mcp-Session-Id").Single();
        using (var initialized = await PostAsync(http, gateway, token, sessionId, """{"jsonrpc":"2.0","method":"notifications/initialized"}"""))
            Assert.True(initialized.IsSuccessStatusCode, initialized.StatusCode.ToString());

        using var get = new HttpRequestMessage(HttpMethod.Get, gateway.McpHttp);
        get.Headers.Authorization = new("Bearer", token);
        get.Headers.Accept.ParseAdd("text/event-stream");
        get.Headers.Add("Mcp-Session-Id", sessionId);
        using var stream = await http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        var events = await stream.Content.ReadAsStreamAsync();
        var drained = DrainAsync(events);
        await Eventually(async () => (await gateway.ControlAsync(ControlProtocol.Methods.Status))["active_sessions"]!.GetValue<int>() == 1);

        // act
        await gateway.ControlAsync(ControlProtocol.Methods.AgentRevoke, new JsonObject { ["name"] = "http-revoked" });

        // assert: the server ends the event stream and forgets the connection; the session's next request is refused
        await drained.WaitAsync(TestTimeouts.Call);
        await Eventually(async () => (await gateway.ControlAsync(ControlProtocol.Methods.Status))["active_sessions"]!.GetValue<int>() == 0);
        using var after = await PostAsync(http, gateway, token, sessionId, """{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""");
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Equal("auth.agent_revoked", JsonNode.Parse(await after.Content.ReadAsStringAsync())!["error_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_answer_404_for_a_killed_session_so_the_client_starts_a_new_one_with_the_same_token()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("http-killed");
        using var http = new HttpClient { Timeout = TestTimeouts.Call };
        const string initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","clientInfo":{"name":"kill-spec","version":"1"},"capabilities":{}}}""";
        using var init = await PostAsync(http, gateway, token, null, initialize);
        var sessionId = init.Headers.GetValues("Mcp-Session-Id").Single();
        using (var initialized = await PostAsync(http, gateway, token, sessionId, """{"jsonrpc":"2.0","method":"notifications/initialized"}"""))
            Assert.True(initialized.IsSuccessStatusCode);

        // act
        var killed = await gateway.ControlAsync(ControlProtocol.Methods.Kill, new JsonObject { ["name"] = "http-killed" });

        // assert: the old session is gone (404, not a request that hangs), a new one works with the same token
        Assert.Equal(1, killed["connections_closed"]!.GetValue<int>());
        using var stale = await PostAsync(http, gateway, token, sessionId, """{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""");
        Assert.Equal(HttpStatusCode.NotFound, stale.StatusCode);
        Assert.Equal("SessionExpired", JsonNode.Parse(await stale.Content.ReadAsStringAsync())!["error_type"]!.GetValue<string>());
        using var again = await PostAsync(http, gateway, token, null, initialize);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.NotEqual(sessionId, again.Headers.GetValues("Mcp-Session-Id").Single());
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, TestGateway gateway, string token, string? sessionId, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpHttp) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", token);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (sessionId is not null) request.Headers.Add("Mcp-Session-Id", sessionId);
        var response = await http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    // Reads the event stream until the server ends it (or breaks it off).
    private static async Task DrainAsync(Stream events)
    {
        var buffer = new byte[4096];
        try { while (await events.ReadAsync(buffer) > 0) { } }
        catch (IOException) { }
        catch (HttpRequestException) { }
    }

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Call;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(100);
        }
    }
}
