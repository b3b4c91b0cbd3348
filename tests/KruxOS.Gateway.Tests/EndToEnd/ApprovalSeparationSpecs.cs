using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// Separation of duties over the real sockets, as an AI client would attack it (issue 14, item 3): a call held for
/// the user token an AI client holds — directly, or through a credential minted for it over the auth socket, which is
/// what mcp-bridge and cli-hook present — cannot be approved with that token, with any credential minted for it, or
/// with any other client token; an operator token or the control socket can, and the audit log's resolution entry
/// names who decided, with which credential, role and surface.
/// </summary>
public sealed class ApprovalSeparationSpecs
{
    private static async Task<TestGateway> StartAsync()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-sod-e2e-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "user.yaml"), TestPolicies.HoldSystemTime);
        return await TestGateway.StartAsync(dataDir);
    }

    private static async Task<string> UserTokenAsync(TestGateway gateway, string label, string? role = null)
    {
        var p = new JsonObject { ["label"] = label };
        if (role is not null) p["role"] = role;
        return (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, p))["token"]!.GetValue<string>();
    }

    private static async Task<string> MintAsync(TestGateway gateway, string label)
    {
        var answer = await AuthSocketClient.MintAsync(gateway.AuthSocket, label, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(answer.Token is not null, $"{answer.ErrorType}: {answer.Message}");
        return answer.Token!;
    }

    private static HttpRequestMessage Request(HttpMethod method, string url, string credential, string? body = null)
    {
        var r = new HttpRequestMessage(method, url);
        r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        if (body is not null) r.Content = new StringContent(body, Encoding.UTF8, "application/json");
        return r;
    }

    // system.time over /rpc with the credential: held for approval (-32002), answered at once with the approval id.
    private static async Task<string> HeldRpcCallAsync(HttpClient http, TestGateway gateway, string credential, string timezone)
    {
        using var r = await http.SendAsync(Request(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc", credential,
            new JsonObject
            {
                ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
                ["params"] = new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = timezone } },
            }.ToJsonString()));
        var json = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.True(json["error"]?["code"]?.GetValue<int>() == -32002, json.ToJsonString());
        return json["error"]!["data"]!["request_id"]!.GetValue<string>();
    }

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> DecideAsync(HttpClient http, TestGateway gateway, string credential, string id, string verb = "approve")
    {
        using var r = await http.SendAsync(Request(HttpMethod.Post, $"http://127.0.0.1:{gateway.UserApiPort}/api/approvals/{id}/{verb}", credential));
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static async Task<string> StatusAsync(TestGateway gateway, string id) =>
        (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id }))["status"]!.GetValue<string>();

    private static async Task<JsonObject> ResolutionAsync(HttpClient http, TestGateway gateway, string operatorToken, string id)
    {
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Call;
        while (true)
        {
            using var r = await http.SendAsync(Request(HttpMethod.Get, $"http://127.0.0.1:{gateway.UserApiPort}/api/audit?limit=200", operatorToken));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var entry = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["entries"]!.AsArray().Select(e => e!.AsObject())
                .FirstOrDefault(e => e["kind"]!.GetValue<string>() == "approval_resolution" && e["metadata"]?["approval_request_id"]?.GetValue<string>() == id);
            if (entry is not null) return entry;
            if (DateTimeOffset.UtcNow > deadline) throw new TimeoutException($"no approval_resolution entry for {id}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Should_not_let_the_requesting_client_token_or_a_credential_minted_for_it_approve_its_own_held_call()
    {
        await using var gateway = await StartAsync();
        using var http = new HttpClient();
        var client = await UserTokenAsync(gateway, "claude-code");                 // what `kruxos user-token create claude-code` gives
        var minted = await MintAsync(gateway, "claude-code");                      // what mcp-bridge / cli-hook present
        var operatorToken = await UserTokenAsync(gateway, "ops", "operator");

        // the AI client asks, through its minted credential and through the raw token
        var viaMinted = await HeldRpcCallAsync(http, gateway, minted, "UTC");
        var viaToken = await HeldRpcCallAsync(http, gateway, client, "Europe/Berlin");

        // act: the model's own shell tries to approve what it asked for, with everything it could hold
        foreach (var id in new[] { viaMinted, viaToken })
        {
            var (byToken, tokenBody) = await DecideAsync(http, gateway, client, id);
            Assert.True(byToken == HttpStatusCode.Forbidden, $"the requester's own token decided {id}: {byToken} {tokenBody?.ToJsonString()}");
            Assert.Equal("Forbidden", tokenBody!["error_type"]!.GetValue<string>());
            var (rejectByToken, _) = await DecideAsync(http, gateway, client, id, "reject");
            Assert.Equal(HttpStatusCode.Forbidden, rejectByToken);
            var (byMinted, mintedBody) = await DecideAsync(http, gateway, await MintAsync(gateway, "claude-code"), id);
            Assert.True(byMinted == HttpStatusCode.Forbidden, $"a minted credential decided {id}: {byMinted} {mintedBody?.ToJsonString()}");
            Assert.Equal("pending", await StatusAsync(gateway, id));
        }

        // an operator token decides, and the audit log says who, with which credential, role and surface
        var (approved, approvedBody) = await DecideAsync(http, gateway, operatorToken, viaMinted);
        Assert.True(approved == HttpStatusCode.OK, approvedBody?.ToJsonString());
        Assert.Equal("user:ops", approvedBody!["decided_by"]!.GetValue<string>());
        Assert.Equal("operator", approvedBody["decider"]!["role"]!.GetValue<string>());
        var resolution = await ResolutionAsync(http, gateway, operatorToken, viaMinted);
        Assert.Equal("approved", resolution["metadata"]!["approval_decision"]!.GetValue<string>());
        Assert.Equal("user:ops", resolution["metadata"]!["decided_by"]!.GetValue<string>());
        var decider = resolution["metadata"]!["details"]!["decider"]!;
        Assert.Equal("ops", decider["name"]!.GetValue<string>());
        Assert.Equal("user_token", decider["credential_type"]!.GetValue<string>());
        Assert.Equal("operator", decider["role"]!.GetValue<string>());
        Assert.Equal("user_api", decider["surface"]!.GetValue<string>());
        Assert.Equal("user:claude-code", resolution["actor"]!["type"]!.GetValue<string>() + ":" + resolution["actor"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_not_let_any_client_token_decide_even_a_call_it_did_not_request()
    {
        await using var gateway = await StartAsync();
        using var http = new HttpClient();
        var requester = await UserTokenAsync(gateway, "claude-code");
        var otherClient = await UserTokenAsync(gateway, "primary");                  // e.g. Codex's token on the same desktop
        var id = await HeldRpcCallAsync(http, gateway, requester, "UTC");

        var (approve, body) = await DecideAsync(http, gateway, otherClient, id);
        var (reject, _) = await DecideAsync(http, gateway, otherClient, id, "reject");

        Assert.True(approve == HttpStatusCode.Forbidden, body?.ToJsonString());
        Assert.Contains("client credential", body!["message"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, reject);
        Assert.Equal("pending", await StatusAsync(gateway, id));
    }

    [Fact]
    public async Task Should_let_the_control_socket_decide_and_name_it_in_the_audit()
    {
        await using var gateway = await StartAsync();
        using var http = new HttpClient();
        var client = await UserTokenAsync(gateway, "claude-code");
        var operatorToken = await UserTokenAsync(gateway, "ops", "operator");
        var id = await HeldRpcCallAsync(http, gateway, await MintAsync(gateway, "claude-code"), "UTC");

        var rejected = await ProcessRunner.Kruxos(gateway, "approve", "reject", id, "--reason", "not now");

        Assert.True(rejected.ExitCode == 0, rejected.StdErr);
        Assert.Equal("rejected", await StatusAsync(gateway, id));
        var resolution = await ResolutionAsync(http, gateway, operatorToken, id);
        Assert.EndsWith("cli:root", resolution["metadata"]!["decided_by"]!.GetValue<string>());
        var decider = resolution["metadata"]!["details"]!["decider"]!;
        Assert.Equal("control_socket", decider["surface"]!.GetValue<string>());
        Assert.Equal("peer_uid", decider["credential_type"]!.GetValue<string>());
        Assert.Equal("operator", decider["role"]!.GetValue<string>());
        Assert.Equal("root", decider["name"]!.GetValue<string>());

        // and the requester's token still cannot undo it
        Assert.Equal(HttpStatusCode.Forbidden, (await DecideAsync(http, gateway, client, id)).Status);
    }

    [Fact]
    public async Task Should_refuse_an_operator_token_on_every_call_surface_so_no_ai_client_can_hold_one()
    {
        await using var gateway = await StartAsync();
        using var http = new HttpClient();
        var operatorToken = await UserTokenAsync(gateway, "ops", "operator");

        using var rpc = await http.SendAsync(Request(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc", operatorToken,
            """{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}"""));
        using var hook = await http.SendAsync(Request(HttpMethod.Post, $"http://127.0.0.1:{gateway.UserApiPort}/api/hook/decide", operatorToken,
            """{"client":"claude-code","native_tool":"Read","capability":"system.time","arguments":{}}"""));
        using var ws = new System.Net.WebSockets.ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", "Bearer " + operatorToken);
        ws.Options.AddSubProtocol("mcp");
        ws.Options.CollectHttpResponseDetails = true;
        var upgrade = await Record.ExceptionAsync(() => ws.ConnectAsync(gateway.McpWs, CancellationToken.None));
        var mint = await AuthSocketClient.MintAsync(gateway.AuthSocket, "ops", TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(HttpStatusCode.Forbidden, rpc.StatusCode);
        Assert.Contains("auth.role_forbidden", await rpc.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, hook.StatusCode);
        Assert.Contains("auth.role_forbidden", await hook.Content.ReadAsStringAsync());
        Assert.NotNull(upgrade);
        Assert.Equal(HttpStatusCode.Forbidden, ws.HttpStatusCode);
        Assert.Null(mint.Token);
        Assert.Equal(AuthSocketProtocol.ErrorTypes.Locked, mint.ErrorType);
    }

    [Fact]
    public async Task Should_create_client_tokens_by_default_and_operator_tokens_only_when_asked()
    {
        await using var gateway = await StartAsync();

        var created = await ProcessRunner.Kruxos(gateway, "user-token", "create", "claude-code", "--json");
        var op = await ProcessRunner.Kruxos(gateway, "user-token", "create", "ops", "--role", "operator", "--json");
        var bad = await ProcessRunner.Kruxos(gateway, "user-token", "create", "x", "--role", "root");
        var listed = await ProcessRunner.Kruxos(gateway, "user-token", "list");

        Assert.True(created.ExitCode == 0, created.StdErr);
        Assert.Equal("client", JsonNode.Parse(created.StdOut)!["role"]!.GetValue<string>());
        Assert.True(op.ExitCode == 0, op.StdErr);
        Assert.Equal("operator", JsonNode.Parse(op.StdOut)!["role"]!.GetValue<string>());
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("ROLE", listed.StdOut);
        Assert.Contains("operator", listed.StdOut);
    }
}
