using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Proxy;
using KruxOS.Actors.Vault;
using KruxOS.Core.Proxy;
using KruxOS.Dashboard.Tests.Support;
using KruxOS.Testing;
using KruxOS.Testing.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>A gateway whose Slack adapter points at a <see cref="FakeSlackServer"/> (long send window), with a chromium.</summary>
public sealed class ProxyBrowserGateway : IAsyncLifetime
{
    public const string Passphrase = "proxy browser passphrase 1";

    /// <summary>Long enough for the browser to find and cancel a write on a loaded 2-core machine.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(20);

    public FakeSlackServer Slack { get; private set; } = null!;
    public TestGateway Gateway { get; private set; } = null!;
    public Browser Browser { get; } = new();
    public string AgentToken { get; private set; } = "";
    public string OperatorToken { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        Slack = await FakeSlackServer.StartAsync();
        Slack.AddUser("U0ALICE", "alice", "Alice Adams");
        Slack.AddChannel("C0GENERAL", "general");
        Slack.Post("C0GENERAL", "U0ALICE", "hello");
        Gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test")), null,
            "--KruxOS:Slack:BaseUrl", Slack.BaseUrl, "--KruxOS:Slack:SendWindow", Window.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
            "--KruxOS:Slack:SyncInterval", "01:00:00");
        var clock = Stopwatch.StartNew();
        while (Gateway.Services.GetRequiredService<VaultAdmin>().LockState != VaultLockState.Unlocked)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException("the vault did not unlock");
            await Task.Delay(100);
        }
        var connected = await Gateway.Services.GetRequiredService<ProxyAdmin>().ConnectAsync("slack", null, Encoding.ASCII.GetBytes(Slack.Token), "operator",
            CancellationToken.None);
        Assert.True(connected.IsOk, connected.Error?.Message);
        AgentToken = await Gateway.CreateAgentAsync("poster");
        OperatorToken = await DashboardClient.UserTokenAsync(Gateway, "ops");
        await Browser.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        await Gateway.DisposeAsync();
        await Slack.DisposeAsync();
    }
}

/// <summary>
/// The <c>/proxy</c> page in a real chromium against the fake Slack server: an operator cancels a buffered
/// <c>slack.send</c> inside its window (the page, the API and the fake all agree it was never sent, also after the window),
/// and rolls back an executed one with its <b>Roll back</b> button (<c>chat.delete</c> reaches the fake once).
/// </summary>
public sealed class ProxyBrowserSpecs(ProxyBrowserGateway fixture) : IClassFixture<ProxyBrowserGateway>
{
    private TestGateway Gateway => fixture.Gateway;

    private async Task<string> SendAsync(string text)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(90) };
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = "slack.send", ["arguments"] = new JsonObject { ["channel"] = "C0GENERAL", ["text"] = text } },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{Gateway.GatewayPort}/rpc")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", fixture.AgentToken);
        using var response = await http.SendAsync(request);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return answer["result"]?["data"]?["write_id"]?.GetValue<string>() ?? throw new Xunit.Sdk.XunitException("slack.send failed: " + answer.ToJsonString());
    }

    private async Task<BufferedWriteState> WriteAsync(string id) =>
        (await Gateway.Services.GetRequiredService<ProxyAdmin>().WritesAsync("all", "slack", CancellationToken.None)).Value!.Single(w => w.Id.Value == id);

    [Fact]
    public async Task Should_cancel_a_buffered_send_from_the_page_so_slack_never_gets_it_and_roll_back_an_executed_one()
    {
        // arrange: two sends in their window; the operator's page
        var rolled = await SendAsync("posted, then rolled back from the page");
        var cancelled = await SendAsync("cancelled from the page");
        var context = await fixture.Browser.ContextAsync(Gateway.Dashboard);
        var page = await context.NewPageAsync();
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await Browser.SignInAsync(page, "/proxy", fixture.OperatorToken);

        // act: Cancel on the buffered write's row
        var row = page.Locator($"#pending tr[data-id='{cancelled}']");
        await row.WaitForAsync();
        Assert.Equal("buffered", await row.GetAttributeAsync("data-status"));
        await row.Locator("button.cancel").ClickAsync();

        // assert: the page, the API and (after the window) the fake Slack server
        await page.Locator(".toast", new() { HasText = cancelled + ": cancelled" }).WaitForAsync();
        await page.Locator($"#pending tr[data-id='{cancelled}']").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        using var client = new DashboardClient(Gateway);
        using (var signIn = await client.SignInAsync(fixture.OperatorToken)) Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        var (status, listed) = await client.ApiAsync(HttpMethod.Get, "/api/proxy/writes?status=cancelled");
        Assert.Equal(HttpStatusCode.OK, status);
        var entry = listed!["writes"]!.AsArray().Single(w => w!["write_id"]!.GetValue<string>() == cancelled)!;
        Assert.Equal("cancelled", entry["status"]!.GetValue<string>());
        Assert.Equal("user:ops", entry["finished_by"]!.GetValue<string>());
        var state = await WriteAsync(cancelled);
        var clock = Stopwatch.StartNew();
        while ((await WriteAsync(rolled)).Status != WriteStatus.Done || DateTimeOffset.UtcNow < state.BufferUntil + TimeSpan.FromSeconds(3))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), "the other send did not execute");
            await Task.Delay(200);
        }
        Assert.Equal(WriteStatus.Cancelled, (await WriteAsync(cancelled)).Status);
        Assert.DoesNotContain(fixture.Slack.BotMessages(), m => m.Text == "cancelled from the page");
        Assert.Contains(fixture.Slack.BotMessages(), m => m.Text == "posted, then rolled back from the page");
        Assert.Equal(1, fixture.Slack.Calls("chat.postMessage"));

        // act: the executed write's Roll back button (confirmed)
        await page.ReloadAsync();
        var executed = page.Locator($"#executed tr[data-id='{rolled}']");
        await executed.WaitForAsync();
        Assert.Equal(0, await page.Locator($"#executed tr[data-id='{cancelled}']").CountAsync());
        await executed.Locator("button.rollback").ClickAsync();

        // assert: rolled back once, shown as such, no button any more
        await page.Locator(".toast", new() { HasText = rolled + ": rolled back" }).WaitForAsync();
        await page.Locator($"#executed tr[data-id='{rolled}'] td.state", new() { HasText = "rolled back" }).WaitForAsync();
        Assert.Equal(0, await page.Locator($"#executed tr[data-id='{rolled}'] button.rollback").CountAsync());
        Assert.Equal(1, fixture.Slack.Calls("chat.delete"));
        Assert.DoesNotContain(fixture.Slack.BotMessages(), m => m.Text == "posted, then rolled back from the page");
        var after = await WriteAsync(rolled);
        Assert.Equal(RollbackApplyStatus.Applied, after.RollbackApplied!.Status);
        Assert.Equal("user:ops", after.RollbackApplied.By);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.Screenshots, "proxy-rollback.png"), FullPage = true });
    }
}
