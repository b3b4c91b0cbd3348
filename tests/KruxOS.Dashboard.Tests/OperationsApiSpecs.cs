using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Dashboard.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>
/// The secrets, alerts and pause API of the dashboard over real HTTPS: operator-only changes behind the origin and
/// anti-forgery checks, and a secret's value that never comes back in an answer, an error, a log line, the audit log or
/// any file of the data directory.
/// </summary>
public sealed class OperationsApiSpecs(OperationsGateway fixture) : IClassFixture<OperationsGateway>
{
    private TestGateway Gateway => fixture.Gateway;

    private static string Marker(string prefix) => prefix + Guid.NewGuid().ToString("N");

    private static void NowhereIn(string value, params (HttpStatusCode, JsonNode?)[] answers)
    {
        foreach (var (_, body) in answers) Assert.DoesNotContain(value, body?.ToJsonString() ?? "", StringComparison.Ordinal);
    }

    /// <summary>No file under the data directory (vault, journal, audit log, anything) holds <paramref name="value"/> in clear.</summary>
    private void NotOnDisk(string value)
    {
        var needle = Encoding.UTF8.GetBytes(value);
        foreach (var file in Directory.EnumerateFiles(Gateway.DataDir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }))
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(file); }
            catch (IOException) { continue; }
            Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{file} holds the secret's value");
        }
    }

    [Fact]
    public async Task Should_add_list_rotate_and_revoke_a_secret_and_never_answer_log_audit_or_store_its_value_in_clear()
    {
        // arrange: a signed-in operator and two values nobody else knows
        using var client = await fixture.SignedInAsync();
        using var bare = new DashboardClient(Gateway);
        var csrf = await client.CsrfAsync();
        var (first, second) = (Marker("sk_dash_first_"), Marker("sk_dash_second_"));
        var name = Marker("stripe-").Substring(0, 20);

        // act
        var added = await client.ApiAsync(HttpMethod.Post, "/api/vault/secrets", new JsonObject
        {
            ["name"] = name, ["type"] = "api_key", ["allowed_capabilities"] = new JsonArray("network.credentialed_request"),
            ["allowed_hosts"] = new JsonArray("api.stripe.com"), ["value"] = first,
        }, csrf, client.Origin);
        var listed = await client.ApiAsync(HttpMethod.Get, "/api/vault/secrets");
        var status = await client.ApiAsync(HttpMethod.Get, "/api/vault");
        var rotated = await client.ApiAsync(HttpMethod.Post, $"/api/vault/secrets/{name}/rotate", new JsonObject { ["value"] = second }, csrf, client.Origin);
        var wrongType = await client.ApiAsync(HttpMethod.Post, $"/api/vault/secrets/{name}/rotate", new JsonObject { ["value"] = new JsonArray(first) }, csrf, client.Origin);
        var revoked = await client.ApiAsync(HttpMethod.Post, $"/api/vault/secrets/{name}/revoke", new JsonObject { ["reason"] = "leaked" }, csrf, client.Origin);
        var afterRevoke = await client.ApiAsync(HttpMethod.Post, $"/api/vault/secrets/{name}/rotate", new JsonObject { ["value"] = first }, csrf, client.Origin);
        var listedAfter = await client.ApiAsync(HttpMethod.Get, "/api/vault/secrets");
        var withRevoked = await client.ApiAsync(HttpMethod.Get, "/api/vault/secrets?include_revoked=true");
        var audit = await client.TextAsync("/api/audit/export");

        // assert: each step did what it says, in the User API's shapes
        Assert.Equal(HttpStatusCode.OK, added.Status);
        Assert.Equal(name, added.Body!["secret"]!["name"]!.GetValue<string>());
        Assert.Equal(1, added.Body!["secret"]!["version"]!.GetValue<int>());
        Assert.Contains(listed.Body!["secrets"]!.AsArray(), s => s!["name"]!.GetValue<string>() == name);
        Assert.Equal("unlocked", status.Body!["state"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, rotated.Status);
        Assert.Equal(2, rotated.Body!["secret"]!["version"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.Status);
        Assert.Equal(HttpStatusCode.OK, revoked.Status);
        Assert.True(revoked.Body!["secret"]!["revoked"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.Conflict, afterRevoke.Status);
        Assert.DoesNotContain(listedAfter.Body!["secrets"]!.AsArray(), s => s!["name"]!.GetValue<string>() == name);
        Assert.Contains(withRevoked.Body!["secrets"]!.AsArray(), s => s!["name"]!.GetValue<string>() == name && s["revoked"]!.GetValue<bool>());
        // and neither value anywhere: answers, errors, the audit log, the gateway's log, the data directory
        foreach (var value in new[] { first, second })
        {
            NowhereIn(value, added, listed, status, rotated, wrongType, revoked, afterRevoke, listedAfter, withRevoked);
            Assert.DoesNotContain(value, audit, StringComparison.Ordinal);
            Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains(value, StringComparison.Ordinal));
            NotOnDisk(value);
        }
    }

    [Fact]
    public async Task Should_refuse_secret_changes_from_client_tokens_foreign_origins_and_without_the_csrf_token_and_store_nothing()
    {
        // arrange
        using var client = await fixture.SignedInAsync();
        using var bare = new DashboardClient(Gateway);
        var csrf = await client.CsrfAsync();
        var value = Marker("sk_dash_refused_");
        var body = new JsonObject { ["name"] = "refused-one", ["type"] = "api_key", ["value"] = value };

        // act
        var byClient = await bare.ApiAsync(HttpMethod.Post, "/api/vault/secrets", body, bearer: fixture.ClientToken);
        var noCsrf = await client.ApiAsync(HttpMethod.Post, "/api/vault/secrets", body, csrf: null, origin: client.Origin);
        var foreign = await client.ApiAsync(HttpMethod.Post, "/api/vault/secrets", body, csrf, "https://evil.example");
        var revokeByClient = await bare.ApiAsync(HttpMethod.Post, "/api/vault/secrets/refused-one/revoke", bearer: fixture.ClientToken);
        var signedOut = await new DashboardClient(Gateway).ApiAsync(HttpMethod.Post, "/api/vault/secrets", body);
        var notJson = await client.ApiAsync(HttpMethod.Post, "/api/vault/secrets", null, csrf, client.Origin);
        // a body that is not JSON, carrying the value: the error must not quote it
        var malformed = await client.RawAsync("/api/vault/secrets", "{\"value\": \"" + value + "\", oops", csrf);
        var broken = await client.ApiAsync(HttpMethod.Post, "/api/vault/secrets", JsonNode.Parse("{\"value\":\"" + value + "\",\"name\":{}}")!.AsObject(), csrf, client.Origin);
        var clientView = await bare.ApiAsync(HttpMethod.Get, "/api/vault/secrets", bearer: fixture.ClientToken);

        // assert
        Assert.Equal(HttpStatusCode.Forbidden, byClient.Status);
        Assert.Equal("auth.role_forbidden", byClient.Body!["error_type"]!.GetValue<string>());
        Assert.Equal("request.csrf_failed", noCsrf.Body!["error_type"]!.GetValue<string>());
        Assert.Equal("request.origin_refused", foreign.Body!["error_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, revokeByClient.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, signedOut.Status);
        Assert.Equal(HttpStatusCode.BadRequest, notJson.Status);
        Assert.Equal(HttpStatusCode.BadRequest, broken.Status);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.DoesNotContain(value, malformed.Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, clientView.Status);
        NowhereIn(value, byClient, noCsrf, foreign, signedOut, notJson, broken, clientView);
        Assert.DoesNotContain(clientView.Body!["secrets"]!.AsArray(), s => s!["name"]!.GetValue<string>() == "refused-one");
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains(value, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_summarise_list_and_acknowledge_alerts_for_operators_only_as_the_token_label()
    {
        // arrange: the agent raises a critical alert (agent-written text)
        using var client = await fixture.SignedInAsync();
        using var bare = new DashboardClient(Gateway);
        var csrf = await client.CsrfAsync();
        var text = Marker("<b>disk full</b> ");
        var sent = await HeldCalls.InvokeAsync(Gateway, fixture.AgentToken, "alerts.send", new JsonObject { ["message"] = text, ["severity"] = "critical" });
        Assert.True(sent["result"]?["error"] is null && sent["error"] is null, sent.ToJsonString());

        // act
        var summary = await client.ApiAsync(HttpMethod.Get, "/api/alerts/summary");
        var pending = await bare.ApiAsync(HttpMethod.Get, "/api/alerts?status=pending", bearer: fixture.ClientToken);
        var badLimit = await client.ApiAsync(HttpMethod.Get, "/api/alerts?limit=lots");
        var badStatus = await client.ApiAsync(HttpMethod.Get, "/api/alerts?status=sideways");
        var id = pending.Body!["alerts"]!.AsArray().Single(a => a!["message"]!.GetValue<string>() == text)!["alert_id"]!.GetValue<string>();
        var byClient = await bare.ApiAsync(HttpMethod.Post, $"/api/alerts/{id}/acknowledge", bearer: fixture.ClientToken);
        var noCsrf = await client.ApiAsync(HttpMethod.Post, $"/api/alerts/{id}/acknowledge", origin: client.Origin);
        var unknown = await client.ApiAsync(HttpMethod.Post, "/api/alerts/alrt-0000000000000000/acknowledge", csrf: csrf, origin: client.Origin);
        var traversal = await client.ApiAsync(HttpMethod.Post, "/api/alerts/..%2F..%2Fetc/acknowledge", csrf: csrf, origin: client.Origin);
        var ack = await client.ApiAsync(HttpMethod.Post, $"/api/alerts/{id}/acknowledge", csrf: csrf, origin: client.Origin);
        var again = await client.ApiAsync(HttpMethod.Post, $"/api/alerts/{id}/acknowledge", csrf: csrf, origin: client.Origin);
        var after = await client.ApiAsync(HttpMethod.Get, "/api/alerts/summary");
        var acknowledged = await client.ApiAsync(HttpMethod.Get, "/api/alerts?status=acknowledged");

        // assert
        Assert.Equal(HttpStatusCode.OK, summary.Status);
        Assert.True(summary.Body!["critical"]!.GetValue<int>() >= 1);
        Assert.True(summary.Body!["pending"]!.GetValue<int>() >= summary.Body!["critical"]!.GetValue<int>());
        Assert.Contains(summary.Body!["critical_alerts"]!.AsArray(), a => a!["message"]!.GetValue<string>() == text && a["source"]!.GetValue<string>() == OperationsGateway.Agent);
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.Status);
        Assert.Equal(HttpStatusCode.BadRequest, badStatus.Status);
        Assert.Equal("auth.role_forbidden", byClient.Body!["error_type"]!.GetValue<string>());
        Assert.Equal("request.csrf_failed", noCsrf.Body!["error_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal(HttpStatusCode.NotFound, traversal.Status);
        Assert.Equal(HttpStatusCode.OK, ack.Status);
        Assert.True(ack.Body!["acknowledged"]!.GetValue<bool>());
        Assert.False(again.Body!["acknowledged"]!.GetValue<bool>());
        Assert.DoesNotContain(after.Body!["critical_alerts"]!.AsArray(), a => a!["alert_id"]!.GetValue<string>() == id);
        Assert.Equal("user:ops", acknowledged.Body!["alerts"]!.AsArray().Single(a => a!["alert_id"]!.GetValue<string>() == id)!["acknowledged_by"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_show_the_service_proxy_and_change_writes_for_operators_only_behind_the_origin_and_csrf_checks()
    {
        // arrange
        using var client = await fixture.SignedInAsync();
        using var bare = new DashboardClient(Gateway);
        var csrf = await client.CsrfAsync();
        var unknownId = "wr-" + Guid.NewGuid().ToString("N");

        // act
        var status = await client.ApiAsync(HttpMethod.Get, "/api/proxy/status");
        var writes = await client.ApiAsync(HttpMethod.Get, "/api/proxy/writes?status=pending");
        var dead = await bare.ApiAsync(HttpMethod.Get, "/api/proxy/writes?status=dead_lettered", bearer: fixture.ClientToken);
        var badStatus = await client.ApiAsync(HttpMethod.Get, "/api/proxy/writes?status=sideways");
        var byClient = await bare.ApiAsync(HttpMethod.Post, $"/api/proxy/writes/{unknownId}/cancel", bearer: fixture.ClientToken);
        var noCsrf = await client.ApiAsync(HttpMethod.Post, $"/api/proxy/writes/{unknownId}/cancel", origin: client.Origin);
        var unknown = await client.ApiAsync(HttpMethod.Post, $"/api/proxy/writes/{unknownId}/cancel", csrf: csrf, origin: client.Origin);
        var malformed = await client.ApiAsync(HttpMethod.Post, "/api/proxy/writes/..%2F..%2Fetc/retry", csrf: csrf, origin: client.Origin);
        var discard = await client.ApiAsync(HttpMethod.Post, $"/api/proxy/writes/{unknownId}/discard", csrf: csrf, origin: client.Origin);

        // assert
        Assert.Equal(HttpStatusCode.OK, status.Status);
        Assert.NotNull(status.Body!["services"]!.AsArray());
        Assert.Equal(HttpStatusCode.OK, writes.Status);
        Assert.Equal(0, writes.Body!["total"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.OK, dead.Status);
        Assert.Equal(HttpStatusCode.BadRequest, badStatus.Status);
        Assert.Equal("auth.role_forbidden", byClient.Body!["error_type"]!.GetValue<string>());
        Assert.Equal("request.csrf_failed", noCsrf.Body!["error_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.True(malformed.Status is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, malformed.Status.ToString());
        Assert.Equal(HttpStatusCode.NotFound, discard.Status);
    }

    [Fact]
    public async Task Should_pause_and_resume_an_agent_for_operators_only_and_fail_its_calls_while_paused()
    {
        // arrange: an agent of its own (the class's agent keeps working for the other specs)
        var agent = "pausee-" + Guid.NewGuid().ToString("N")[..6];
        var token = await Gateway.CreateAgentAsync(agent);
        using var client = await fixture.SignedInAsync();
        using var bare = new DashboardClient(Gateway);
        var csrf = await client.CsrfAsync();

        // act
        var byClient = await bare.ApiAsync(HttpMethod.Post, $"/api/agents/{agent}/pause", bearer: fixture.ClientToken);
        var noCsrf = await client.ApiAsync(HttpMethod.Post, $"/api/agents/{agent}/pause", origin: client.Origin);
        var stillRuns = await HeldCalls.InvokeAsync(Gateway, token, "system.health", []);
        var unknown = await client.ApiAsync(HttpMethod.Post, "/api/agents/no-such-agent/pause", csrf: csrf, origin: client.Origin);
        var invalid = await client.ApiAsync(HttpMethod.Post, "/api/agents/..%2Fetc/pause", csrf: csrf, origin: client.Origin);
        var paused = await client.ApiAsync(HttpMethod.Post, $"/api/agents/{agent}/pause", csrf: csrf, origin: client.Origin);
        var listed = await client.ApiAsync(HttpMethod.Get, "/api/agents");
        var shown = await client.ApiAsync(HttpMethod.Get, $"/api/agents/{agent}");
        var refused = await HeldCalls.InvokeAsync(Gateway, token, "system.health", []);
        var resumed = await client.ApiAsync(HttpMethod.Post, $"/api/agents/{agent}/resume", csrf: csrf, origin: client.Origin);
        var runsAgain = await HeldCalls.InvokeAsync(Gateway, token, "system.health", []);
        var afterResume = await client.ApiAsync(HttpMethod.Get, $"/api/agents/{agent}");

        // assert
        Assert.Equal("auth.role_forbidden", byClient.Body!["error_type"]!.GetValue<string>());
        Assert.Equal("request.csrf_failed", noCsrf.Body!["error_type"]!.GetValue<string>());
        Assert.DoesNotContain("SessionPaused", stillRuns.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.True(invalid.Status is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, invalid.Status.ToString());
        Assert.Equal(HttpStatusCode.OK, paused.Status);
        Assert.True(paused.Body!["paused"]!.GetValue<bool>());
        Assert.True(listed.Body!["agents"]!.AsArray().Single(a => a!["name"]!.GetValue<string>() == agent)!["paused"]!.GetValue<bool>());
        Assert.False(listed.Body!["agents"]!.AsArray().Single(a => a!["name"]!.GetValue<string>() == OperationsGateway.Agent)!["paused"]!.GetValue<bool>());
        Assert.True(shown.Body!["paused"]!.GetValue<bool>());
        Assert.Contains("SessionPaused", refused.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, resumed.Status);
        Assert.False(resumed.Body!["paused"]!.GetValue<bool>());
        Assert.DoesNotContain("SessionPaused", runsAgain.ToJsonString(), StringComparison.Ordinal);
        Assert.False(afterResume.Body!["paused"]!.GetValue<bool>());
    }
}
