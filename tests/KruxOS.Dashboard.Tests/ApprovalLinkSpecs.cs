using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Dashboard.Tests.Support;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>
/// Approval links (<c>kruxos approve link</c>): one request, one decision, a short life, nothing else. Each spec attacks
/// the link the way someone who got hold of it (or of an old one) would.
/// </summary>
public sealed class ApprovalLinkSpecs(DashboardGateway fixture) : IClassFixture<DashboardGateway>
{
    private async Task<(string Id, string Path)> LinkAsync(string timezone)
    {
        var id = await HeldCalls.RpcAsync(fixture.Gateway, fixture.AgentToken, "system.time", new JsonObject { ["timezone"] = timezone });
        var link = await fixture.Gateway.ControlAsync(ControlProtocol.Methods.ApprovalLink, new JsonObject { ["id"] = id });
        var url = new Uri(link["url"]!.GetValue<string>());
        Assert.Equal("https", url.Scheme);
        Assert.Equal(fixture.Gateway.DashboardPort, url.Port);
        Assert.True(link["single_use"]!.GetValue<bool>());
        return (id, url.AbsolutePath);
    }

    [Fact]
    public async Task Should_open_one_request_decide_it_once_and_then_never_again()
    {
        // arrange
        var (id, path) = await LinkAsync("UTC");
        using var browser = new DashboardClient(fixture.Gateway);
        // act
        var page = await browser.TextAsync(path);
        using var decided = await browser.PostFormAsync(path, new() { ["decision"] = "approve" }, browser.Origin);
        var answer = await decided.Content.ReadAsStringAsync();
        using var replay = await browser.PostFormAsync(path, new() { ["decision"] = "reject" }, browser.Origin);
        using var reopen = await browser.GetAsync(path);
        // assert
        Assert.Contains(id, page);
        Assert.Contains("system.time", page);
        Assert.Equal(HttpStatusCode.OK, decided.StatusCode);
        Assert.Contains("approved", answer);
        Assert.Equal(HttpStatusCode.Gone, replay.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, reopen.StatusCode);
        Assert.Contains("already been used", await reopen.Content.ReadAsStringAsync());
        var shown = await fixture.Gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id });
        Assert.Equal("approved", shown["status"]!.GetValue<string>());
        Assert.Equal("link:root", shown["decided_by"]!.GetValue<string>());
        Assert.Equal("approval_link", shown["decider"]!["credential_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_be_useless_for_anything_but_its_own_request()
    {
        // arrange: a link for one request, and another request pending beside it
        var (id, path) = await LinkAsync("Europe/Paris");
        var other = await HeldCalls.RpcAsync(fixture.Gateway, fixture.AgentToken, "system.time", new JsonObject { ["timezone"] = "Asia/Tokyo" });
        var token = path["/link/".Length..];
        using var browser = new DashboardClient(fixture.Gateway);
        // act + assert: not a session, not a bearer, not a page key
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.ApiAsync(HttpMethod.Get, "/api/approvals", bearer: token)).Status);
        browser.Cookies.Add(fixture.Gateway.Dashboard, new Cookie("__Host-kruxos_session", token));
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.ApiAsync(HttpMethod.Post, $"/api/approvals/{other}/approve", csrf: token, origin: browser.Origin)).Status);
        using var page = await browser.GetAsync("/approvals");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        // altered: another approval id in the claims, or any byte of the signature changed
        var parts = token.Split('.');
        var claims = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(parts[1].Replace('-', '+').Replace('_', '/').PadRight((parts[1].Length + 3) / 4 * 4, '=')));
        var forgedClaims = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(claims.Replace(id, other, StringComparison.Ordinal))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        using var forged = await browser.PostFormAsync($"/link/{parts[0]}.{forgedClaims}.{parts[2]}", new() { ["decision"] = "approve" }, browser.Origin);
        Assert.Equal(HttpStatusCode.Gone, forged.StatusCode);
        var flipped = parts[2][..^2] + (parts[2][^2] == 'A' ? 'B' : 'A') + parts[2][^1];
        using var bad = await browser.PostFormAsync($"/link/{parts[0]}.{parts[1]}.{flipped}", new() { ["decision"] = "approve" }, browser.Origin);
        Assert.Equal(HttpStatusCode.Gone, bad.StatusCode);
        // a foreign page posting the real link is refused and does not spend it
        using var foreign = await browser.PostFormAsync(path, new() { ["decision"] = "approve" }, "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Equal("pending", await HeldCalls.StatusAsync(fixture.Gateway, id));
        Assert.Equal("pending", await HeldCalls.StatusAsync(fixture.Gateway, other));
        // the link itself still works, for its own request only
        using var real = await browser.PostFormAsync(path, new() { ["decision"] = "reject", ["reason"] = "by phone" }, browser.Origin);
        Assert.Equal(HttpStatusCode.OK, real.StatusCode);
        Assert.Equal("rejected", await HeldCalls.StatusAsync(fixture.Gateway, id));
        Assert.Equal("pending", await HeldCalls.StatusAsync(fixture.Gateway, other));
    }

    [Fact]
    public async Task Should_refuse_a_link_for_a_request_that_is_not_pending_or_unknown()
    {
        var (id, path) = await LinkAsync("America/New_York");
        using var browser = new DashboardClient(fixture.Gateway);
        using var decided = await browser.PostFormAsync(path, new() { ["decision"] = "approve" }, browser.Origin);
        var again = await fixture.Gateway.Services.GetControlErrorAsync(ControlProtocol.Methods.ApprovalLink, new JsonObject { ["id"] = id });
        Assert.Equal("Conflict", again);
        var unknown = await fixture.Gateway.Services.GetControlErrorAsync(ControlProtocol.Methods.ApprovalLink, new JsonObject { ["id"] = "appr-0000000000000000" });
        Assert.Equal("NotFound", unknown);
    }
}

internal static class ControlErrors
{
    /// <summary>The error type a control method answers with (it must fail).</summary>
    public static async Task<string> GetControlErrorAsync(this IServiceProvider services, string method, JsonObject parameters)
    {
        var commands = (KruxOS.Gateway.Control.ControlCommands)services.GetService(typeof(KruxOS.Gateway.Control.ControlCommands))!;
        var response = ControlResponse.Parse(await commands.ExecuteAsync(null, method, parameters, CancellationToken.None));
        Assert.False(response.Ok);
        return response.ErrorType!;
    }
}
