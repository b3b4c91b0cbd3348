using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Actors.Policy;
using KruxOS.CliHook.Tests.Support;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.CliHook.Tests.EndToEnd;

/// <summary>
/// The real <c>cli-hook</c> process, fed recorded client events on stdin, against a real in-process gateway on
/// runtime-chosen loopback ports with a user token: decisions come from the user's policy, approvals go through
/// the one approval queue and are decided with the real <c>kruxos approve</c> CLI, and the audit log records
/// each decision with the client's attribution and the native tool.
/// </summary>
public sealed partial class HookGatewaySpecs
{
    private const string UserPolicy = """
        rules:
          - capability: filesystem.read
            tier: autonomous
          - capability: filesystem.delete
            tier: blocked
            reason: nothing is deleted from a host CLI
          - capability: filesystem.write
            tier: approval_required
            reason: a human reads every write
        network:
          allowed_domains:
            - docs.example.com
        """;

    private static string HookDll => Path.Combine(AppContext.BaseDirectory, "cli-hook.dll");

    private static async Task<(TestGateway Gateway, string Token)> StartAsync()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-hook-e2e-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "user.yaml"), UserPolicy);
        var gateway = await TestGateway.StartAsync(dataDir);
        var created = await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "laptop" });
        return (gateway, created["token"]!.GetValue<string>());
    }

    private static Task<ProcessResult> HookAsync(TestGateway gateway, string token, string cli, string stdin) =>
        ProcessRunner.RunAsync("dotnet", [HookDll, "--cli", cli, "--gateway", $"http://127.0.0.1:{gateway.UserApiPort}"],
            new Dictionary<string, string> { ["KRUXOS_USER_TOKEN"] = token }, stdin: stdin, timeout: TestTimeouts.Call);

    private static JsonNode Output(ProcessResult r)
    {
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        return JsonNode.Parse(r.StdOut)!["hookSpecificOutput"]!;
    }

    private static string Decision(ProcessResult r) => Output(r)["permissionDecision"]!.GetValue<string>();

    private static string Reason(ProcessResult r) => Output(r)["permissionDecisionReason"]!.GetValue<string>();

    private static string PendingId(ProcessResult r)
    {
        Assert.Equal("deny", Decision(r));
        var m = PendingPattern().Match(Reason(r));
        Assert.True(m.Success, Reason(r));
        return m.Groups[1].Value;
    }

    [GeneratedRegex(@"pending approval (appr-[0-9a-f]+), retry after it is approved")]
    private static partial Regex PendingPattern();

    [Fact]
    public async Task Should_allow_an_autonomous_read_and_deny_a_blocked_delete()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;

        // act
        var read = await HookAsync(gateway, token, "claude-code", Fixtures.Text("claude-code/read"));
        var delete = await HookAsync(gateway, token, "codex", Fixtures.Text("codex/apply-patch-delete"));
        var status = await HookAsync(gateway, token, "codex", Fixtures.Text("codex/bash-git-log"));

        // assert
        Assert.Equal("allow", Decision(read));
        Assert.Contains("filesystem.read (autonomous)", Reason(read));
        Assert.Equal("deny", Decision(delete));
        Assert.Contains("[code: PolicyDenied]", Reason(delete));
        Assert.Contains("nothing is deleted from a host CLI", Reason(delete));
        Assert.True(status.ExitCode == 0, status.StdErr);
        Assert.Equal("", status.StdOut.Trim()); // Codex: an allow is no output at all
        Assert.DoesNotContain(token, read.StdOut + read.StdErr + delete.StdOut + delete.StdErr);
    }

    [Fact]
    public async Task Should_file_an_approval_deny_pending_then_allow_the_identical_retry_once_after_kruxos_approve_accept()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        var write = Fixtures.Text("claude-code/write");
        var otherWrite = write.Replace("- ship cli-hook", "- something else", StringComparison.Ordinal);

        // act 1: the first call files an approval and is denied at once; the identical call re-attaches to it
        var first = PendingId(await HookAsync(gateway, token, "claude-code", write));
        var again = PendingId(await HookAsync(gateway, token, "claude-code", write));
        Assert.Equal(first, again);
        var pending = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "pending" }))["approvals"]!.AsArray();
        var listed = Assert.Single(pending)!;
        Assert.Equal(first, listed["id"]!.GetValue<string>());
        Assert.Equal("filesystem.write", listed["capability"]!.GetValue<string>());
        Assert.Equal("notes/todo.md", listed["arguments"]!["path"]!.GetValue<string>());

        // act 2: the operator approves with the real CLI while nobody waits: a single-use grant
        var accepted = await ProcessRunner.Kruxos(gateway, "approve", "accept", first);
        Assert.True(accepted.ExitCode == 0, accepted.StdErr);

        // a call with different arguments does not use the grant: it needs its own approval
        var other = PendingId(await HookAsync(gateway, token, "claude-code", otherWrite));
        Assert.NotEqual(first, other);

        // the identical retry spends the grant and is allowed
        var retry = await HookAsync(gateway, token, "claude-code", write);
        Assert.Equal("allow", Decision(retry));
        Assert.Contains("filesystem.write (approval_required)", Reason(retry));
        Assert.Equal("consumed", (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = first }))["status"]!.GetValue<string>());

        // a further identical call needs a new approval
        var next = PendingId(await HookAsync(gateway, token, "claude-code", write));
        Assert.NotEqual(first, next);
        Assert.NotEqual(other, next);
    }

    [Fact]
    public async Task Should_record_each_hook_decision_in_the_audit_log_with_the_client_and_the_native_tool()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        Assert.Equal("allow", Decision(await HookAsync(gateway, token, "claude-code", Fixtures.Text("claude-code/bash-cat"))));
        Assert.Equal("deny", Decision(await HookAsync(gateway, token, "codex", Fixtures.Text("codex/apply-patch-delete"))));
        PendingId(await HookAsync(gateway, token, "claude-code", Fixtures.Text("claude-code/write")));

        // act
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{gateway.UserApiPort}/api/audit?actor_type=user&limit=100");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;

        // assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var entries = body["entries"]!.AsArray().Select(e => e!).Where(e => e["kind"]?.GetValue<string>() is null or "call").ToList();
        JsonNode Entry(string capability, string status) => Assert.Single(entries,
            e => e["capability"]!.GetValue<string>() == capability && e["result"]!["status"]!.GetValue<string>() == status);
        var read = Entry("filesystem.read", "success");
        Assert.Equal("claude-code", read["client"]!["name"]!.GetValue<string>());
        Assert.Equal("Bash", read["metadata"]!["details"]!["native_tool"]!.GetValue<string>());
        Assert.Equal("README.md", read["arguments"]!["path"]!.GetValue<string>());
        var delete = Entry("filesystem.delete", "denied");
        Assert.Equal("codex", delete["client"]!["name"]!.GetValue<string>());
        Assert.Equal("apply_patch", delete["metadata"]!["details"]!["native_tool"]!.GetValue<string>());
        var write = Entry("filesystem.write", "pending");
        Assert.Equal("claude-code", write["client"]!["name"]!.GetValue<string>());
        Assert.Equal("Write", write["metadata"]!["details"]!["native_tool"]!.GetValue<string>());
        Assert.Equal("allowed: the client runs its native tool", read["result"]!["summary"]!.GetValue<string>());
        Assert.StartsWith("appr-", write["metadata"]!["approval_request_id"]!.GetValue<string>());
        Assert.All(entries, e => Assert.Equal("user", e["actor"]!["type"]!.GetValue<string>()));
        Assert.Equal("verified", body["integrity"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_decide_webfetch_by_the_policy_and_deny_arguments_that_do_not_validate()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        var longGlob = Fixtures.Text("claude-code/grep").Replace("\"*.py\"", "\"" + new string('x', 2000) + "\"", StringComparison.Ordinal);

        var elsewhere = Fixtures.Text("claude-code/webfetch").Replace("https://docs.example.com/guide", "https://exfil.example.net/upload", StringComparison.Ordinal);
        var metadata = Fixtures.Text("claude-code/webfetch").Replace("https://docs.example.com/guide", "http://169.254.169.254/latest/meta-data/", StringComparison.Ordinal);

        // act
        var fetch = await HookAsync(gateway, token, "claude-code", Fixtures.Text("claude-code/webfetch"));
        var outside = await HookAsync(gateway, token, "claude-code", elsewhere);
        var imds = await HookAsync(gateway, token, "claude-code", metadata);
        var grep = await HookAsync(gateway, token, "claude-code", longGlob);

        // assert: WebFetch is network.http_request, decided by the user's policy — its notify tier and its egress
        // allowlist (the client fetches by itself, so a host the allowlist does not name is denied before it does) —
        // and include_glob is limited to 1024 characters
        Assert.Equal("allow", Decision(fetch));
        Assert.Equal("deny", Decision(outside));
        Assert.Contains("[code: DomainNotAllowed]", Reason(outside));
        Assert.Contains("exfil.example.net", Reason(outside));
        Assert.Equal("deny", Decision(imds));
        Assert.Equal("deny", Decision(grep));
        Assert.Contains("[code: InvalidInput]", Reason(grep));
        Assert.Contains("include_glob", Reason(grep));
    }

    [Fact]
    public async Task Should_deny_when_the_gateway_refuses_the_credential()
    {
        var (gateway, _) = await StartAsync();
        await using var __ = gateway;
        var agentToken = await gateway.CreateAgentAsync("builder");

        // act: an agent token is not a user token; a made-up user token is not valid
        var agent = await HookAsync(gateway, agentToken, "claude-code", Fixtures.Text("claude-code/read"));
        var bogus = await HookAsync(gateway, "krx_user_NotARealToken000000000000000000", "claude-code", Fixtures.Text("claude-code/read"));

        // assert
        Assert.Equal("deny", Decision(agent));
        Assert.Contains("[code: auth_refused]", Reason(agent));
        Assert.Equal("deny", Decision(bogus));
        Assert.Contains("[code: auth_refused]", Reason(bogus));
    }

    [Fact]
    public async Task Should_exit_2_for_a_credential_in_argv_4_for_an_unknown_label_and_5_without_an_auth_socket_as_real_processes()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        var userApi = $"http://127.0.0.1:{gateway.UserApiPort}";

        // act
        var leak = await ProcessRunner.RunAsync("dotnet", [HookDll, "--cli", "claude-code", token], stdin: Fixtures.Text("claude-code/read"), timeout: TestTimeouts.Call);
        var missing = await ProcessRunner.RunAsync("dotnet", [HookDll, "--cli", "claude-code", "--gateway", userApi, "--label", "nobody"],
            new Dictionary<string, string> { ["KRUXOS_AUTH_SOCKET"] = gateway.AuthSocket }, stdin: Fixtures.Text("claude-code/read"), timeout: TestTimeouts.Call);
        var noSocket = await ProcessRunner.RunAsync("dotnet", [HookDll, "--cli", "claude-code", "--gateway", userApi],
            new Dictionary<string, string> { ["KRUXOS_AUTH_SOCKET"] = Path.Combine(gateway.DataDir, "run", "nope.sock") }, stdin: Fixtures.Text("claude-code/read"), timeout: TestTimeouts.Call);

        // assert
        Assert.Equal(2, leak.ExitCode);
        Assert.DoesNotContain(token, leak.StdErr + leak.StdOut);
        Assert.True(missing.ExitCode == 4, missing.StdErr);
        Assert.Equal("deny", JsonNode.Parse(missing.StdOut)!["hookSpecificOutput"]!["permissionDecision"]!.GetValue<string>());
        Assert.Contains("kruxos user-token create nobody", missing.StdErr);
        Assert.True(noSocket.ExitCode == 5, noSocket.StdErr);
        Assert.Equal("deny", JsonNode.Parse(noSocket.StdOut)!["hookSpecificOutput"]!["permissionDecision"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_decide_through_a_credential_minted_over_the_auth_socket_when_no_token_is_in_the_environment_and_never_let_it_approve()
    {
        // arrange: the seed configs' client token for Claude Code, an operator token for the human, and a hook with no token at all
        var (gateway, _) = await StartAsync();
        await using var __ = gateway;
        var clientToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "claude-code" }))["token"]!.GetValue<string>();
        var operatorToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "ops", ["role"] = "operator" }))["token"]!.GetValue<string>();
        Task<ProcessResult> Minting(string stdin) => ProcessRunner.RunAsync("dotnet", [HookDll, "--cli", "claude-code", "--gateway", $"http://127.0.0.1:{gateway.UserApiPort}"],
            new Dictionary<string, string> { ["KRUXOS_AUTH_SOCKET"] = gateway.AuthSocket }, stdin: stdin, timeout: TestTimeouts.Call);
        var write = Fixtures.Text("claude-code/write");

        // act 1: allow, deny and pending decisions with nothing but the auth socket
        var read = await Minting(Fixtures.Text("claude-code/read"));
        var fetch = await Minting(Fixtures.Text("claude-code/webfetch"));
        var pending = PendingId(await Minting(write));

        // assert 1
        Assert.Equal("allow", Decision(read));
        Assert.Contains("filesystem.read (autonomous)", Reason(read));
        Assert.Equal("allow", Decision(fetch));
        Assert.Contains("network.http_request (notify)", Reason(fetch)); // decided by the gateway's policy: WebFetch is network.http_request
        var listed = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = pending }));
        Assert.Equal("user:claude-code", listed["principal"]!.GetValue<string>());

        // act 2: what the model's shell could use to approve its own write — the client token, a fresh minted credential
        using var http = new HttpClient();
        async Task<HttpStatusCode> ApproveWith(string credential)
        {
            using var r = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.UserApiPort}/api/approvals/{pending}/approve");
            r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            using var answer = await http.SendAsync(r);
            return answer.StatusCode;
        }
        var minted = await KruxOS.Core.Identity.AuthSocketClient.MintAsync(gateway.AuthSocket, "claude-code", TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(HttpStatusCode.Forbidden, await ApproveWith(clientToken));
        Assert.Equal(HttpStatusCode.Forbidden, await ApproveWith(minted.Token!));
        Assert.Equal("pending", (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = pending }))["status"]!.GetValue<string>());

        // act 3: the human's operator token approves; the identical retry through the hook is allowed once
        Assert.Equal(HttpStatusCode.OK, await ApproveWith(operatorToken));
        var retry = await Minting(write);
        Assert.Equal("allow", Decision(retry));
    }

    [Fact]
    public async Task Should_refuse_a_malformed_decision_request_with_400()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        using var http = new HttpClient();
        string[] bodies =
        [
            """{"native_tool":"Read","capability":"filesystem.read","arguments":{"path":"a"}}""",
            """{"client":"cursor","native_tool":"Read","capability":"filesystem.read","arguments":{"path":"a"}}""",
            """{"client":"codex","native_tool":"Read","capability":"filesystem.read","arguments":"a"}""",
            """{"client":"codex","capability":"filesystem.read","arguments":{}}""",
            """{"client":"codex","native_tool":"Read","capability":"filesystem.read","arguments":{},"extra":1}""",
            """{"client":"codex","native_tool":"Re\u0000ad","capability":"filesystem.read","arguments":{}}""",
            """{"client":"codex","native_tool":"Read","capability":"filesystem.read","arguments":{},"session_id":7}""",
            "[1]",
            "{",
        ];
        foreach (var body in bodies)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.UserApiPort}/api/hook/decide")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);

            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{body}: {response.StatusCode}");
            Assert.Equal("invalid_input", JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["error_type"]!.GetValue<string>());
        }
    }
}
