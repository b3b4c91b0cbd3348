using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Dashboard.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>
/// The dashboard's listener and REST API over real sockets (HTTPS with the node's CA): transport rules, sign-in and
/// sessions, anti-forgery and origin checks, and the spec §4.1 endpoints with their status codes.
/// </summary>
public sealed class DashboardApiSpecs(DashboardGateway fixture) : IClassFixture<DashboardGateway>
{
    private TestGateway Gateway => fixture.Gateway;

    [Fact]
    public async Task Should_redirect_plain_http_to_https_with_308_and_serve_nothing_over_it()
    {
        // arrange: a raw plain-text request on the dashboard port
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, Gateway.DashboardPort);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /api/approvals?status=all HTTP/1.1\r\nHost: 127.0.0.1:{Gateway.DashboardPort}\r\nConnection: close\r\n\r\n"));
        // act
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync().WaitAsync(TestTimeouts.Call);
        // assert
        Assert.StartsWith("HTTP/1.1 308", answer);
        Assert.Contains($"Location: https://127.0.0.1:{Gateway.DashboardPort}/api/approvals?status=all", answer);
        Assert.DoesNotContain("approvals\":", answer);
    }

    [Fact]
    public async Task Should_refuse_a_foreign_host_on_the_dashboard_port_even_in_plain_text()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, Gateway.DashboardPort);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync().WaitAsync(TestTimeouts.Call);
        Assert.StartsWith("HTTP/1.1 421", answer);
        Assert.DoesNotContain("evil.example/", answer.Split("\r\n\r\n")[0].Replace("Host", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_send_hsts_and_a_strict_csp_on_every_https_answer()
    {
        using var client = new DashboardClient(Gateway);
        foreach (var path in new[] { "/signin", "/assets/dashboard.js", "/api/status", "/approvals" })
        {
            using var r = await client.GetAsync(path);
            Assert.Equal("max-age=31536000", r.Headers.GetValues("Strict-Transport-Security").Single());
            var csp = r.Headers.GetValues("Content-Security-Policy").Single();
            Assert.Contains("default-src 'none'", csp);
            Assert.Contains("script-src 'self'", csp);
            Assert.DoesNotContain("unsafe-inline", csp);
            Assert.Contains("frame-ancestors 'none'", csp);
            Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
        }
    }

    [Fact]
    public async Task Should_redirect_a_signed_out_page_to_sign_in_and_answer_the_api_401()
    {
        using var client = new DashboardClient(Gateway);
        using var page = await client.GetAsync("/approvals");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal("/signin?next=%2Fapprovals", page.Headers.Location!.OriginalString);
        var (status, body) = await client.ApiAsync(HttpMethod.Get, "/api/approvals");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("auth.sign_in_required", body!["error_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_set_a_host_prefixed_httponly_secure_strict_cookie_and_rotate_it_at_every_sign_in()
    {
        // arrange
        using var client = new DashboardClient(Gateway);
        // act: sign in twice in the same browser
        using var first = await client.SignInAsync(fixture.OperatorToken);
        var setCookie = first.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("__Host-kruxos_session=", StringComparison.Ordinal));
        var firstValue = client.SessionCookie!;
        using var second = await client.SignInAsync(fixture.OperatorToken);
        var secondValue = client.SessionCookie!;
        // assert: flags, rotation, and the old session is gone
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("domain=", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(firstValue, secondValue);
        using var replay = new DashboardClient(Gateway);
        replay.Cookies.Add(Gateway.Dashboard, new Cookie("__Host-kruxos_session", firstValue));
        Assert.Equal(HttpStatusCode.Unauthorized, (await replay.ApiAsync(HttpMethod.Get, "/api/status")).Status);
        Assert.Equal(HttpStatusCode.OK, (await client.ApiAsync(HttpMethod.Get, "/api/status")).Status);
    }

    [Fact]
    public async Task Should_refuse_sign_in_from_a_foreign_origin_and_with_a_client_token()
    {
        using var client = new DashboardClient(Gateway);
        using var foreign = await client.SignInAsync(fixture.OperatorToken, origin: "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Null(client.SessionCookie);
        using var asClient = await client.SignInAsync(fixture.ClientToken);
        Assert.Equal(HttpStatusCode.Unauthorized, asClient.StatusCode);
        Assert.Contains("only operator tokens sign in", await asClient.Content.ReadAsStringAsync());
        Assert.Null(client.SessionCookie);
    }

    [Fact]
    public async Task Should_refuse_a_state_change_without_the_csrf_token_or_from_a_foreign_origin()
    {
        // arrange
        using var client = await fixture.SignedInAsync();
        var csrf = await client.CsrfAsync();
        var body = new JsonObject { ["name"] = "csrf-probe", ["purpose"] = "x" };
        // act + assert: no token; wrong token; foreign origin; no origin — all refused, nothing created
        var noToken = await client.ApiAsync(HttpMethod.Post, "/api/agents", body, csrf: null, origin: client.Origin);
        Assert.Equal(HttpStatusCode.Forbidden, noToken.Status);
        Assert.Equal("request.csrf_failed", noToken.Body!["error_type"]!.GetValue<string>());
        var wrongToken = await client.ApiAsync(HttpMethod.Post, "/api/agents", body, csrf: csrf + "x", origin: client.Origin);
        Assert.Equal("request.csrf_failed", wrongToken.Body!["error_type"]!.GetValue<string>());
        var foreign = await client.ApiAsync(HttpMethod.Post, "/api/agents", body, csrf: csrf, origin: "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, foreign.Status);
        Assert.Equal("request.origin_refused", foreign.Body!["error_type"]!.GetValue<string>());
        var noOrigin = await client.ApiAsync(HttpMethod.Post, "/api/agents", body, csrf: csrf);
        Assert.Equal("request.origin_refused", noOrigin.Body!["error_type"]!.GetValue<string>());
        Assert.DoesNotContain("csrf-probe", (await Gateway.ControlAsync(ControlProtocol.Methods.AgentList))!.ToJsonString());
        // and the same request done right is accepted: the token is shown once with a .mcp.json
        var ok = await client.ApiAsync(HttpMethod.Post, "/api/agents", body, csrf: csrf, origin: client.Origin);
        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Matches("^[0-9a-f]{64}$", ok.Body!["token"]!.GetValue<string>());
        Assert.Contains("\"KRUXOS_AGENT_NAME\": \"csrf-probe\"", ok.Body!["mcp_json"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_serve_bearer_user_tokens_with_views_for_both_roles_and_changes_for_operators_only()
    {
        using var client = new DashboardClient(Gateway);
        Assert.Equal(HttpStatusCode.OK, (await client.ApiAsync(HttpMethod.Get, "/api/agents", bearer: fixture.ClientToken)).Status);
        var create = await client.ApiAsync(HttpMethod.Post, "/api/agents", new JsonObject { ["name"] = "by-client" }, bearer: fixture.ClientToken);
        Assert.Equal(HttpStatusCode.Forbidden, create.Status);
        Assert.Equal("auth.role_forbidden", create.Body!["error_type"]!.GetValue<string>());
        var agentToken = await client.ApiAsync(HttpMethod.Get, "/api/agents", bearer: fixture.AgentToken);
        Assert.Equal(HttpStatusCode.Forbidden, agentToken.Status);
        var wrong = await client.ApiAsync(HttpMethod.Get, "/api/agents", bearer: "krx_user_" + new string('0', 64));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        var foreign = await client.ApiAsync(HttpMethod.Post, "/api/agents/bot/kill", bearer: fixture.OperatorToken, origin: "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, foreign.Status);
    }

    [Fact]
    public async Task Should_list_show_and_decide_approvals_with_the_spec_status_codes_attributed_to_the_token_label()
    {
        // arrange: two held calls
        var first = await HeldCalls.RpcAsync(Gateway, fixture.AgentToken, "system.time", new JsonObject { ["timezone"] = "UTC" });
        var second = await HeldCalls.RpcAsync(Gateway, fixture.AgentToken, "system.time", new JsonObject { ["timezone"] = "Europe/Paris" });
        using var client = await fixture.SignedInAsync();
        var csrf = await client.CsrfAsync();
        // act + assert
        var list = await client.ApiAsync(HttpMethod.Get, "/api/approvals");
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.Contains(list.Body!["approvals"]!.AsArray(), a => a!["id"]!.GetValue<string>() == first && a["status"]!.GetValue<string>() == "pending");
        var shown = await client.ApiAsync(HttpMethod.Get, "/api/approvals/" + first);
        Assert.Equal("UTC", shown.Body!["arguments"]!["timezone"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await client.ApiAsync(HttpMethod.Get, "/api/approvals/appr-0000000000000000")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await client.ApiAsync(HttpMethod.Post, "/api/approvals/appr-0000000000000000/approve", csrf: csrf, origin: client.Origin)).Status);

        var approved = await client.ApiAsync(HttpMethod.Post, $"/api/approvals/{first}/approve", csrf: csrf, origin: client.Origin);
        Assert.Equal(HttpStatusCode.OK, approved.Status);
        Assert.Equal("user:ops", approved.Body!["decided_by"]!.GetValue<string>());
        Assert.Equal("dashboard", approved.Body!["decider"]!["surface"]!.GetValue<string>());
        var again = await client.ApiAsync(HttpMethod.Post, $"/api/approvals/{first}/reject", csrf: csrf, origin: client.Origin);
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Equal("approved", again.Body!["status"]!.GetValue<string>());

        var rejected = await client.ApiAsync(HttpMethod.Post, $"/api/approvals/{second}/reject", new JsonObject { ["reason"] = "not now" }, csrf, client.Origin);
        Assert.Equal("rejected", rejected.Body!["status"]!.GetValue<string>());
        Assert.Equal("not now", rejected.Body!["decision_reason"]!.GetValue<string>());
        // a client token cannot decide (the approval entity refuses it: separation of duties)
        var third = await HeldCalls.RpcAsync(Gateway, fixture.AgentToken, "system.time", new JsonObject { ["timezone"] = "Asia/Tokyo" });
        var byClient = await client.ApiAsync(HttpMethod.Post, $"/api/approvals/{third}/approve", bearer: fixture.ClientToken);
        Assert.Equal(HttpStatusCode.Forbidden, byClient.Status);
        Assert.Equal("pending", await HeldCalls.StatusAsync(Gateway, third));
    }

    [Fact]
    public async Task Should_answer_audit_with_filters_paging_integrity_and_export()
    {
        // arrange: one real call
        await HeldCalls.InvokeAsync(Gateway, fixture.AgentToken, "system.health", []);
        using var client = await fixture.SignedInAsync();
        // act
        var page = await client.ApiAsync(HttpMethod.Get, "/api/audit?agent=bot&capability=system.*&limit=25");
        var bad = await client.ApiAsync(HttpMethod.Get, "/api/audit?limit=0");
        using var export = await client.GetAsync("/api/audit/export?agent=bot");
        // assert
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Equal("verified", page.Body!["integrity"]!.GetValue<string>());
        Assert.Contains(page.Body!["entries"]!.AsArray(), e => e!["capability"]!.GetValue<string>() == "system.health");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Contains("attachment", export.Content.Headers.ContentDisposition?.ToString() ?? export.Headers.GetValues("Content-Disposition").Single());
        var exported = JsonNode.Parse(await export.Content.ReadAsStringAsync())!;
        Assert.Equal("verified", exported["integrity"]!.GetValue<string>());
        Assert.True(exported["exported"]!.GetValue<int>() >= 1);
    }

    [Fact]
    public async Task Should_answer_status_agents_and_activity_in_the_spec_shapes()
    {
        await HeldCalls.InvokeAsync(Gateway, fixture.AgentToken, "system.health", []);
        using var client = await fixture.SignedInAsync();
        var status = (await client.ApiAsync(HttpMethod.Get, "/api/status")).Body!;
        foreach (var field in new[] { "version", "uptime_seconds", "active_agents", "active_sessions", "pending_approvals", "capabilities_invoked_24h", "policy_violations_24h", "health" })
            Assert.NotNull(status[field]);
        Assert.True(status["capabilities_invoked_24h"]!.GetValue<long>() >= 1);
        var agents = (await client.ApiAsync(HttpMethod.Get, "/api/agents")).Body!["agents"]!.AsArray();
        var bot = agents.Single(a => a!["name"]!.GetValue<string>() == "bot")!;
        foreach (var field in new[] { "name", "purpose", "status", "created_at", "last_connected", "total_invocations" })
            Assert.True(bot.AsObject().ContainsKey(field), field);
        var one = await client.ApiAsync(HttpMethod.Get, "/api/agents/bot");
        Assert.Contains(one.Body!["policy"]!["rules"]!.AsArray(), r => r!["capability"]!.GetValue<string>() == "system.time" && r["tier"]!.GetValue<string>() == "approval_required");
        Assert.Equal(HttpStatusCode.NotFound, (await client.ApiAsync(HttpMethod.Get, "/api/agents/nobody")).Status);
        var activity = await client.ApiAsync(HttpMethod.Get, "/api/activity?agent=bot&limit=10");
        Assert.Contains(activity.Body!["events"]!.AsArray(), e => e!["type"]!.GetValue<string>() == "capability_invoked");
        Assert.Equal(HttpStatusCode.BadRequest, (await client.ApiAsync(HttpMethod.Get, "/api/activity?limit=5000")).Status);
    }

    [Fact]
    public async Task Should_stream_activity_as_server_sent_events()
    {
        using var client = await fixture.SignedInAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/activity/stream?agent=bot&type=capability_invoked");
        using var http = new HttpClient(new SocketsHttpHandler
        {
            CookieContainer = client.Cookies,
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = TestTls.TrustOnly(Gateway.Authority) },
        }) { BaseAddress = Gateway.Dashboard, Timeout = Timeout.InfiniteTimeSpan };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith(":", await reader.ReadLineAsync().WaitAsync(TestTimeouts.Call));
        // act: a call after subscribing
        await HeldCalls.InvokeAsync(Gateway, fixture.AgentToken, "system.health", []);
        // assert
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        string? line;
        while ((line = await reader.ReadLineAsync(cts.Token)) is not null && !line.StartsWith("data:", StringComparison.Ordinal)) { }
        var e = JsonNode.Parse(line!["data:".Length..])!;
        Assert.Equal("capability_invoked", e["type"]!.GetValue<string>());
        Assert.Equal("bot", e["agent"]!.GetValue<string>());
    }
}
