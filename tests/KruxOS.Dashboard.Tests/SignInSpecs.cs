using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Dashboard.Tests.Support;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>
/// Sign-in attacks against their own gateway (the failure window is per address, and every spec here comes from
/// 127.0.0.1): guessing is throttled and audited without the guess, and a session dies with its token.
/// </summary>
public sealed class SignInSpecs(DashboardGateway fixture) : IClassFixture<DashboardGateway>
{
    [Fact]
    public async Task Should_throttle_and_audit_failed_sign_ins_without_recording_the_guessed_token()
    {
        // arrange
        using var client = new DashboardClient(fixture.Gateway);
        var guesses = Enumerable.Range(0, 7).Select(i => "krx_user_" + i.ToString("x", System.Globalization.CultureInfo.InvariantCulture).PadLeft(64, 'a')).ToList();
        // act: 5 failures use up the window; the 6th and 7th are refused before the token is looked at
        var statuses = new List<HttpStatusCode>();
        foreach (var guess in guesses)
        {
            using var r = await client.SignInAsync(guess);
            statuses.Add(r.StatusCode);
        }
        using var valid = await client.SignInAsync(fixture.OperatorToken);
        // assert
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), statuses.Take(5));
        Assert.Equal([HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses.Skip(5));
        Assert.Equal(HttpStatusCode.TooManyRequests, valid.StatusCode);
        Assert.True(valid.Headers.RetryAfter is not null);
        var audit = await fixture.Gateway.Services.SignInEntriesAsync();
        var entries = audit["entries"]!.AsArray();
        Assert.Equal(5, entries.Count(e => e!["result"]!["status"]!.GetValue<string>() == "denied" && e["result"]!["summary"]!.GetValue<string>().Contains("unknown or revoked", StringComparison.Ordinal)));
        Assert.True(entries.Count(e => e!["result"]!["summary"]!.GetValue<string>().StartsWith("throttled", StringComparison.Ordinal)) >= 3);
        var files = string.Concat(Directory.GetFiles(Path.Combine(fixture.Gateway.DataDir, "audit"), "audit-*.log").Select(f => File.ReadAllText(f, System.Text.Encoding.Latin1)));
        foreach (var guess in guesses) Assert.DoesNotContain(guess[9..], files);
        Assert.DoesNotContain(fixture.OperatorToken[9..], files);
    }
}

/// <summary>A session is only as good as its token.</summary>
public sealed class SessionLifetimeSpecs(DashboardGateway fixture) : IClassFixture<DashboardGateway>
{
    [Fact]
    public async Task Should_end_a_session_at_its_next_request_once_its_token_is_revoked()
    {
        // arrange
        var token = await DashboardClient.UserTokenAsync(fixture.Gateway, "temp-ops");
        using var client = new DashboardClient(fixture.Gateway);
        using var signIn = await client.SignInAsync(token);
        Assert.Equal(HttpStatusCode.OK, (await client.ApiAsync(HttpMethod.Get, "/api/status")).Status);
        var id = (await fixture.Gateway.ControlAsync(ControlProtocol.Methods.UserTokenList))["tokens"]!.AsArray()
            .Single(t => t!["label"]!.GetValue<string>() == "temp-ops")!["id"]!.GetValue<string>();
        // act
        await fixture.Gateway.ControlAsync(ControlProtocol.Methods.UserTokenRevoke, new JsonObject { ["id"] = id });
        // assert
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.ApiAsync(HttpMethod.Get, "/api/status")).Status);
        using var page = await client.GetAsync("/approvals");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
    }

    [Fact]
    public async Task Should_end_the_session_at_sign_out_and_refuse_a_forged_sign_out()
    {
        using var client = await fixture.SignedInAsync();
        var csrf = await client.CsrfAsync();
        using var forged = await client.PostFormAsync("/signout", new() { ["_csrf"] = "forged" }, client.Origin);
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.ApiAsync(HttpMethod.Get, "/api/status")).Status);
        using var signOut = await client.PostFormAsync("/signout", new() { ["_csrf"] = csrf }, client.Origin);
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.ApiAsync(HttpMethod.Get, "/api/status")).Status);
    }
}

internal static class AuditLookup
{
    /// <summary>The dashboard's sign-in entries, through the audit query service.</summary>
    public static async Task<JsonObject> SignInEntriesAsync(this IServiceProvider services)
    {
        var queries = (KruxOS.Gateway.Admin.AuditQueries)services.GetService(typeof(KruxOS.Gateway.Admin.AuditQueries))!;
        // The index is written in the background: wait until the entries are there.
        var deadline = DateTimeOffset.UtcNow + KruxOS.Testing.TestTimeouts.Process;
        while (true)
        {
            var result = await queries.QueryAsync(new KruxOS.Audit.AuditQuery { Capability = "dashboard.sign_in", Limit = 100 }, CancellationToken.None);
            if (result.Page.Entries.Count >= 7 || DateTimeOffset.UtcNow > deadline)
                return new JsonObject { ["entries"] = new JsonArray([.. result.Page.Entries.Select(e => (JsonNode)KruxOS.Audit.AuditJson.ToJson(e))]) };
            await Task.Delay(200);
        }
    }
}
