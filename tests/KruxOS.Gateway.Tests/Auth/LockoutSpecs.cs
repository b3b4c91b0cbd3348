using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Auth;

/// <summary>
/// The per-address failure limit (issue 14, item 11). Every local client shares 127.0.0.1, so the limit must never
/// refuse a valid credential: a local program that floods bad tokens — a misbehaving client, or an agent's process
/// guessing — keeps getting <c>auth.rate_limited</c>, while valid agent tokens, user tokens and minted credentials from
/// the same address still connect over MCP and the User API.
/// </summary>
public sealed class LockoutSpecs
{
    private static HttpRequestMessage Rpc(TestGateway gateway, string token)
    {
        var r = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}""", Encoding.UTF8, "application/json"),
        };
        r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return r;
    }

    private static async Task<WebSocketState> ConnectMcpAsync(TestGateway gateway, string token)
    {
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
        ws.Options.AddSubProtocol("mcp");
        ws.Options.CollectHttpResponseDetails = true;
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        try { await ws.ConnectAsync(gateway.McpWs, cts.Token); }
        catch (WebSocketException e) { Assert.Fail($"the MCP upgrade was refused ({ws.HttpStatusCode}): {e.Message}"); }
        // initialize: the session really works, not only the handshake
        var init = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"lockout-spec","version":"1"}}}""";
        await ws.SendAsync(Encoding.UTF8.GetBytes(init), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[64 * 1024];
        var got = await ws.ReceiveAsync(buffer, cts.Token);
        Assert.Contains("\"serverInfo\"", Encoding.UTF8.GetString(buffer, 0, got.Count));
        var state = ws.State;
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        return state;
    }

    [Fact]
    public async Task Should_keep_valid_agent_and_user_credentials_working_while_a_flood_of_bad_tokens_from_loopback_is_rate_limited()
    {
        await using var gateway = await TestGateway.StartAsync();
        var agent = await gateway.CreateAgentAsync("builder");
        var user = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "claude-code" }))["token"]!.GetValue<string>();
        using var http = new HttpClient();

        // act 1: a local program loops over bad tokens of every shape (agent-shaped, user-shaped, minted-shaped)
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3 * Core.Errors.Errors.AuthFailuresPerMinute; i++)
        {
            var bad = (i % 3) switch
            {
                0 => TokenHashing.NewAgentToken(),
                1 => TokenHashing.NewUserToken(),
                _ => TokenHashing.NewSessionToken(),
            };
            using var r = await http.SendAsync(Rpc(gateway, bad));
            statuses.Add(r.StatusCode);
        }

        // assert 1: the guesser is throttled as before — auth.rate_limited with a Retry-After
        Assert.Equal(Core.Errors.Errors.AuthFailuresPerMinute, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.All(statuses.Skip(Core.Errors.Errors.AuthFailuresPerMinute), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        using (var limited = await http.SendAsync(Rpc(gateway, TokenHashing.NewAgentToken())))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.Contains("auth.rate_limited", await limited.Content.ReadAsStringAsync());
        }
        using (var limitedUserApi = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{gateway.UserApiPort}/api/user/whoami"))
        {
            limitedUserApi.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TokenHashing.NewUserToken());
            using var answer = await http.SendAsync(limitedUserApi);
            Assert.Equal(HttpStatusCode.TooManyRequests, answer.StatusCode);
            Assert.NotNull(answer.Headers.RetryAfter);
        }

        // act 2 / assert 2: valid credentials from the same address are never refused by the limit
        Assert.Equal(WebSocketState.Open, await ConnectMcpAsync(gateway, agent));
        Assert.Equal(WebSocketState.Open, await ConnectMcpAsync(gateway, user));
        var minted = await AuthSocketClient.MintAsync(gateway.AuthSocket, "claude-code", TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(WebSocketState.Open, await ConnectMcpAsync(gateway, minted.Token!));
        using (var rpc = await http.SendAsync(Rpc(gateway, agent)))
            Assert.Equal(HttpStatusCode.OK, rpc.StatusCode);
        using (var whoami = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{gateway.UserApiPort}/api/user/whoami"))
        {
            whoami.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user);
            using var answer = await http.SendAsync(whoami);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        // and the guesser is still limited afterwards, on every surface
        using (var stillLimited = await http.SendAsync(Rpc(gateway, TokenHashing.NewUserToken())))
            Assert.Equal(HttpStatusCode.TooManyRequests, stillLimited.StatusCode);
        using var badWs = new ClientWebSocket();
        badWs.Options.SetRequestHeader("Authorization", "Bearer " + TokenHashing.NewAgentToken());
        badWs.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAnyAsync<WebSocketException>(() => badWs.ConnectAsync(gateway.McpWs, CancellationToken.None));
        Assert.Equal(HttpStatusCode.TooManyRequests, badWs.HttpStatusCode);
    }
}
