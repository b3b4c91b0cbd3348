using System.Text.Json.Nodes;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Proxy;
using KruxOS.Core.Slack;
using KruxOS.Proxy;
using KruxOS.Testing;
using KruxOS.Testing.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Slack;

/// <summary>
/// The Slack replica over a connection's life, on one gateway: the initial sync (the last 100 messages per channel), an
/// incremental sync (only what is newer, through <c>oldest</c>, and new replies of an active thread), a restart that keeps
/// the cursor (the next sync is incremental, not initial), and a disconnect that cancels a buffered write, revokes the
/// token at Slack and purges the replica.
/// </summary>
public sealed class SlackLifecycleSpecs
{
    [Fact]
    public async Task The_replica_syncs_initially_then_incrementally_keeps_its_cursor_across_a_restart_and_is_purged_on_disconnect()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.AddUser("U0ALICE", "alice", "Alice Adams");
        slack.AddChannel("C0BUSY", "busy");
        slack.AddChannel("C0QUIET", "quiet");
        for (var i = 1; i <= 130; i++) slack.Post("C0BUSY", "U0ALICE", $"busy {i}");
        var thread = slack.Post("C0QUIET", "U0ALICE", "a thread");
        slack.Post("C0QUIET", "U0ALICE", "first reply", threadTs: thread);

        var gateway = await SlackGateway.StartAsync(slack);
        try
        {
            var token = await gateway.CreateAgentAsync("reader");
            await SlackGateway.ConnectAsync(gateway, slack);

            // initial: the newest 100 of #busy, all of #quiet with the thread's reply
            var initial = await SlackGateway.SyncStateAsync(gateway);
            Assert.Equal(100 + 2, initial.Entries);
            var cursor = SlackSyncCursor.Parse(initial.Cursor);
            Assert.Equal(slack.Messages("C0BUSY")[^1].Ts, cursor.NewestOf("C0BUSY"));
            Assert.Contains(slack.Requests, r => r.Method == "conversations.history" && r.Body.Contains("\"limit\":\"100\"", StringComparison.Ordinal));

            // incremental: two new messages and a new reply; the history call asks only for what is newer than the cursor
            slack.Post("C0BUSY", "U0ALICE", "busy 131");
            slack.Post("C0BUSY", "U0ALICE", "busy 132");
            slack.Post("C0QUIET", "U0ALICE", "second reply", threadTs: thread);
            var historyBefore = slack.Calls("conversations.history");
            await SlackGateway.SyncNowAsync(gateway);
            var incremental = await SlackGateway.SyncStateAsync(gateway);
            Assert.Equal(100 + 2 + 3, incremental.Entries);
            Assert.Contains(slack.Requests.Skip(0), r => r.Method == "conversations.history" && r.Body.Contains($"\"oldest\":\"{cursor.NewestOf("C0BUSY")}\"", StringComparison.Ordinal));
            Assert.Equal(2, slack.Calls("conversations.history") - historyBefore); // one page per channel

            var results = await RunAsync(gateway, token,
                ("slack__search", new JsonObject { ["query"] = "busy 13" }),
                ("slack__read", new JsonObject { ["message_id"] = $"C0QUIET/{thread}" }));
            Assert.Equal(["busy 132", "busy 131", "busy 130"], results[0]!["body"]!["messages"]!.AsArray().Select(m => m!["text"]!.GetValue<string>()));
            Assert.Equal(["first reply", "second reply"], results[1]!["body"]!["thread_replies"]!.AsArray().Select(m => m!["text"]!.GetValue<string>()));

            // restart: the cursor survives; the next sync is incremental (oldest = the newest synced), never the initial 100 again
            var kept = (await SlackGateway.SyncStateAsync(gateway)).Cursor;
            gateway = await gateway.RestartAsync().WaitAsync(TimeSpan.FromMinutes(3));
            await SlackGateway.WaitReadyAsync(gateway);
            Assert.Equal(kept, (await SlackGateway.SyncStateAsync(gateway)).Cursor);
            slack.Post("C0BUSY", "U0ALICE", "after the restart");
            var requestsBefore = slack.Requests.Count;
            await SlackGateway.SyncNowAsync(gateway);
            var after = slack.Requests.Skip(requestsBefore).Where(r => r.Method == "conversations.history").ToList();
            Assert.NotEmpty(after);
            Assert.All(after, r => Assert.Contains("\"oldest\"", r.Body, StringComparison.Ordinal));
            Assert.Equal(100 + 2 + 3 + 1, (await SlackGateway.SyncStateAsync(gateway)).Entries);

            // disconnect: the buffered write is cancelled, the token revoked at Slack, the replica deleted
            var buffered = await RunAsync(gateway, token, ("slack__send", new JsonObject { ["channel"] = "C0QUIET", ["text"] = "never sent" }));
            var writeId = buffered[0]!["body"]!["write_id"]!.GetValue<string>();
            var replica = gateway.Services.GetRequiredService<IServiceProxy>().Replica(ServiceName.Parse("slack"));
            Assert.True(replica.Exists);
            var disconnected = await gateway.Services.GetRequiredService<ProxyAdmin>().DisconnectAsync("slack", "operator", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(90));
            Assert.True(disconnected.IsOk, disconnected.Error?.Message);
            Assert.True(disconnected.Value!.RevokedAtProvider, disconnected.Value.ProviderError);
            Assert.True(disconnected.Value.Purged);
            Assert.True(slack.Revoked);
            Assert.False(replica.Exists);
            var writes = await gateway.Services.GetRequiredService<ProxyAdmin>().WritesAsync("all", "slack", CancellationToken.None);
            Assert.Equal(WriteStatus.Cancelled, writes.Value!.Single(w => w.Id.Value == writeId).Status);
            await Task.Delay(SlackGateway.Window + TimeSpan.FromSeconds(2));
            Assert.Empty(slack.BotMessages());
            var empty = await RunAsync(gateway, token, ("slack__channels", new JsonObject()), ("slack__send", new JsonObject { ["channel"] = "C0QUIET", ["text"] = "x" }));
            Assert.Empty(empty[0]!["body"]!["channels"]!.AsArray());
            Assert.Equal("ServiceUnavailable", empty[1]!["body"]!["error"]!.GetValue<string>());

            // the token was in no file the gateway wrote: audit, journal, vault (ciphertext only), replica, logs
            var leaks = Directory.EnumerateFiles(gateway.DataDir, "*", SearchOption.AllDirectories)
                .Where(f => !f.EndsWith(".sock", StringComparison.Ordinal) && new FileInfo(f).Length < 64 * 1024 * 1024)
                .Where(f => { try { return File.ReadAllText(f).Contains(slack.Token, StringComparison.Ordinal); } catch (IOException) { return false; } })
                .ToList();
            Assert.Empty(leaks);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    private static async Task<JsonArray> RunAsync(TestGateway gateway, string token, params (string Tool, JsonObject Args)[] calls)
    {
        string[] args = ["--transport", "http", "--url", gateway.McpHttp.ToString(), "--timeout", "60000",
            .. calls.SelectMany(c => new[] { "--call", c.Tool, c.Args.ToJsonString() })];
        var run = await NodeClients.RunAsync(token, args).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(run["connected"]!.GetValue<bool>(), run.ToJsonString());
        return run["results"]!.AsArray();
    }
}
