using Xunit;
using System.Net;
using System.Net.Security;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Control;
using KruxOS.Testing;
using KruxOS.Testing.Fakes;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Gateway.Tests.Gmail;

/// <summary>
/// Gmail through a real gateway and real sockets: the operator connects through the dashboard's OAuth callback (PKCE
/// against the fake Google), the first sync fills the replica, and an agent on the Node MCP SDK uses every email
/// capability — reads cost no provider call, a send waits its window and reaches the fake once, a cancelled one never,
/// the 21st send in an hour is held for approval, bulk_delete is blocked. One gateway for the class.
/// </summary>
public sealed partial class GmailEndToEndSpecs(GmailEndToEndSpecs.Fixture gw) : IClassFixture<GmailEndToEndSpecs.Fixture>
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(3);

    public sealed class Fixture : IAsyncLifetime
    {
        public TestGateway Gateway { get; private set; } = null!;
        public FakeGoogle Google { get; private set; } = null!;
        public string Inbox1 { get; private set; } = "";
        public string Inbox2 { get; private set; } = "";

        public async ValueTask InitializeAsync()
        {
            Google = await FakeGoogle.StartAsync();
            Inbox1 = Google.AddMessage("Alice <alice@example.com>", Google.Account, "Quarterly report", "The numbers", "<p>The numbers</p>", withAttachment: true);
            Inbox2 = Google.AddMessage("bob@example.com", Google.Account, "Lunch", "Noon?", labels: ["INBOX"]);
            Google.AddMessage("carol@example.com", Google.Account, "Old", "archive me", labels: ["INBOX", "UNREAD"]);
            string w = Window.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
            Gateway = await TestGateway.StartAsync(null,
                "--KruxOS:Gmail:AuthorizeEndpoint", Google.AuthorizeEndpoint.AbsoluteUri, "--KruxOS:Gmail:TokenEndpoint", Google.TokenEndpoint.AbsoluteUri,
                "--KruxOS:Gmail:RevokeEndpoint", Google.RevokeEndpoint.AbsoluteUri, "--KruxOS:Gmail:ApiBase", Google.GmailBase.AbsoluteUri,
                "--KruxOS:Gmail:ClientId", Google.ClientId, "--KruxOS:Gmail:SendWindow", w, "--KruxOS:Gmail:DeleteWindow", w, "--KruxOS:Gmail:MoveWindow", w,
                "--KruxOS:Gmail:SyncInterval", "01:00:00");
            await Gateway.ControlAsync(ControlProtocol.Methods.VaultInit, new JsonObject { ["passphrase"] = "gmail e2e passphrase 1" });
        }

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Google.DisposeAsync();
        }

        private Task<Connected>? _connected;
        private readonly Lock _gate = new();

        /// <summary>Connects once for the class, through the dashboard (what the first spec asserts on).</summary>
        public Task<Connected> ConnectAsync()
        {
            lock (_gate) return _connected ??= ConnectThroughDashboardAsync(this);
        }
    }

    /// <summary>What the browser saw while connecting.</summary>
    public sealed record Connected(string HopPage, HttpStatusCode ToGoogle, Uri GoogleUrl, Uri Callback, HttpStatusCode Done, string DonePage, HttpStatusCode Replay);

    private static async Task<Connected> ConnectThroughDashboardAsync(Fixture f)
    {
        var g = f.Google;
        var gateway = f.Gateway;
        var admin = gateway.Services.GetRequiredService<ProxyAdmin>();
        // kruxos connect gmail → dashboard start link → Google → dashboard callback
        var connect = await admin.ConnectAsync("gmail", new Dictionary<string, string> { ["dashboard_url"] = gateway.Dashboard.AbsoluteUri },
            Encoding.UTF8.GetBytes(g.ClientSecret), "operator", CancellationToken.None);
        Assert.True(connect.IsOk, connect.Error?.Message);
        var start = new Uri(connect.Value!.AuthorizeUrl!);
        using var browser = new Browser(gateway);
        // a request without the dashboard session (the cross-site hop) is answered with a same-origin reload, never consumed
        var hop = await (await browser.Anonymous.GetAsync(start.PathAndQuery)).Content.ReadAsStringAsync();
        await browser.SignInAsync(await DashboardToken(gateway));
        var toGoogle = await browser.Client.GetAsync(start.PathAndQuery);
        var googleUrl = toGoogle.Headers.Location!;
        var fromGoogle = await browser.Anonymous.GetAsync(googleUrl);
        var callback = fromGoogle.Headers.Location!;
        var done = await browser.Client.GetAsync(callback.PathAndQuery);
        var page = await done.Content.ReadAsStringAsync();
        var replay = await browser.Client.GetAsync(callback.PathAndQuery);
        await Until(async () =>
        {
            var s = await admin.StatusAsync(CancellationToken.None);
            return s.IsOk && s.Value.Any(x => x.Name == "gmail" && x.ReplicaEntries == 3);
        }, "the first Gmail sync");
        return new Connected(hop, toGoogle.StatusCode, googleUrl, callback, done.StatusCode, page, replay.StatusCode);
    }

    [Fact]
    public async Task Should_connect_through_the_dashboard_callback_and_serve_every_email_capability_to_a_node_sdk_agent()
    {
        var g = gw.Google;
        var gateway = gw.Gateway;

        // --- the operator connects through the dashboard; the first sync fills the replica
        var c = await gw.ConnectAsync();
        Assert.Contains("http-equiv=\"refresh\"", c.HopPage, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, c.ToGoogle);
        Assert.StartsWith(g.AuthorizeEndpoint.AbsoluteUri, c.GoogleUrl.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal("/api/oauth/gmail/callback", c.Callback.AbsolutePath);
        Assert.True(c.Done == HttpStatusCode.OK, c.DonePage);
        Assert.Contains("Gmail connected", c.DonePage, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, c.Replay); // the same redirect again is refused
        await Quiet(gateway);

        // --- an agent reads: no provider call
        var token = await gateway.CreateAgentAsync("mailer-" + Guid.NewGuid().ToString("N")[..6]);
        var before = g.GmailCalls;
        var reads = await Node(token,
            "--call", "email.search", """{"query":"report"}""",
            "--call", "email.search", """{"label":"UNREAD","limit":10}""",
            "--call", "email.read", $$"""{"message_id":"{{gw.Inbox1}}"}""",
            "--call", "email.read", $$"""{"message_id":"{{gw.Inbox1}}"}""",
            "--call", "email.read", """{"message_id":"ffffffff"}""");
        var r = reads["results"]!.AsArray();
        Assert.Equal(gw.Inbox1, Body(r[0])["messages"]![0]!["id"]!.GetValue<string>());
        Assert.True(Body(r[0])["messages"]![0]!["has_attachments"]!.GetValue<bool>());
        Assert.Equal(2, Body(r[1])["total"]!.GetValue<int>());
        Assert.Equal("The numbers", Body(r[2])["body"]!["text_plain"]!.GetValue<string>());
        Assert.Equal(Body(r[2])["body"]!["cached_at"]!.GetValue<string>(), Body(r[3])["body"]!["cached_at"]!.GetValue<string>());
        Assert.True(r[4]!["isError"]!.GetValue<bool>());
        Assert.Contains("MessageNotFound", r[4]!["body"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(before + 1, g.GmailCalls); // one body fetch; searches and the second read came from the replica

        // --- writes: a send waits its window and arrives once; a cancelled send never; draft at once; delete and move buffered
        var writes = await Node(token,
            "--call", "email.send", """{"to":"bob@example.com","subject":"Once","body":"exactly once"}""",
            "--call", "email.send", """{"to":"bob@example.com","subject":"Never","body":"cancelled"}""",
            "--call", "email.draft", """{"to":"bob@example.com","subject":"Draft"}""",
            "--call", "email.delete", $$"""{"message_id":"{{gw.Inbox2}}"}""",
            "--call", "email.move", $$"""{"message_id":"{{gw.Inbox1}}","remove_labels":["UNREAD"]}""",
            "--call", "email.move", $$"""{"message_id":"{{gw.Inbox1}}"}""",
            "--call", "email.send", """{"to":"bob@example.com\r\nBcc: spy@evil.example","subject":"x"}""");
        var w = writes["results"]!.AsArray();
        var once = Body(w[0]);
        Assert.Equal("buffered", once["status"]!.GetValue<string>());
        Assert.StartsWith("wr-", once["write_id"]!.GetValue<string>(), StringComparison.Ordinal);
        var never = Body(w[1])["write_id"]!.GetValue<string>();
        Assert.StartsWith("r", Body(w[2])["draft_id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(1, g.DraftCount);
        Assert.Equal("buffered", Body(w[3])["status"]!.GetValue<string>());
        Assert.Equal("buffered", Body(w[4])["status"]!.GetValue<string>());
        Assert.Contains("NoLabelsProvided", w[5]!["body"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("InvalidInput", w[6]!["body"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain(g.SentRaw, m => m.Contains("Subject: Once", StringComparison.Ordinal)); // nothing leaves before its window

        var cancel = await Node(token, "--call", "proxy.cancel_write", $$"""{"write_id":"{{never}}"}""");
        Assert.False(cancel["results"]![0]!["isError"]!.GetValue<bool>(), cancel.ToJsonString());

        await Until(() => Task.FromResult(g.SentRaw.Any(m => m.Contains("Subject: Once", StringComparison.Ordinal)) && g.LabelsOf(gw.Inbox2)!.Contains("TRASH") && !g.LabelsOf(gw.Inbox1)!.Contains("UNREAD")),
            "the buffered writes to execute");
        await Task.Delay(Window * 2, TestContext.Current.CancellationToken);
        Assert.Single(g.SentRaw, m => m.Contains("Subject: Once", StringComparison.Ordinal));
        Assert.DoesNotContain(g.SentRaw, m => m.Contains("Subject: Never", StringComparison.Ordinal));

        // bulk_delete is never buffered for an agent: refused by policy, or held for a human's approval
        var bulk = (await Node(token, "--timeout", "10000", "--call", "email.bulk_delete", $$"""{"message_ids":["{{gw.Inbox1}}","{{gw.Inbox2}}"]}"""))["results"]![0]!;
        Assert.True(bulk["isError"]?.GetValue<bool>() == true || bulk["error"] is not null, bulk.ToJsonString());
    }

    [Fact]
    public async Task Should_hold_the_twenty_first_send_in_an_hour_for_approval()
    {
        var gateway = gw.Gateway;
        await gw.ConnectAsync();
        var token = await gateway.CreateAgentAsync("bulk-" + Guid.NewGuid().ToString("N")[..6]);
        var args = new List<string> { "--timeout", "15000" };
        for (var i = 0; i < 21; i++) args.AddRange(["--call", "email.send", $$"""{"to":"bob@example.com","subject":"n{{i}}"}"""]);
        var run = await Node(token, [.. args]);

        var results = run["results"]!.AsArray();
        Assert.All(results.Take(20), x => Assert.Equal("buffered", Body(x)["status"]!.GetValue<string>()));
        // the 21st is not buffered: it waits for a human (the client gives up waiting), and the queue holds it
        var held = results[20]!;
        Assert.True(held["error"] is not null || held.ToJsonString().Contains("Approval", StringComparison.Ordinal), held.ToJsonString());
        var queue = await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject());
        Assert.Contains("email.send", queue.ToJsonString(), StringComparison.Ordinal);
    }

    // waits until no write of any spec is pending, so provider call counts belong to this spec alone
    private static Task Quiet(TestGateway gateway) => Until(async () =>
    {
        var pending = await gateway.Services.GetRequiredService<ProxyAdmin>().WritesAsync("pending", "gmail", CancellationToken.None);
        return pending.IsOk && pending.Value.IsEmpty;
    }, "pending writes to finish");

    private static JsonNode Body(JsonNode? result)
    {
        Assert.NotNull(result);
        Assert.False(result["isError"]?.GetValue<bool>() == true, result.ToJsonString());
        return result["body"]!;
    }

    private async Task<JsonObject> Node(string token, params string[] calls)
    {
        var run = await NodeClients.RunAsync(token, ["--transport", "http", "--url", gw.Gateway.McpHttp.ToString(), .. calls]);
        Assert.True(run["connected"]!.GetValue<bool>(), run.ToJsonString());
        return run;
    }

    private static async Task<string> DashboardToken(TestGateway gateway) =>
        (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "gmail-op-" + Guid.NewGuid().ToString("N")[..6], ["role"] = "operator" }))["token"]!.GetValue<string>();

    private static async Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A browser stand-in: a cookie-keeping client of the dashboard (its CA only, no redirects) and one without cookies.</summary>
    internal sealed partial class Browser : IDisposable
    {
        private readonly TestGateway _gateway;

        public Browser(TestGateway gateway)
        {
            _gateway = gateway;
            Client = Make(new CookieContainer(), gateway);
            Anonymous = Make(null, gateway);
        }

        public HttpClient Client { get; }
        public HttpClient Anonymous { get; }

        public async Task SignInAsync(string token)
        {
            var page = await Client.GetStringAsync("/signin");
            var csrf = WebUtility.HtmlDecode(Csrf().Match(page).Groups[1].Value);
            using var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["_csrf"] = csrf, ["token"] = token, ["next"] = "/overview" }),
            };
            request.Headers.Add("Origin", $"https://127.0.0.1:{_gateway.DashboardPort}");
            using var response = await Client.SendAsync(request);
            Assert.True(response.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.SeeOther, response.StatusCode.ToString());
        }

        public void Dispose()
        {
            Client.Dispose();
            Anonymous.Dispose();
        }

        private static HttpClient Make(CookieContainer? cookies, TestGateway gateway) => new(new SocketsHttpHandler
        {
            CookieContainer = cookies ?? new CookieContainer(), UseCookies = cookies is not null, AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = TestTls.TrustOnly(gateway.Authority) },
        }) { BaseAddress = gateway.Dashboard, Timeout = TestTimeouts.Process };

        [GeneratedRegex("name=\"_csrf\" value=\"([^\"]*)\"")]
        private static partial Regex Csrf();
    }
}
