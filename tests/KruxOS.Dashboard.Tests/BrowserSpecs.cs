using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Dashboard.Tests.Support;
using KruxOS.Testing;
using Microsoft.Playwright;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>A gateway and a chromium for the browser specs.</summary>
public sealed class BrowserGateway : DashboardGateway
{
    public Browser Browser { get; } = new();

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await Browser.InitializeAsync();
        await NodeClients.EnsureInstalledAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The dashboard in a real chromium (Debian's, through Playwright), against a real gateway whose agent's calls come from
/// the Node MCP SDK: sign-in, the live approval queue releasing and refusing real held calls, live activity, the audit
/// page, forged posts, and an approval link. Screenshots at desktop and phone widths go to
/// <c>artifacts/dashboard-screenshots</c> under the test output directory.
/// </summary>
public sealed class BrowserSpecs(BrowserGateway fixture) : IClassFixture<BrowserGateway>
{
    private TestGateway Gateway => fixture.Gateway;

    private Task<JsonObject> HeldMcpCallAsync(string timezone) =>
        NodeClients.RunAsync(fixture.AgentToken, ["--transport", "ws", "--url", Gateway.McpWs.ToString(), "--call", "system__time", $"{{\"timezone\":\"{timezone}\"}}"]);

    private async Task<IPage> SignedInPageAsync(bool phone = false)
    {
        var context = await fixture.Browser.ContextAsync(Gateway.Dashboard, phone);
        var page = await context.NewPageAsync();
        await Browser.SignInAsync(page, "/approvals", fixture.OperatorToken);
        return page;
    }

    private static async Task ShotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.Screenshots, name + ".png"), FullPage = true });

    private static JsonNode SingleResult(JsonObject session)
    {
        Assert.True(session["connected"]!.GetValue<bool>(), session.ToJsonString());
        return Assert.Single(session["results"]!.AsArray())!;
    }

    [Fact]
    public async Task Should_show_a_held_mcp_call_live_and_release_it_with_its_real_result_when_approved()
    {
        // arrange: signed in, the queue open before the call exists
        var page = await SignedInPageAsync();
        await ShotAsync(page, "approvals-empty-desktop");
        // act: the agent's call arrives while the page is open (no reload)
        var call = HeldMcpCallAsync("Europe/Berlin");
        var row = page.Locator("details.approval[data-status=pending]", new() { HasText = "system.time" });
        await row.First.WaitForAsync();
        Assert.False(call.IsCompleted);
        await row.First.Locator("summary").ClickAsync();
        await page.Locator("details.approval[open] .args").First.WaitForAsync();
        Assert.Contains("Europe/Berlin", await page.Locator("details.approval[open] .args").First.InnerTextAsync());
        await ShotAsync(page, "approvals-pending-desktop");
        var id = await row.First.GetAttributeAsync("data-id");
        await page.Locator("details.approval[open] button.approve").First.ClickAsync();
        // assert: the page says so, the real call returned the real result, and the request leaves the pending queue
        await page.Locator(".toast", new() { HasText = id! }).WaitForAsync();
        var result = SingleResult(await call.WaitAsync(TestTimeouts.Process));
        await page.Locator($"details.approval[data-id='{id}']").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        Assert.False(result["isError"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal("Europe/Berlin", result["body"]!["timezone"]!.GetValue<string>());
        var decided = (await Gateway.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "all" }))["approvals"]!.AsArray();
        Assert.Contains(decided, a => a!["arguments"]!["timezone"]!.GetValue<string>() == "Europe/Berlin" && a["status"]!.GetValue<string>() is "consumed" or "approved");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_send_a_rejection_with_its_reason_to_the_agent()
    {
        var page = await SignedInPageAsync();
        var call = HeldMcpCallAsync("Asia/Tokyo");
        var row = page.Locator("details.approval[data-status=pending]", new() { HasText = "system.time" });
        await row.First.WaitForAsync();
        await row.First.Locator("summary").ClickAsync();
        await page.Locator("details.approval[open] input.reason").First.FillAsync("not during the freeze");
        await page.Locator("details.approval[open] button.reject").First.ClickAsync();
        var result = SingleResult(await call.WaitAsync(TestTimeouts.Process));
        Assert.True(result["isError"]!.GetValue<bool>());
        Assert.Equal("ApprovalRejected", result["body"]!["error"]!.GetValue<string>());
        Assert.Equal("not during the freeze", result["body"]!["context"]!["reason"]!.GetValue<string>());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_show_a_call_live_on_activity_and_then_in_the_audit_with_the_chain_verified()
    {
        // arrange: the activity page open, filtered on the agent
        var page = await SignedInPageAsync();
        await page.GotoAsync("/activity");
        await page.Locator("#live").WaitForAsync();
        await page.FillAsync("input[name=agent]", DashboardGateway.Agent);
        await page.ClickAsync("form.filters button");
        await page.Locator("#live").WaitForAsync();
        await Task.Delay(500); // the new stream subscribes
        // act: a real (autonomous) call
        await HeldCalls.InvokeAsync(Gateway, fixture.AgentToken, "system.health", []);
        // assert: it appears without a reload
        await page.Locator("#events li", new() { HasText = "system.health" }).First.WaitForAsync();
        await ShotAsync(page, "activity-desktop");
        await page.GotoAsync("/audit?agent=bot&capability=system.health");
        await page.Locator("#audit-entries tr.entry", new() { HasText = "system.health" }).First.WaitForAsync();
        Assert.Equal("Chain integrity: verified", await page.Locator("#integrity").InnerTextAsync());
        await page.Locator("#audit-entries tr.entry").First.ClickAsync();
        Assert.Contains("\"capability\": \"system.health\"", await page.Locator("#audit-entries tr.detail pre").First.InnerTextAsync());
        await ShotAsync(page, "audit-desktop");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_refuse_a_forged_post_from_the_page_and_a_cross_site_form_post()
    {
        // arrange: a signed-in browser
        var page = await SignedInPageAsync();
        // act 1: a script on the dashboard's own origin posting without the anti-forgery token
        var status = await page.EvaluateAsync<int>(
            "async () => (await fetch('/api/agents', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'forged-one' }) })).status");
        // act 2: a page on another site auto-submitting a form to the dashboard in the same browser
        await page.Context.RouteAsync("https://evil.example/**", route => route.FulfillAsync(new RouteFulfillOptions
        {
            ContentType = "text/html",
            Body = $"<form id=f method=post action='{Gateway.Dashboard}api/agents/bot/kill'></form><script>document.getElementById('f').submit()</script>",
        }));
        var evil = await page.Context.NewPageAsync();
        var answer = await evil.RunAndWaitForResponseAsync(() => evil.GotoAsync("https://evil.example/"), r => r.Url.Contains("/api/agents/bot/kill", StringComparison.Ordinal));
        // assert
        Assert.Equal(403, status);
        Assert.True(answer.Status is 401 or 403, $"cross-site post answered {answer.Status}");
        Assert.DoesNotContain("forged-one", (await Gateway.ControlAsync(ControlProtocol.Methods.AgentList)).ToJsonString());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_decide_through_an_approval_link_once_at_phone_width_and_never_again()
    {
        // arrange: a held call and its link, opened in a signed-out phone browser
        var call = HeldMcpCallAsync("America/New_York");
        string? id = null;
        for (var i = 0; i < 300 && id is null; i++)
        {
            var pending = (await Gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray();
            id = pending.FirstOrDefault(a => a!["arguments"]!["timezone"]!.GetValue<string>() == "America/New_York")?["id"]?.GetValue<string>();
            if (id is null) await Task.Delay(100);
        }
        Assert.NotNull(id);
        var url = (await Gateway.ControlAsync(ControlProtocol.Methods.ApprovalLink, new JsonObject { ["id"] = id }))["url"]!.GetValue<string>();
        var context = await fixture.Browser.ContextAsync(Gateway.Dashboard, phone: true);
        var phone = await context.NewPageAsync();
        // act
        await phone.GotoAsync(url);
        Assert.Contains("America/New_York", await phone.Locator("pre.args").InnerTextAsync());
        Assert.Contains("system.time", await phone.Locator("dl.facts").InnerTextAsync());
        await ShotAsync(phone, "approval-link-phone");
        await phone.ClickAsync("#link-approve");
        await phone.Locator("#link-result").WaitForAsync();
        var result = SingleResult(await call.WaitAsync(TestTimeouts.Process));
        Assert.False(result["isError"]!.GetValue<bool>(), result.ToJsonString());
        // assert: never again
        var again = await phone.GotoAsync(url);
        Assert.Equal(410, again!.Status);
        Assert.Contains("already been used", await phone.Locator("#link-refused").InnerTextAsync());
        await context.CloseAsync();
    }

    [Fact]
    public async Task Should_lay_out_every_page_at_phone_width()
    {
        var page = await SignedInPageAsync(phone: true);
        foreach (var path in new[] { "overview", "approvals", "activity", "audit", "agents", "agents/bot" })
        {
            await page.GotoAsync("/" + path);
            await page.Locator("#content > :not(.muted)").First.WaitForAsync();
            // nothing wider than the screen: no horizontal scrolling of the page itself
            var overflow = await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > window.innerWidth + 1");
            Assert.False(overflow, $"/{path} is wider than a phone screen");
            await ShotAsync(page, path.Replace('/', '-') + "-phone");
        }
        await page.GotoAsync("/overview");
        await page.SetViewportSizeAsync(1280, 860);
        await page.Locator("#health").WaitForAsync();
        await ShotAsync(page, "overview-desktop");
        await page.Context.CloseAsync();
    }
}
