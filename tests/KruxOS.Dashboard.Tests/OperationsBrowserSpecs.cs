using System.Text.Json.Nodes;
using KruxOS.Dashboard.Tests.Support;
using KruxOS.Testing;
using Microsoft.Playwright;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>The secrets, alerts and pause gateway with a chromium.</summary>
public sealed class OperationsBrowserGateway : OperationsGateway
{
    public Browser Browser { get; } = new();

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await Browser.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The secrets page, the alerts badge and critical banner, the alerts list and pause/resume in a real chromium: a typed
/// value leaves the page once and is never shown again, agent-written alert text stays text, and a paused agent's calls
/// are refused until it is resumed from the page.
/// </summary>
public sealed class OperationsBrowserSpecs(OperationsBrowserGateway fixture) : IClassFixture<OperationsBrowserGateway>
{
    private TestGateway Gateway => fixture.Gateway;

    private async Task<IPage> SignedInPageAsync(string path, bool phone = false)
    {
        var context = await fixture.Browser.ContextAsync(Gateway.Dashboard, phone);
        var page = await context.NewPageAsync();
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await Browser.SignInAsync(page, path, fixture.OperatorToken);
        return page;
    }

    private static async Task ShotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.Screenshots, name + ".png"), FullPage = true });

    /// <summary>Everything the page holds: its markup and every form field's current value.</summary>
    private static Task<string> EverythingOnAsync(IPage page) => page.EvaluateAsync<string>(
        "() => document.documentElement.outerHTML + '\\n' + [...document.querySelectorAll('input, textarea, select')].map(e => e.value).join('\\n')");

    [Fact]
    public async Task Should_add_rotate_and_revoke_a_secret_on_the_page_without_ever_showing_the_typed_value_again()
    {
        // arrange
        var page = await SignedInPageAsync("/secrets");
        await page.Locator("#vault-state").WaitForAsync();
        var name = "dash-key-" + Guid.NewGuid().ToString("N")[..8];
        var (first, second) = ("sk_typed_first_" + Guid.NewGuid().ToString("N"), "sk_typed_second_" + Guid.NewGuid().ToString("N"));

        // act: an add the vault refuses (a name it does not take) leaves the value nowhere on the page either
        await page.FillAsync("#add-secret input[name=name]", "not a name!");
        await page.FillAsync("#secret-value", first);
        await page.ClickAsync("#add-secret button[type=submit]");
        await page.Locator(".toast.error").First.WaitForAsync();
        var afterRefusal = await EverythingOnAsync(page);
        // act: add
        await page.FillAsync("#add-secret input[name=name]", name);
        await page.FillAsync("#add-secret input[name=capabilities]", "network.credentialed_request");
        await page.FillAsync("#add-secret input[name=hosts]", "api.example.com");
        await page.FillAsync("#secret-value", first);
        Assert.Equal("password", await page.GetAttributeAsync("#secret-value", "type"));
        await page.ClickAsync("#add-secret button[type=submit]");
        var row = page.Locator($"#secrets tr[data-name='{name}']");
        await row.WaitForAsync();
        await page.Locator(".toast", new() { HasText = name + ": added" }).WaitForAsync();
        await ShotAsync(page, "secrets-desktop");
        var afterAdd = await EverythingOnAsync(page);
        // act: rotate
        await row.Locator("button.rotate").ClickAsync();
        await page.FillAsync("#rotate-value", second);
        await page.Locator("form.rotate button[type=submit]").ClickAsync();
        await page.Locator(".toast", new() { HasText = name + ": rotated (version 2)" }).WaitForAsync();
        var afterRotate = await EverythingOnAsync(page);
        // act: revoke (the confirmation is accepted)
        await page.Locator($"#secrets tr[data-name='{name}'] button.revoke").ClickAsync();
        await page.Locator(".toast", new() { HasText = name + ": revoked" }).WaitForAsync();
        await page.CheckAsync("#include-revoked");
        await page.Locator($"#secrets tr[data-name='{name}'] .badge.revoked").WaitForAsync();

        // assert: stored (version 2, then revoked), and neither value on the page after it was sent
        var listed = (await Gateway.ControlAsync(KruxOS.Core.Control.ControlProtocol.Methods.VaultList, new JsonObject { ["include_revoked"] = true }))["secrets"]!.AsArray();
        var stored = listed.Single(s => s!["name"]!.GetValue<string>() == name)!;
        Assert.Equal(2, stored["version"]!.GetValue<int>());
        Assert.True(stored["revoked"]!.GetValue<bool>());
        foreach (var text in new[] { afterRefusal, afterAdd, afterRotate, await EverythingOnAsync(page) })
        {
            Assert.DoesNotContain(first, text, StringComparison.Ordinal);
            Assert.DoesNotContain(second, text, StringComparison.Ordinal);
        }
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_show_a_critical_alert_as_text_in_a_banner_on_every_page_until_it_is_acknowledged()
    {
        // arrange: an agent raises a critical alert whose message is markup meant to run in the operator's browser
        var marker = "pwn" + Guid.NewGuid().ToString("N")[..8];
        var message = $"<img src=x id={marker} onerror=\"document.title='{marker}'\"><a id={marker}-link href=/signout>click</a> disk full";
        var sent = await HeldCalls.InvokeAsync(Gateway, fixture.AgentToken, "alerts.send", new JsonObject { ["message"] = message, ["severity"] = "critical" });
        Assert.True(sent["result"]?["error"] is null && sent["error"] is null, sent.ToJsonString());
        var page = await SignedInPageAsync("/overview");

        // act + assert: the banner and badge on every page, the text shown as written, no element made of it
        foreach (var path in new[] { "/overview", "/approvals", "/agents", "/secrets", "/audit" })
        {
            await page.GotoAsync(path);
            var banner = page.Locator("#critical-banner");
            await banner.Locator("li", new() { HasText = marker }).WaitForAsync();
            Assert.Contains(message, await banner.InnerTextAsync(), StringComparison.Ordinal);
            Assert.NotEqual("0", await page.Locator("#alerts-badge").InnerTextAsync());
            Assert.Equal(0, await page.Locator($"#{marker}, #{marker}-link").CountAsync());
            Assert.NotEqual(marker, await page.TitleAsync());
        }
        await ShotAsync(page, "critical-banner-desktop");

        // act: acknowledge it on the alerts page
        await page.GotoAsync("/alerts");
        var row = page.Locator("#alerts tr[data-status=pending]", new() { HasText = marker });
        await row.WaitForAsync();
        await ShotAsync(page, "alerts-desktop");
        await row.Locator("button.ack").ClickAsync();

        // assert: recorded as the operator, and the banner goes (no other critical alert is pending in this class)
        await page.Locator(".toast", new() { HasText = "acknowledged" }).WaitForAsync();
        await page.Locator("#critical-banner").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        var acknowledged = (await Gateway.ControlAsync(KruxOS.Core.Control.ControlProtocol.Methods.AlertList, new JsonObject { ["status"] = "acknowledged" }))["alerts"]!.AsArray();
        Assert.Equal("user:ops", acknowledged.Single(a => a!["message"]!.GetValue<string>() == message)!["acknowledged_by"]!.GetValue<string>());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_pause_an_agent_from_the_agents_page_so_its_calls_fail_and_resume_it()
    {
        // arrange
        var agent = "paused-" + Guid.NewGuid().ToString("N")[..6];
        var token = await Gateway.CreateAgentAsync(agent);
        var page = await SignedInPageAsync("/agents");
        var row = page.Locator($"#agents tr[data-name='{agent}']");

        // act: pause (the confirmation is accepted)
        await row.Locator("button.pause").ClickAsync();
        await row.Locator(".badge.paused").WaitForAsync();
        await ShotAsync(page, "agents-paused-desktop");
        var whilePaused = await HeldCalls.InvokeAsync(Gateway, token, "system.health", []);
        await row.Locator("button.resume").ClickAsync();
        await row.Locator(".badge.paused").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        var afterResume = await HeldCalls.InvokeAsync(Gateway, token, "system.health", []);

        // assert
        Assert.Contains("SessionPaused", whilePaused.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("SessionPaused", afterResume.ToJsonString(), StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Should_lay_out_the_secrets_and_alerts_pages_at_phone_width()
    {
        var page = await SignedInPageAsync("/secrets", phone: true);
        foreach (var path in new[] { "secrets", "alerts" })
        {
            await page.GotoAsync("/" + path);
            await page.Locator("#content > :not(.muted)").First.WaitForAsync();
            var overflow = await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > window.innerWidth + 1");
            Assert.False(overflow, $"/{path} is wider than a phone screen");
            await ShotAsync(page, path + "-phone");
        }
        await page.Context.CloseAsync();
    }
}
