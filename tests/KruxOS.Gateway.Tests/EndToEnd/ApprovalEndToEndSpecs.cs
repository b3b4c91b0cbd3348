using KruxOS.Testing;
using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// Approvals over real sockets: the Node MCP SDK client holds on a call that the agent's policy file makes
/// <c>approval_required</c>, the real <c>kruxos approve</c> CLI decides it, the User API and <c>/rpc</c> see the same queue.
/// </summary>
public sealed class ApprovalEndToEndSpecs
{
    private const string Agent = "bot";
    private const string Tool = "system__time";

    private static Task<TestGateway> StartAsync(params string[] extraArgs) =>
        TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-approval-e2e-", Agent), extraArgs);

    private static Task<JsonObject> CallAsync(TestGateway gateway, string token, string args, params string[] extra) =>
        NodeClients.RunAsync(token, ["--transport", "ws", "--url", gateway.McpWs.ToString(), "--call", Tool, args, .. extra]);

    private static async Task<JsonArray> ListAsync(TestGateway gateway, string status = "pending") =>
        (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = status }))["approvals"]!.AsArray();

    /// <summary>Waits until <paramref name="count"/> approvals are pending (or fails after the call timeout).</summary>
    private static async Task<JsonArray> PendingAsync(TestGateway gateway, int count, Task? mustStillRun = null)
    {
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Process;
        while (DateTimeOffset.UtcNow < deadline)
        {
            var pending = await ListAsync(gateway);
            if (pending.Count >= count)
            {
                Assert.Equal(count, pending.Count);
                return pending;
            }
            if (mustStillRun is { IsCompleted: true }) Assert.Fail($"the held call finished before it was decided: {((Task<JsonObject>)mustStillRun).Result.ToJsonString()}");
            await Task.Delay(100);
        }
        throw new TimeoutException($"{count} pending approval(s) never appeared");
    }

    private static string Id(JsonNode? approval) => approval!["id"]!.GetValue<string>();

    // A User API client with a fresh operator token (only operator credentials decide approvals).
    private static async Task<HttpClient> UserApiAsync(TestGateway gateway)
    {
        var userToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "ops", ["role"] = "operator" }))["token"]!.GetValue<string>();
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.UserApiPort}") };
        http.DefaultRequestHeaders.Authorization = new("Bearer", userToken);
        return http;
    }

    // system.time over /rpc, held for approval (-32002): returns the approval id.
    private static async Task<string> HeldRpcCallAsync(TestGateway gateway, string token, string timezone)
    {
        using var rpc = new HttpClient();
        rpc.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = timezone } },
        }.ToJsonString();
        using var r = await rpc.PostAsync($"http://127.0.0.1:{gateway.GatewayPort}/rpc", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var json = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.Equal(-32002, json["error"]!["code"]!.GetValue<int>());
        return json["error"]!["data"]!["request_id"]!.GetValue<string>();
    }

    private static JsonNode SingleResult(JsonObject session)
    {
        Assert.True(session["connected"]!.GetValue<bool>(), session.ToJsonString());
        return Assert.Single(session["results"]!.AsArray())!;
    }

    [Fact]
    public async Task Should_hold_a_tools_call_until_kruxos_approve_accept_then_return_the_real_result()
    {
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);

        var call = CallAsync(gateway, token, """{"timezone":"Europe/Berlin"}""");
        var pending = await PendingAsync(gateway, 1, call);
        Assert.False(call.IsCompleted);

        var listed = await ProcessRunner.Kruxos(gateway, "approve", "list", "--json");
        Assert.Equal(0, listed.ExitCode);
        var approvals = JsonNode.Parse(listed.StdOut)!["approvals"]!.AsArray();
        var shown = Assert.Single(approvals)!;
        Assert.Equal(Id(pending[0]!), Id(shown));
        Assert.Equal(Agent, shown["agent"]!.GetValue<string>());
        Assert.Equal("system.time", shown["capability"]!.GetValue<string>());
        Assert.Equal("Europe/Berlin", shown["arguments"]!["timezone"]!.GetValue<string>());
        var table = await ProcessRunner.Kruxos(gateway, "approve", "list");
        Assert.Contains(Id(shown), table.StdOut);

        var accepted = await ProcessRunner.Kruxos(gateway, "approve", "accept", Id(shown));
        Assert.Equal(0, accepted.ExitCode);
        Assert.Matches($"Approval {Id(shown)} is now (approved|consumed)", accepted.StdOut);

        var result = SingleResult(await call);
        Assert.False(result["isError"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal("Europe/Berlin", result["body"]!["timezone"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(result["body"]!["utc"]!.GetValue<string>()) > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Empty(await ListAsync(gateway));
        Assert.Equal("consumed", (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = Id(shown) }))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_fail_a_held_call_with_ApprovalRejected_and_the_reason_when_rejected_with_the_cli()
    {
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);

        var call = CallAsync(gateway, token, """{"timezone":"UTC"}""");
        var pending = await PendingAsync(gateway, 1, call);
        var rejected = await ProcessRunner.Kruxos(gateway, "approve", "reject", Id(pending[0]!), "--reason", "not during the freeze");
        Assert.Equal(0, rejected.ExitCode);

        var result = SingleResult(await call);
        Assert.True(result["isError"]!.GetValue<bool>());
        Assert.Equal("ApprovalRejected", result["body"]!["error"]!.GetValue<string>());
        Assert.Equal("not during the freeze", result["body"]!["context"]!["reason"]!.GetValue<string>());
        Assert.Equal(Id(pending[0]!), result["body"]!["context"]!["request_id"]!.GetValue<string>());

        // a late accept is a conflict, not a second decision
        var late = await ProcessRunner.Kruxos(gateway, "approve", "accept", Id(pending[0]!));
        Assert.NotEqual(0, late.ExitCode);
        Assert.Equal("rejected", (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = Id(pending[0]!) }))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_fail_a_held_call_with_ApprovalTimedOut_when_nobody_decides_before_the_hold_timeout()
    {
        await using var gateway = await StartAsync("--KruxOS:ApprovalHoldTimeout=00:00:03");
        var token = await gateway.CreateAgentAsync(Agent);

        var result = SingleResult(await CallAsync(gateway, token, """{"timezone":"UTC"}"""));

        Assert.True(result["isError"]!.GetValue<bool>());
        Assert.Equal("ApprovalTimedOut", result["body"]!["error"]!.GetValue<string>());
        var all = await ListAsync(gateway, "all");
        Assert.Equal("timed_out", Assert.Single(all)!["status"]!.GetValue<string>());
        Assert.Empty(await ListAsync(gateway));
    }

    [Fact]
    public async Task Should_give_a_grant_to_the_identical_retry_only_never_to_a_call_with_changed_arguments()
    {
        await using var gateway = await StartAsync("--KruxOS:ApprovalHoldTimeout=00:00:04");
        var token = await gateway.CreateAgentAsync(Agent);

        // the first caller gives up while held: its request stays pending and is approved with nobody waiting
        var abandoned = SingleResult(await CallAsync(gateway, token, """{"timezone":"Asia/Tokyo"}""", "--timeout", "1500"));
        Assert.NotNull(abandoned["error"]);
        var pending = await PendingAsync(gateway, 1);
        var approved = await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = Id(pending[0]!) });
        Assert.Equal("approved", approved["status"]!.GetValue<string>());

        // changed arguments: a new request of its own (which times out), not the grant
        var changed = SingleResult(await CallAsync(gateway, token, """{"timezone":"Europe/Paris"}"""));
        Assert.Equal("ApprovalTimedOut", changed["body"]!["error"]!.GetValue<string>());
        Assert.NotEqual(Id(pending[0]!), changed["body"]!["context"]!["request_id"]!.GetValue<string>());
        Assert.Equal("approved", (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = Id(pending[0]!) }))["status"]!.GetValue<string>());

        // the identical retry spends the grant and runs at once
        var retry = SingleResult(await CallAsync(gateway, token, """{"timezone":"Asia/Tokyo"}"""));
        Assert.False(retry["isError"]!.GetValue<bool>(), retry.ToJsonString());
        Assert.Equal("Asia/Tokyo", retry["body"]!["timezone"]!.GetValue<string>());
        Assert.Equal("consumed", (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = Id(pending[0]!) }))["status"]!.GetValue<string>());

        // and only once: the next identical call asks again (and times out)
        var again = SingleResult(await CallAsync(gateway, token, """{"timezone":"Asia/Tokyo"}"""));
        Assert.Equal("ApprovalTimedOut", again["body"]!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_list_approve_and_reject_over_the_user_api_with_404_and_409()
    {
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);
        using var http = await UserApiAsync(gateway);
        var first = await HeldRpcCallAsync(gateway, token, "UTC");
        var second = await HeldRpcCallAsync(gateway, token, "Europe/Berlin");

        using var list = await http.GetAsync("/api/approvals");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var ids = JsonNode.Parse(await list.Content.ReadAsStringAsync())!["approvals"]!.AsArray().Select(Id).ToHashSet();
        Assert.Equal([first, second], ids);

        using var approve = await http.PostAsync($"/api/approvals/{first}/approve", null);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        var approvedBody = JsonNode.Parse(await approve.Content.ReadAsStringAsync())!;
        Assert.Equal("approved", approvedBody["status"]!.GetValue<string>());
        Assert.Equal("user:ops", approvedBody["decided_by"]!.GetValue<string>());

        using var reject = await http.PostAsync($"/api/approvals/{second}/reject", new StringContent("""{"reason":"no"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, reject.StatusCode);

        using var again = await http.PostAsync($"/api/approvals/{second}/approve", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("rejected", JsonNode.Parse(await again.Content.ReadAsStringAsync())!["status"]!.GetValue<string>());
        using var missing = await http.PostAsync("/api/approvals/appr-0000000000000000/approve", null);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var missingShow = await http.GetAsync("/api/approvals/appr-nope");
        Assert.Equal(HttpStatusCode.NotFound, missingShow.StatusCode);

        // the audit log links both requests to their resolutions by approval_request_id
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Call;
        List<JsonObject> entries;
        while (true)
        {
            using var audit = await http.GetAsync("/api/audit?limit=100");
            Assert.Equal(HttpStatusCode.OK, audit.StatusCode);
            entries = [.. JsonNode.Parse(await audit.Content.ReadAsStringAsync())!["entries"]!.AsArray().Select(e => e!.AsObject())];
            if (entries.Count(e => e["kind"]!.GetValue<string>() == "approval_resolution") == 2 || DateTimeOffset.UtcNow > deadline) break;
            await Task.Delay(100);
        }
        string? Meta(JsonObject e, string key) => e["metadata"]?[key]?.GetValue<string>();
        foreach (var (requestId, decision) in new[] { (first, "approved"), (second, "rejected") })
        {
            Assert.Single(entries, e => e["kind"]!.GetValue<string>() == "call" && e["result"]!["status"]!.GetValue<string>() == "pending"
                                        && Meta(e, "approval_request_id") == requestId);
            var resolution = Assert.Single(entries, e => e["kind"]!.GetValue<string>() == "approval_resolution" && Meta(e, "approval_request_id") == requestId);
            Assert.Equal(decision, Meta(resolution, "approval_decision"));
            Assert.Equal("user:ops", Meta(resolution, "decided_by"));
        }

        using var agentToken = new HttpRequestMessage(HttpMethod.Get, "/api/approvals");
        agentToken.Headers.Authorization = new("Bearer", token);
        using var refused = await http.SendAsync(agentToken);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task Should_record_the_default_reason_when_the_user_api_rejects_without_one()
    {
        // arrange: two held calls, polled over /rpc
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);
        using var http = await UserApiAsync(gateway);
        List<string> ids = [await HeldRpcCallAsync(gateway, token, "UTC"), await HeldRpcCallAsync(gateway, token, "Europe/Paris")];

        // act: reject one with no body, the other with a blank reason
        using var noBody = await http.PostAsync($"/api/approvals/{ids[0]}/reject", null);
        using var blank = await http.PostAsync($"/api/approvals/{ids[1]}/reject", new StringContent("""{"reason":"   "}""", System.Text.Encoding.UTF8, "application/json"));

        // assert: spec §4.1's default reason is what the audit log records
        Assert.Equal(HttpStatusCode.OK, noBody.StatusCode);
        Assert.Equal(HttpStatusCode.OK, blank.StatusCode);
        var entries = JsonNode.Parse(await http.GetStringAsync("/api/audit?status=rejected&limit=100"))!["entries"]!.AsArray()
            .Where(e => e!["kind"]!.GetValue<string>() == "approval_resolution").ToList();
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e =>
        {
            Assert.Equal("Rejected by dashboard admin", e!["policy_decision"]!["reason"]!.GetValue<string>());
            Assert.Equal("Rejected by dashboard admin", e["result"]!["summary"]!.GetValue<string>());
        });
    }

    [Fact]
    public async Task Should_answer_rpc_calls_with_32002_at_once_and_report_the_decision_through_approvals_check()
    {
        await using var gateway = await StartAsync();
        var token = await gateway.CreateAgentAsync(Agent);
        var otherToken = await gateway.CreateAgentAsync("other");
        using var rpc = new HttpClient();
        async Task<JsonNode> PostAsync(string body, string bearer)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc")
            {
                Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
            };
            req.Headers.Authorization = new("Bearer", bearer);
            using var r = await rpc.SendAsync(req);
            return JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        }
        const string invoke = """{"jsonrpc":"2.0","id":7,"method":"capabilities.invoke","params":{"capability":"system.time","arguments":{"timezone":"UTC"}}}""";
        static string Check(string id) => new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 8, ["method"] = "approvals.check", ["params"] = new JsonObject { ["request_id"] = id },
        }.ToJsonString();

        var held = await PostAsync(invoke, token);
        Assert.Equal(-32002, held["error"]!["code"]!.GetValue<int>());
        Assert.Equal("ApprovalPending", held["error"]!["data"]!["type"]!.GetValue<string>());
        var id = held["error"]!["data"]!["request_id"]!.GetValue<string>();

        // an identical call while pending joins the same request
        var joined = await PostAsync(invoke, token);
        Assert.Equal(id, joined["error"]!["data"]!["request_id"]!.GetValue<string>());

        Assert.Equal("pending", (await PostAsync(Check(id), token))["result"]!["status"]!.GetValue<string>());
        Assert.Equal("not_found", (await PostAsync(Check(id), otherToken))["result"]!["status"]!.GetValue<string>());
        Assert.Equal(-32602, (await PostAsync(Check("bogus"), token))["error"]!["code"]!.GetValue<int>());

        await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id, ["reason"] = "fine" });
        var decided = (await PostAsync(Check(id), token))["result"]!;
        Assert.Equal("approved", decided["status"]!.GetValue<string>());
        Assert.Equal("fine", decided["reason"]!.GetValue<string>());

        var ran = await PostAsync(invoke, token);
        Assert.True(ran["result"]!["success"]!.GetValue<bool>(), ran.ToJsonString());
        Assert.Equal("consumed", (await PostAsync(Check(id), token))["result"]!["status"]!.GetValue<string>());
    }
}
