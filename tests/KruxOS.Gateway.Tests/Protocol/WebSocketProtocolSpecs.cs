using KruxOS.Testing;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

public sealed class WebSocketProtocolSpecs : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private string _token = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _token = await _gateway.CreateAgentAsync("ws-agent");
    }

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData("/mcp")]
    [InlineData("/")]
    [InlineData("/ws")]
    public async Task Should_serve_mcp_on_every_websocket_path_and_accept_the_mcp_subprotocol(string path)
    {
        await using var ws = await RawWebSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{_gateway.GatewayPort}{path}"), _token);
        Assert.Equal("mcp", ws.Socket.SubProtocol);
        await ws.InitializeAsync();
        var call = await ws.RequestAsync(1, "tools/call", new JsonObject { ["name"] = "system.time", ["arguments"] = new JsonObject() });
        var text = call["result"]!["content"]![0]!["text"]!.GetValue<string>();
        Assert.NotNull(JsonNode.Parse(text)!["unix_epoch_ms"]);
    }

    [Fact]
    public async Task Should_refuse_requests_before_initialize()
    {
        await using var ws = await RawWebSocket.ConnectAsync(_gateway.McpWs, _token);
        var r = await ws.RequestAsync(1, "tools/list");
        Assert.Contains("Session not initialized", r["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_answer_a_frame_that_is_not_json_rpc_with_a_parse_error_and_keep_the_session()
    {
        await using var ws = await RawWebSocket.ConnectAsync(_gateway.McpWs, _token);
        await ws.SendAsync("this is not json");
        var error = await ws.ReceiveAsync();
        Assert.Equal(-32700, error!["error"]!["code"]!.GetValue<int>());
        await ws.InitializeAsync();
        var list = await ws.RequestAsync(2, "tools/list");
        Assert.NotEmpty(list["result"]!["tools"]!.AsArray());
    }

    [Fact]
    public async Task Should_close_the_socket_with_a_clear_reason_when_a_message_exceeds_16_MiB()
    {
        await using var ws = await RawWebSocket.ConnectAsync(_gateway.McpWs, _token);
        var big = new string('x', 16 * 1024 * 1024 + 100);
        await ws.SendAsync($$$"""{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"{{{big}}}"}}""");
        Assert.Null(await ws.ReceiveAsync());
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, ws.Socket.CloseStatus);
        Assert.Contains("16777216", ws.Socket.CloseStatusDescription);
    }

    [Fact]
    public async Task Should_close_a_live_session_at_once_when_its_agent_is_revoked()
    {
        // arrange
        var token = await _gateway.CreateAgentAsync("to-revoke");
        await using var ws = await RawWebSocket.ConnectAsync(_gateway.McpWs, token);
        await ws.InitializeAsync();
        // act
        await _gateway.ControlAsync(ControlProtocol.Methods.AgentRevoke, new JsonObject { ["name"] = "to-revoke" });
        // assert
        Assert.Null(await ws.ReceiveAsync());
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, ws.Socket.CloseStatus);
        Assert.Contains("revoked", ws.Socket.CloseStatusDescription);
    }

    [Fact]
    public async Task Should_close_live_sessions_on_kill_but_let_the_same_token_reconnect()
    {
        var token = await _gateway.CreateAgentAsync("to-kill");
        await using (var ws = await RawWebSocket.ConnectAsync(_gateway.McpWs, token))
        {
            await ws.InitializeAsync();
            var killed = await _gateway.ControlAsync(ControlProtocol.Methods.Kill, new JsonObject { ["name"] = "to-kill" });
            Assert.Equal(1, killed["connections_closed"]!.GetValue<int>());
            Assert.Null(await ws.ReceiveAsync());
        }
        await using var again = await RawWebSocket.ConnectAsync(_gateway.McpWs, token);
        await again.InitializeAsync();
    }

    [Fact]
    public async Task Should_refuse_an_upgrade_from_a_foreign_origin()
    {
        var e = await Assert.ThrowsAsync<WebSocketException>(() => RawWebSocket.ConnectAsync(_gateway.McpWs, _token, origin: "https://evil.example"));
        Assert.Contains("403", e.Message);
        await using var ok = await RawWebSocket.ConnectAsync(_gateway.McpWs, _token, origin: $"http://127.0.0.1:{_gateway.GatewayPort}");
        await ok.InitializeAsync();
    }

    [Theory]
    [InlineData(null, "401")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", "401")]
    public async Task Should_refuse_an_upgrade_without_valid_credentials(string? token, string status)
    {
        var e = await Assert.ThrowsAsync<WebSocketException>(() => RawWebSocket.ConnectAsync(_gateway.McpWs, token));
        Assert.Contains(status, e.Message);
    }

    [Fact]
    public async Task Should_accept_the_token_in_the_query_and_refuse_a_mismatched_agent_name()
    {
        await using (var ok = await RawWebSocket.ConnectAsync(new Uri($"{_gateway.McpWs}?token={_token}&agent=ws-agent"), null))
            await ok.InitializeAsync();
        var e = await Assert.ThrowsAsync<WebSocketException>(() => RawWebSocket.ConnectAsync(new Uri($"{_gateway.McpWs}?token={_token}&agent=someone-else"), null));
        Assert.Contains("401", e.Message);
    }
}

public sealed class HttpSurfaceSpecs : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private string _token = null!;
    private readonly HttpClient _http = new();

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _token = await _gateway.CreateAgentAsync("http-agent");
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _gateway.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> PostRpc(string body, string? token)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_gateway.GatewayPort}/rpc") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        if (token is not null) req.Headers.Authorization = new("Bearer", token);
        var r = await _http.SendAsync(req);
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, string.IsNullOrEmpty(text) ? null : JsonNode.Parse(text));
    }

    [Fact]
    public async Task Should_list_describe_and_invoke_capabilities_over_json_rpc()
    {
        var (_, list) = await PostRpc("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list","params":{"category":"system"}}""", _token);
        var names = list!["result"]!["capabilities"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()).ToList();
        Assert.Equal(["system.health", "system.info", "system.metrics", "system.time"], names);

        var (_, describe) = await PostRpc("""{"jsonrpc":"2.0","id":2,"method":"capabilities.describe","params":{"name":"system.time"}}""", _token);
        Assert.Contains("instead", describe!["result"]!["when_to_use"]!.GetValue<string>());
        Assert.Equal("InvalidTimezone", describe["result"]!["errors"]![0]!["type"]!.GetValue<string>());

        var (_, invoke) = await PostRpc("""{"jsonrpc":"2.0","id":3,"method":"capabilities.invoke","params":{"capability":"system.time","arguments":{}}}""", _token);
        Assert.True(invoke!["result"]!["success"]!.GetValue<bool>());
        Assert.NotNull(invoke["result"]!["data"]!["utc"]);

        var (_, call) = await PostRpc("""{"jsonrpc":"2.0","id":4,"method":"capabilities.call","params":{"capability":"system.time","inputs":{"timezone":"Nowhere/Land"}}}""", _token);
        Assert.False(call!["result"]!["success"]!.GetValue<bool>());
        Assert.Equal("InvalidTimezone", call["result"]!["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_answer_batches_in_order_and_report_protocol_errors()
    {
        var (_, batch) = await PostRpc("""
            [{"jsonrpc":"2.0","id":"a","method":"session.create"},
             {"jsonrpc":"2.0","id":"b","method":"no.such.method"},
             {"jsonrpc":"2.0","id":"c","method":"capabilities.describe","params":{}},
             {"jsonrpc":"2.0","method":"capabilities.list"},
             {"id":"e","method":"capabilities.list"}]
            """, _token);
        var arr = batch!.AsArray();
        Assert.Equal(4, arr.Count); // the notification gets no response
        Assert.StartsWith("sess-", arr[0]!["result"]!["session_id"]!.GetValue<string>());
        Assert.Equal(-32601, arr[1]!["error"]!["code"]!.GetValue<int>());
        Assert.Equal(-32602, arr[2]!["error"]!["code"]!.GetValue<int>());
        Assert.Equal(-32600, arr[3]!["error"]!["code"]!.GetValue<int>());

        var (_, parse) = await PostRpc("{not json", _token);
        Assert.Equal(-32700, parse!["error"]!["code"]!.GetValue<int>());
    }

    [Fact]
    public async Task Should_use_explicit_sessions_and_expire_unknown_ones()
    {
        var (_, created) = await PostRpc("""{"jsonrpc":"2.0","id":1,"method":"session.create"}""", _token);
        var sid = created!["result"]!["session_id"]!.GetValue<string>();
        var (_, inSession) = await PostRpc($$$"""{"jsonrpc":"2.0","id":2,"method":"capabilities.invoke","params":{"capability":"agent.session","session_id":"{{{sid}}}"}}""", _token);
        Assert.Equal(sid, inSession!["result"]!["data"]!["session_id"]!.GetValue<string>());
        var (_, ended) = await PostRpc($$$"""{"jsonrpc":"2.0","id":3,"method":"session.end","params":{"session_id":"{{{sid}}}"}}""", _token);
        Assert.True(ended!["result"]!["ended"]!.GetValue<bool>());
        var (_, after) = await PostRpc($$$"""{"jsonrpc":"2.0","id":4,"method":"capabilities.invoke","params":{"capability":"system.time","session_id":"{{{sid}}}"}}""", _token);
        Assert.Equal("SessionExpired", after!["result"]!["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_refuse_bad_credentials_with_code_32003_and_rate_limit_repeated_failures()
    {
        var (status, body) = await PostRpc("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}""", null);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(-32003, body!["error"]!["code"]!.GetValue<int>());
        Assert.Equal("auth.invalid_credentials", body["error"]!["data"]!["type"]!.GetValue<string>());

        var bad = new string('f', 64);
        for (var i = 0; i < 9; i++) await PostRpc("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}""", bad);
        var (limited, limitedBody) = await PostRpc("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}""", bad);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited);
        Assert.Equal("auth.rate_limited", limitedBody!["error"]!["data"]!["type"]!.GetValue<string>());
        // the limit throttles failures only: a valid token from the same address is never locked out (ADR 0022)
        var (valid, _) = await PostRpc("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}""", _token);
        Assert.Equal(HttpStatusCode.OK, valid);
    }

    [Fact]
    public async Task Should_serve_health_only_on_the_health_port()
    {
        var health = await _http.GetAsync($"http://127.0.0.1:{_gateway.HealthPort}/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var body = await _gateway.HealthWhenHealthyAsync();
        Assert.True(body["status"]!.GetValue<string>() == "healthy", body.ToJsonString());
        Assert.Contains(body["services"]!.AsArray(), s => s!["name"]!.GetValue<string>() == "identity-store");
        Assert.NotNull(body["resources"]!["memory_total_bytes"]);
        var ready = JsonNode.Parse(await _http.GetStringAsync($"http://127.0.0.1:{_gateway.HealthPort}/health/ready"))!;
        Assert.True(ready["ready"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync($"http://127.0.0.1:{_gateway.GatewayPort}/health")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync($"http://127.0.0.1:{_gateway.UserApiPort}/health")).StatusCode);
    }

    [Fact]
    public async Task Should_serve_the_user_api_to_user_tokens_only()
    {
        var created = await _gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "ops" });
        var userToken = created["token"]!.GetValue<string>();
        async Task<HttpStatusCode> Get(int port, string path, string? token)
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{path}");
            if (token is not null) req.Headers.Authorization = new("Bearer", token);
            return (await _http.SendAsync(req)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await Get(_gateway.UserApiPort, "/api/status", userToken));
        Assert.Equal(HttpStatusCode.OK, await Get(_gateway.UserApiPort, "/api/agents", userToken));
        Assert.Equal(HttpStatusCode.Forbidden, await Get(_gateway.UserApiPort, "/api/status", _token));
        Assert.Equal(HttpStatusCode.Unauthorized, await Get(_gateway.UserApiPort, "/api/status", null));
        Assert.Equal(HttpStatusCode.NotFound, await Get(_gateway.GatewayPort, "/api/status", userToken));
        await _gateway.ControlAsync(ControlProtocol.Methods.UserTokenRevoke, new JsonObject { ["id"] = created["id"]!.GetValue<string>() });
        Assert.Equal(HttpStatusCode.Unauthorized, await Get(_gateway.UserApiPort, "/api/status", userToken));
    }

    [Fact]
    public async Task Should_refuse_streamable_http_requests_without_a_token()
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, _gateway.McpHttp)
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","clientInfo":{"name":"x","version":"1"},"capabilities":{}}}""",
                System.Text.Encoding.UTF8, "application/json"),
        };
        var r = await _http.SendAsync(req);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("auth.invalid_credentials", JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error_type"]!.GetValue<string>());
        Assert.Equal("Bearer", r.Headers.WwwAuthenticate.ToString());
    }
}
