using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Proxy;
using KruxOS.Testing.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Slack;

/// <summary>
/// Every <c>slack.*</c> capability end to end, through the Node MCP SDK, against a gateway whose Slack adapter talks to the
/// fake Slack server: reads from the replica cost no provider call; a send waits its window and reaches Slack exactly once;
/// a cancelled send never does; failures go through the backoff into the dead letters; the 11th message in an hour to one
/// channel waits for an approval.
/// </summary>
public sealed class SlackEndToEndSpecs(SlackGateway fixture) : IClassFixture<SlackGateway>
{
    private static (string, JsonObject) Call(string tool, JsonObject args) => (tool, args);

    private static JsonNode Body(JsonNode? result)
    {
        Assert.False(result!["isError"]!.GetValue<bool>(), result.ToJsonString());
        return result["body"]!;
    }

    private static string Error(JsonNode? result) =>
        result?["isError"]?.GetValue<bool>() == true ? result["body"]!["error"]!.GetValue<string>() : "none: " + result?.ToJsonString();

    private IReadOnlyList<FakeSlackMessage> Posted(string text) => [.. fixture.Slack.BotMessages().Where(m => m.Text == text)];

    private async Task<BufferedWriteState> WriteAsync(string id)
    {
        var all = await fixture.Gateway.Services.GetRequiredService<ProxyAdmin>().WritesAsync("all", "slack", CancellationToken.None);
        Assert.True(all.IsOk, all.Error?.Message);
        return all.Value.Single(w => w.Id.Value == id);
    }

    [Fact]
    public async Task Reads_are_served_from_the_replica_without_a_single_provider_call()
    {
        var before = fixture.Slack.CallCounts;
        var r = await fixture.CallAsync(
            Call("slack__channels", []),
            Call("slack__search", new JsonObject { ["query"] = "DEPLOY KEY" }),
            Call("slack__search", new JsonObject { ["channel"] = "#general", ["user"] = "bob" }),
            Call("slack__search", new JsonObject { ["channel"] = "C0RANDOM", ["limit"] = 1 }),
            Call("slack__read", new JsonObject { ["message_id"] = $"C0GENERAL/{fixture.ThreadTs}" }),
            Call("slack__search", new JsonObject { ["from_date"] = "2099-01-01T00:00:00Z" }),
            Call("slack__read", new JsonObject { ["message_id"] = "C0GENERAL/1.000001" }),
            Call("slack__search", new JsonObject { ["from_date"] = "yesterday" }),
            Call("slack__read", new JsonObject { ["message_id"] = "../../etc/passwd" }));
        var after = fixture.Slack.CallCounts;

        Assert.Equal(before, after); // not one Slack API request for any read
        var channels = Body(r[0])["channels"]!.AsArray();
        Assert.Equal(["batch", "failing", "general", "random"], channels.Select(c => c!["name"]!.GetValue<string>()));
        Assert.Equal(("Company-wide", 12), (channels[2]!["topic"]!.GetValue<string>(), channels[2]!["member_count"]!.GetValue<int>()));

        var found = Body(r[1]);
        Assert.Equal(1, found["total"]!.GetValue<int>());
        var question = found["messages"]![0]!;
        Assert.Equal(($"C0GENERAL/{fixture.ThreadTs}", "U0ALICE", "alice"), (question["id"]!.GetValue<string>(), question["user_id"]!.GetValue<string>(), question["user_name"]!.GetValue<string>()));
        Assert.Equal("eyes", question["reactions"]![0]!["name"]!.GetValue<string>());

        var bobs = Body(r[2])["messages"]!.AsArray();
        Assert.Equal(["I do, in the vault"], bobs.Select(m => m!["text"]!.GetValue<string>()));
        Assert.Equal(fixture.ThreadTs, bobs[0]!["thread_ts"]!.GetValue<string>());
        Assert.Equal("Lunch at noon?", Body(r[3])["messages"]![0]!["text"]!.GetValue<string>());

        var read = Body(r[4]);
        Assert.Equal("Who has the deploy key?", read["message"]!["text"]!.GetValue<string>());
        Assert.Equal(["I do, in the vault", "thanks!"], read["thread_replies"]!.AsArray().Select(m => m!["text"]!.GetValue<string>()));

        Assert.Equal(0, Body(r[5])["total"]!.GetValue<int>());
        Assert.Equal("MessageNotFound", Error(r[6]));
        Assert.Equal("InvalidInput", Error(r[7]));
        Assert.Equal("MessageNotFound", Error(r[8]));
    }

    [Fact]
    public async Task A_send_and_a_reply_wait_their_window_then_reach_Slack_exactly_once_and_a_cancelled_send_never()
    {
        var r = await fixture.CallAsync(
            Call("slack__send", new JsonObject { ["channel"] = "C0RANDOM", ["text"] = "*Deploy* starts at 3pm" }),
            Call("slack__reply", new JsonObject { ["channel"] = "C0GENERAL", ["thread_ts"] = fixture.ThreadTs, ["text"] = "rotated it today" }),
            Call("slack__send", new JsonObject { ["channel"] = "C0RANDOM", ["text"] = "oops, wrong channel" }));
        var sent = Body(r[0]);
        var replied = Body(r[1]);
        var mistaken = Body(r[2]);
        Assert.Equal("buffered", sent["status"]!.GetValue<string>());
        Assert.StartsWith("wr-", sent["write_id"]!.GetValue<string>(), StringComparison.Ordinal);
        var until = DateTimeOffset.Parse(sent["buffer_until"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);

        var cancel = await fixture.CallAsync(Call("proxy__cancel_write", new JsonObject { ["write_id"] = mistaken["write_id"]!.GetValue<string>() }));
        Assert.Equal("cancelled", Body(cancel[0])["status"]!.GetValue<string>());
        // inside the window nothing has reached Slack
        if (DateTimeOffset.UtcNow < until - TimeSpan.FromMilliseconds(500))
            Assert.Empty(Posted("*Deploy* starts at 3pm"));

        await SlackGateway.Until(() => Task.FromResult(Posted("*Deploy* starts at 3pm").Count > 0 && Posted("rotated it today").Count > 0), "the writes did not execute");
        Assert.True(DateTimeOffset.UtcNow >= until, "a write executed before its window ended");
        await Task.Delay(SlackGateway.Window + TimeSpan.FromSeconds(2));

        var message = Assert.Single(Posted("*Deploy* starts at 3pm"));
        Assert.Equal("C0RANDOM", message.ChannelId);
        Assert.Equal(SlackClientMarker(await WriteAsync(sent["write_id"]!.GetValue<string>())), message.Metadata!["event_payload"]!["write_id"]!.GetValue<string>());
        var reply = Assert.Single(Posted("rotated it today"));
        Assert.Equal(fixture.ThreadTs, reply.ThreadTs);
        Assert.Empty(Posted("oops, wrong channel"));
        Assert.Equal(WriteStatus.Done, (await WriteAsync(sent["write_id"]!.GetValue<string>())).Status);
        Assert.Equal(WriteStatus.Done, (await WriteAsync(replied["write_id"]!.GetValue<string>())).Status);
        Assert.Equal(WriteStatus.Cancelled, (await WriteAsync(mistaken["write_id"]!.GetValue<string>())).Status);
    }

    private static string SlackClientMarker(BufferedWriteState state) => state.Marker.Value;

    [Fact]
    public async Task Reactions_go_through_at_once_and_show_in_the_replica()
    {
        var ts = fixture.ThreadTs;
        var r = await fixture.CallAsync(
            Call("slack__react", new JsonObject { ["channel"] = "C0GENERAL", ["ts"] = ts, ["reaction"] = "white_check_mark" }),
            Call("slack__search", new JsonObject { ["query"] = "deploy key" }));
        Assert.Equal("ok", Body(r[0])["status"]!.GetValue<string>());
        Assert.Equal([FakeSlackServer.BotUserId], fixture.Slack.ReactionUsers("C0GENERAL", ts, "white_check_mark"));
        var reactions = Body(r[1])["messages"]![0]!["reactions"]!.AsArray();
        Assert.Contains(reactions, x => x!["name"]!.GetValue<string>() == "white_check_mark");

        var removed = await fixture.CallAsync(
            Call("slack__remove_react", new JsonObject { ["channel"] = "C0GENERAL", ["ts"] = ts, ["reaction"] = "white_check_mark" }),
            Call("slack__react", new JsonObject { ["channel"] = "C0GENERAL", ["ts"] = ts, ["reaction"] = ":eyes:" }),
            Call("slack__react", new JsonObject { ["channel"] = "C0NOSUCH", ["ts"] = ts, ["reaction"] = "eyes" }),
            Call("slack__search", new JsonObject { ["query"] = "deploy key" }));
        Assert.Equal("ok", Body(removed[0])["status"]!.GetValue<string>());
        Assert.Empty(fixture.Slack.ReactionUsers("C0GENERAL", ts, "white_check_mark"));
        Assert.Equal("WriteFailed", Error(removed[1])); // colons: refused before Slack
        Assert.Equal("WriteFailed", Error(removed[2])); // Slack: channel_not_found
        Assert.DoesNotContain(Body(removed[3])["messages"]![0]!["reactions"]!.AsArray(), x => x!["name"]!.GetValue<string>() == "white_check_mark");
    }

    [Fact]
    public async Task Writes_with_invalid_arguments_are_refused_before_anything_is_buffered()
    {
        var r = await fixture.CallAsync(
            Call("slack__send", new JsonObject { ["channel"] = "general", ["text"] = "by name" }),
            Call("slack__send", new JsonObject { ["channel"] = "C0RANDOM", ["text"] = "   " }),
            Call("slack__reply", new JsonObject { ["channel"] = "C0GENERAL", ["thread_ts"] = "yesterday", ["text"] = "x" }),
            Call("slack__send", new JsonObject { ["channel"] = "C0RANDOM&channel=C0GENERAL", ["text"] = "smuggled" }));

        Assert.All(r, x => Assert.Equal("WriteFailed", Error(x)));
        var writes = await fixture.Gateway.Services.GetRequiredService<ProxyAdmin>().WritesAsync("all", "slack", CancellationToken.None);
        Assert.DoesNotContain(writes.Value, w => w.Description.Contains("general", StringComparison.Ordinal) && w.Description.Contains("?", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Provider_failures_go_through_the_backoff_into_the_dead_letters_and_an_operator_retry_sends_once()
    {
        fixture.Slack.FailNext("chat.postMessage", 100, FakeSlackFailure.ServerError);
        var before = fixture.Slack.Calls("chat.postMessage");
        var r = await fixture.CallAsync(Call("slack__send", new JsonObject { ["channel"] = "C0FAILING", ["text"] = "will fail for a while" }));
        var id = Body(r[0])["write_id"]!.GetValue<string>();

        await SlackGateway.Until(async () => (await WriteAsync(id)).Status == WriteStatus.DeadLettered, "the write did not reach the dead letters");
        fixture.Slack.ClearFailures();
        var dead = await WriteAsync(id);
        Assert.Equal(6, dead.Attempts); // the first attempt and five retries (1, 2, 4, 8, 16 min in production)
        Assert.Equal(6, fixture.Slack.Calls("chat.postMessage") - before);
        Assert.Contains("http_500", dead.LastError, StringComparison.Ordinal);
        Assert.Empty(Posted("will fail for a while"));

        var retried = await fixture.Gateway.Services.GetRequiredService<ProxyAdmin>().RetryAsync(id, "operator", CancellationToken.None);
        Assert.True(retried.IsOk, retried.Error?.Message);
        await SlackGateway.Until(async () => (await WriteAsync(id)).Status == WriteStatus.Done, "the retried write did not execute");
        Assert.Single(Posted("will fail for a while"));
    }

    [Fact]
    public async Task The_eleventh_message_in_an_hour_to_one_channel_is_held_for_approval()
    {
        var token = await fixture.Gateway.CreateAgentAsync("batchbot");
        var ten = Enumerable.Range(1, 10).Select(i => Call("slack__send", new JsonObject { ["channel"] = "C0BATCH", ["text"] = $"batch {i}" })).ToArray();
        var first = await fixture.CallAsync(token, 60_000, ten);
        Assert.All(first, x => Assert.Equal("buffered", Body(x)["status"]!.GetValue<string>()));
        var other = await fixture.CallAsync(token, 60_000, Call("slack__send", new JsonObject { ["channel"] = "C0RANDOM", ["text"] = "another channel counts apart" }));
        Assert.Equal("buffered", Body(other[0])["status"]!.GetValue<string>());

        // the 11th to C0BATCH: held (the client gives up waiting after 5 s; the approval stays pending)
        var eleventh = await fixture.CallAsync(token, 5_000, Call("slack__send", new JsonObject { ["channel"] = "C0BATCH", ["text"] = "batch 11" }));
        Assert.Null(eleventh[0]!["body"]?["write_id"]);
        var approvals = fixture.Gateway.Services.GetRequiredService<ApprovalAdmin>();
        await SlackGateway.Until(async () =>
        {
            var pending = await approvals.ListAsync("pending", CancellationToken.None);
            return pending.IsOk && pending.Value!.Any(a => a.State.Request?.Capability == "slack.send" && a.State.Request.Agent.Value == "batchbot");
        }, "no approval was requested for the 11th message");
        await Task.Delay(SlackGateway.Window + TimeSpan.FromSeconds(2));
        Assert.Empty(Posted("batch 11"));
        await SlackGateway.Until(() => Task.FromResult(Enumerable.Range(1, 10).All(i => Posted($"batch {i}").Count == 1)), "the ten messages did not execute");
    }
}
