using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Proxy;
using KruxOS.Actors.Vault;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Core.Proxy;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Tests.Audit;
using KruxOS.Gateway.Tests.Comms;
using KruxOS.Proxy;
using KruxOS.Proxy.Gmail;
using KruxOS.Testing;
using KruxOS.Testing.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Proxy;

/// <summary>
/// Operator rollback of executed proxy writes (ADR 0065) through a real gateway whose Slack and Gmail adapters point at
/// the fake servers: <c>slack.send</c> rolled back reaches the fake's <c>chat.delete</c> exactly once however often (and
/// however concurrently) it is asked for; <c>email.delete</c> is untrashed; <c>email.move</c> has exactly its label changes
/// reversed; a write without a point, an unknown id and an expired point are refused with their own errors; agents cannot
/// ask for a rollback (no capability, no User API access); a rollback the audit log cannot record is refused and changes
/// nothing. One gateway, one scenario (the suite stays fast).
/// </summary>
public sealed class ProxyRollbackSpecs
{
    private const string Passphrase = "rollback specs passphrase 1";
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan SlackRetention = TimeSpan.FromSeconds(40);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Should_apply_each_rollback_once_within_its_retention_for_operators_only_and_only_when_audited()
    {
        // arrange: the fakes, a gateway on them, both services connected and synced, an agent and the operator's tokens
        await using var slack = await FakeSlackServer.StartAsync();
        slack.AddUser("U0ALICE", "alice", "Alice Adams");
        slack.AddChannel("C0GENERAL", "general");
        slack.Post("C0GENERAL", "U0ALICE", "hello");
        await using var google = await FakeGoogle.StartAsync();
        var doomed = google.AddMessage("alice@example.com", google.Account, "Invoice", "pay me", labels: ["INBOX", "IMPORTANT"]);
        var moved = google.AddMessage("bob@example.com", google.Account, "Lunch", "noon?", labels: ["INBOX", "UNREAD"]);
        var disk = new FailingAuditDisk();
        var w = Window.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        await using var gateway = await TestGateway.StartCustomizedAsync(b =>
            {
                b.Services.AddSingleton<IAuditFileSystem>(disk);
                b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test"));
            }, null,
            "--KruxOS:Audit:FailMode", "Halt", "--KruxOS:Audit:RetryInterval", "00:00:01",
            "--KruxOS:Slack:BaseUrl", slack.BaseUrl, "--KruxOS:Slack:SendWindow", w, "--KruxOS:Slack:SyncInterval", "01:00:00",
            "--KruxOS:Slack:RollbackRetention", SlackRetention.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
            "--KruxOS:Gmail:AuthorizeEndpoint", google.AuthorizeEndpoint.AbsoluteUri, "--KruxOS:Gmail:TokenEndpoint", google.TokenEndpoint.AbsoluteUri,
            "--KruxOS:Gmail:RevokeEndpoint", google.RevokeEndpoint.AbsoluteUri, "--KruxOS:Gmail:ApiBase", google.GmailBase.AbsoluteUri,
            "--KruxOS:Gmail:ClientId", google.ClientId, "--KruxOS:Gmail:SendWindow", w, "--KruxOS:Gmail:DeleteWindow", w, "--KruxOS:Gmail:MoveWindow", w,
            "--KruxOS:Gmail:SyncInterval", "01:00:00");
        var services = gateway.Services;
        await Until(() => Task.FromResult(services.GetRequiredService<VaultAdmin>().LockState == VaultLockState.Unlocked), "the vault did not unlock");
        var admin = services.GetRequiredService<ProxyAdmin>();
        var connected = await admin.ConnectAsync("slack", null, Encoding.ASCII.GetBytes(slack.Token), "operator", Ct);
        Assert.True(connected.IsOk, connected.Error?.Message);
        var (access, refresh) = google.IssueTokens();
        var credential = new GmailCredential(access, refresh, DateTimeOffset.UtcNow.AddHours(1), GmailOptions.Scopes, google.Account, google.ClientId, google.ClientSecret);
        var gmailDone = await services.GetRequiredService<IServiceConnections>().CompleteAsync(ServiceName.Parse("gmail"), google.Account, credential.ToBytes(), Ct);
        Assert.True(gmailDone.Ok, gmailDone.Message);
        var proxy = services.GetRequiredService<IServiceProxy>();
        foreach (var s in new[] { "slack", "gmail" })
            await Until(async () => (await proxy.Replica(ServiceName.Parse(s)).ReadSyncStateAsync(Ct)).LastSyncAt is not null, $"the first {s} sync did not finish");
        var agent = await gateway.CreateAgentAsync("writer");
        var opToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "ops", ["role"] = "operator" }))["token"]!.GetValue<string>();
        var viewerToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "viewer" }))["token"]!.GetValue<string>();

        // act: the agent's writes, each waiting out its window, then executed
        async Task<string> WriteAsync(string capability, JsonObject args) =>
            (await Rpc.OkAsync(gateway.GatewayPort, agent, capability, args))["write_id"]!.GetValue<string>();
        var sent = await WriteAsync("slack.send", new JsonObject { ["channel"] = "C0GENERAL", ["text"] = "oops, wrong channel" });
        var kept = await WriteAsync("slack.send", new JsonObject { ["channel"] = "C0GENERAL", ["text"] = "this one stays" });
        var trashed = await WriteAsync("email.delete", new JsonObject { ["message_id"] = doomed });
        var relabelled = await WriteAsync("email.move", new JsonObject
            { ["message_id"] = moved, ["add_labels"] = new JsonArray("STARRED", "INBOX"), ["remove_labels"] = new JsonArray("UNREAD", "SPAM") });
        var mailed = await WriteAsync("email.send", new JsonObject { ["to"] = "carol@example.com", ["subject"] = "hi", ["body"] = "no rollback for me" });
        string[] all = [sent, kept, trashed, relabelled, mailed];
        await Until(async () => (await admin.WritesAsync("done", null, Ct)).Value!.Count(x => all.Contains(x.Id.Value)) == all.Length, "the writes did not execute");
        Assert.Equal(2, slack.BotMessages().Count);
        Assert.Contains("TRASH", google.LabelsOf(doomed)!);
        Assert.Equal(["INBOX", "STARRED"], google.LabelsOf(moved)!.Order(StringComparer.Ordinal));

        // assert: an agent cannot roll back: there is no such capability, and the User API refuses agent and viewer tokens
        var asAgent = await Rpc.ErrorAsync(gateway.GatewayPort, agent, "proxy.rollback", new JsonObject { ["write_id"] = sent });
        Assert.Contains("CapabilityNotFound", asAgent.ToJsonString(), StringComparison.Ordinal);
        var (agentApi, _) = await UserApiAsync(gateway, $"/api/proxy/writes/{sent}/rollback", agent);
        Assert.True(agentApi is 401 or 403, $"an agent token got {agentApi} from the User API");
        var (viewerApi, viewerBody) = await UserApiAsync(gateway, $"/api/proxy/writes/{sent}/rollback", viewerToken);
        Assert.Equal(403, viewerApi);
        Assert.Equal("Forbidden", viewerBody!["error_type"]!.GetValue<string>());
        Assert.Equal(0, slack.Calls("chat.delete"));

        // assert: while the audit log refuses entries, the rollback is refused and nothing reaches Slack
        disk.Fail = true;
        try
        {
            await Rpc.InvokeAsync(gateway.GatewayPort, agent, "system.time");
            var refused = await ControlAsync(gateway, ControlProtocol.Methods.ProxyRollback, new JsonObject { ["id"] = sent });
            Assert.False(refused["ok"]!.GetValue<bool>(), refused.ToJsonString());
            Assert.Equal("audit_error", refused["error"]!["type"]!.GetValue<string>());
        }
        finally
        {
            disk.Fail = false;
        }
        Assert.Equal(0, slack.Calls("chat.delete"));
        Assert.Null((await admin.WritesAsync("done", null, Ct)).Value!.Single(x => x.Id.Value == sent).RollbackApplied);

        // act + assert: slack.send rolled back from the User API; repeated and concurrent requests on every surface get the
        // first result and reach Slack no more
        await Until(async () => (await UserApiAsync(gateway, $"/api/proxy/writes/{sent}/rollback", opToken)).Status != 500, "the audit log did not recover");
        Assert.Equal(1, slack.Calls("chat.delete"));
        Assert.DoesNotContain(slack.BotMessages(), m => m.Text == "oops, wrong channel");
        Assert.Contains(slack.BotMessages(), m => m.Text == "this one stays");
        var again = await Task.WhenAll(
            UserApiAsync(gateway, $"/api/proxy/writes/{sent}/rollback", opToken),
            ControlAsync(gateway, ControlProtocol.Methods.ProxyRollback, new JsonObject { ["id"] = sent }).ContinueWith(t => (200, (JsonNode?)t.Result["result"]), Ct),
            admin.RollbackAsync(sent, "operator", Ct).ContinueWith(t => (t.Result.IsOk ? 200 : 500, (JsonNode?)KruxOS.Gateway.Control.ProxyJson.Write(t.Result.Value!)), Ct));
        Assert.All(again, a =>
        {
            Assert.Equal(200, a.Item1);
            Assert.Equal("applied", a.Item2!["rollback_status"]!.GetValue<string>());
            Assert.False(a.Item2!["rollback_available"]!.GetValue<bool>());
        });
        Assert.Equal(1, slack.Calls("chat.delete"));
        var state = (await admin.WritesAsync("done", "slack", Ct)).Value!.Single(x => x.Id.Value == sent);
        Assert.Equal(1, state.RollbackApplied!.Attempts);
        Assert.Equal("user:ops", state.RollbackApplied.By);

        // act + assert: email.delete → untrash; email.move → exactly its own label changes reversed (INBOX was there, SPAM was not)
        var untrashed = await admin.RollbackAsync(trashed, "cli:root", Ct);
        Assert.True(untrashed.IsOk, untrashed.Error?.Message);
        Assert.Equal(1, google.Calls("gmail.messages.untrash"));
        Assert.DoesNotContain("TRASH", google.LabelsOf(doomed)!);
        Assert.Contains("INBOX", google.LabelsOf(doomed)!);
        // (this one through the operator's own command, over the control socket)
        var reversed = await ProcessRunner.Kruxos(gateway, "proxy", "rollback", relabelled);
        Assert.True(reversed.ExitCode == 0, reversed.StdErr);
        Assert.StartsWith($"Rolled back {relabelled} (email.move, done)", reversed.StdOut, StringComparison.Ordinal);
        Assert.Equal(["INBOX", "UNREAD"], google.LabelsOf(moved)!.Order(StringComparer.Ordinal));
        var modifies = google.Calls("gmail.messages.modify");
        Assert.True((await admin.RollbackAsync(relabelled, "cli:root", Ct)).IsOk);
        Assert.True((await admin.RollbackAsync(trashed, "cli:root", Ct)).IsOk);
        Assert.Equal(modifies, google.Calls("gmail.messages.modify"));
        Assert.Equal(1, google.Calls("gmail.messages.untrash"));

        // assert: what cannot be rolled back says why, and calls nobody
        var noPoint = await admin.RollbackAsync(mailed, "cli:root", Ct);
        Assert.Equal("NoRollbackPoint", noPoint.Error?.Code);
        Assert.Contains("email.send leaves no rollback point", noPoint.Error!.Message, StringComparison.Ordinal);
        Assert.Equal("NotFound", (await admin.RollbackAsync("wr-0000000000000000000000000000000a", "cli:root", Ct)).Error?.Code);
        Assert.Equal("invalid_input", (await admin.RollbackAsync("../../etc", "cli:root", Ct)).Error?.Code);
        var buffered = await WriteAsync("slack.send", new JsonObject { ["channel"] = "C0GENERAL", ["text"] = "still in its window" });
        var early = await admin.RollbackAsync(buffered, "cli:root", Ct);
        Assert.Equal("NotRollbackable", early.Error?.Code);
        Assert.Equal("buffered", early.Error!.Status);
        Assert.True((await admin.CancelAsync(buffered, "cli:root", Ct)).IsOk);

        // assert: the audit log holds each request before its outcome, attributed to the operator
        var entries = await EntriesAsync(gateway, ProxyAdmin.RollbackAction, e => e.Inputs.GetProperty("write_id").GetString() == sent, 3);
        Assert.Equal(AuditStatus.Pending, entries[0].Status);
        Assert.Contains(entries, e => e.Status == AuditStatus.Success && e.Actor.Name == "ops");

        // act + assert: once its retention has ended, the other send cannot be rolled back, and Slack is not called
        var keptState = (await admin.WritesAsync("done", "slack", Ct)).Value!.Single(x => x.Id.Value == kept);
        var waitFor = keptState.RollbackKeptUntil!.Value - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200);
        if (waitFor > TimeSpan.Zero) await Task.Delay(waitFor, Ct);
        var expired = await ControlAsync(gateway, ControlProtocol.Methods.ProxyRollback, new JsonObject { ["id"] = kept });
        Assert.False(expired["ok"]!.GetValue<bool>(), expired.ToJsonString());
        Assert.Equal("RollbackExpired", expired["error"]!["type"]!.GetValue<string>());
        Assert.Equal(1, slack.Calls("chat.delete"));
        Assert.Contains(slack.BotMessages(), m => m.Text == "this one stays");
    }

    private static async Task<JsonNode> ControlAsync(TestGateway gateway, string method, JsonObject p) =>
        JsonNode.Parse(await gateway.Services.GetRequiredService<ControlCommands>().ExecuteAsync(null, method, p, Ct))!;

    private static async Task<(int Status, JsonNode? Body)> UserApiAsync(TestGateway gateway, string path, string token)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(120) };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.UserApiPort}{path}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static async Task<List<AuditEntry>> EntriesAsync(TestGateway gateway, string capability, Func<AuditEntry, bool> match, int atLeast)
    {
        var reader = new AuditReader(Path.Combine(gateway.DataDir, "audit"));
        var clock = Stopwatch.StartNew();
        List<AuditEntry> found = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            found = [.. (await reader.QueryAsync(new AuditQuery { Capability = capability, Limit = AuditQuery.MaxLimit, Ascending = true }, Ct)).Entries
                .Select(e => e.Entry).Where(match)];
            if (found.Count >= atLeast) return found;
            await Task.Delay(100, Ct);
        }
        return found;
    }

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition().WaitAsync(TimeSpan.FromSeconds(60), Ct))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException(what);
            await Task.Delay(100, Ct);
        }
    }
}
