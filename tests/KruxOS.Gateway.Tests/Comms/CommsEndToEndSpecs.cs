using System.Text.Json.Nodes;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Comms;

/// <summary>
/// Comms through a real gateway over real sockets: two agents exchange messages with the Node MCP SDK (a connected
/// recipient is notified at once), receive order and peek, channels, broadcast filters, the inbox bound, and what an
/// agent cannot do to another's inbox. One gateway serves the whole class; every spec uses its own agents.
/// </summary>
public sealed class CommsEndToEndSpecs(CommsEndToEndSpecs.Fixture gw) : IClassFixture<CommsEndToEndSpecs.Fixture>
{
    private const string Notification = "notifications/kruxos/message";

    /// <summary>One gateway for the class, with a small inbox so the bound is reachable.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public TestGateway Gateway { get; private set; } = null!;

        public int Port => Gateway.GatewayPort;

        public async ValueTask InitializeAsync() =>
            Gateway = await TestGateway.StartAsync(null, "--KruxOS:Comms:InboxMaxMessages", "6", "--KruxOS:Comms:InboxMaxPerSender", "4",
                "--KruxOS:Comms:DepthInterval", "00:00:01");

        public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();

        public Task<string> AgentAsync(string name) => Gateway.CreateAgentAsync(name + "-" + Guid.NewGuid().ToString("N")[..6]);
    }


    private async Task<(string Name, string Token)> NewAgentAsync(string prefix)
    {
        var name = prefix + "-" + Guid.NewGuid().ToString("N")[..6];
        return (name, await gw.Gateway.CreateAgentAsync(name));
    }

    [Fact]
    public async Task Should_let_two_agents_exchange_messages_with_the_node_sdk_and_notify_the_connected_one_at_once()
    {
        // arrange: bob is connected over WebSocket, waiting for a message notification
        var (alice, aliceToken) = await NewAgentAsync("alice");
        var (bob, bobToken) = await NewAgentAsync("bob");
        var signals = Directory.CreateTempSubdirectory("kruxos-comms-").FullName;
        var ready = Path.Combine(signals, "bob-ready");
        try
        {
            var bobWaiting = NodeClients.RunAsync(bobToken, "--transport", "ws", "--url", gw.Gateway.McpWs.ToString(), "--notifications", Notification,
                "--call", "agent__whoami", "{}", "--ready-file", ready, "--until-notifications", "1", "--max-wait", "60000");
            await WaitForAsync(() => File.Exists(ready) || bobWaiting.IsCompleted);

            // act: alice sends over Streamable HTTP; bob reads and answers; alice reads the answer
            var sent = await NodeClients.RunAsync(aliceToken, "--transport", "http", "--url", gw.Gateway.McpHttp.ToString(),
                "--call", "comms__send", new JsonObject { ["to"] = bob, ["message"] = "ping from alice", ["priority"] = "high" }.ToJsonString());
            var notified = await bobWaiting;
            var bobSession = await NodeClients.RunAsync(bobToken, "--transport", "http", "--url", gw.Gateway.McpHttp.ToString(),
                "--call", "comms__receive", "{}",
                "--call", "comms__send", new JsonObject { ["to"] = alice, ["message"] = "pong from bob" }.ToJsonString());
            var aliceSession = await NodeClients.RunAsync(aliceToken, "--transport", "http", "--url", gw.Gateway.McpHttp.ToString(),
                "--call", "comms__receive", "{}");

            // assert: delivered (bob was connected) and notified with the message's header
            var sendBody = sent["results"]![0]!["body"]!;
            Assert.False(sent["results"]![0]!["isError"]!.GetValue<bool>(), sent.ToJsonString());
            Assert.Equal("delivered", sendBody["status"]!.GetValue<string>());
            var messageId = sendBody["message_id"]!.GetValue<string>();
            var notification = Assert.Single(notified["notifications"]!.AsArray())!;
            Assert.Equal(messageId, notification["message_id"]!.GetValue<string>());
            Assert.Equal(alice, notification["from"]!.GetValue<string>());
            Assert.Equal("high", notification["priority"]!.GetValue<string>());

            var received = bobSession["results"]![0]!["body"]!;
            var message = Assert.Single(received["messages"]!.AsArray())!;
            Assert.Equal("ping from alice", message["message"]!.GetValue<string>());
            Assert.Equal(alice, message["from"]!.GetValue<string>());
            Assert.Null(message["channel"]);
            Assert.False(bobSession["results"]![1]!["isError"]!.GetValue<bool>(), bobSession.ToJsonString());
            var answer = Assert.Single(aliceSession["results"]![0]!["body"]!["messages"]!.AsArray())!;
            Assert.Equal("pong from bob", answer["message"]!.GetValue<string>());
            Assert.Equal(bob, answer["from"]!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(signals, recursive: true);
        }
    }

    [Fact]
    public async Task Should_return_high_priority_first_then_oldest_and_keep_peeked_messages_until_acknowledged()
    {
        // arrange
        var (_, sender) = await NewAgentAsync("sender");
        var (reader, readerToken) = await NewAgentAsync("reader");
        foreach (var (text, priority) in new[] { ("first low", "low"), ("second normal", "normal"), ("third high", "high"), ("fourth normal", "normal") })
            await Rpc.OkAsync(gw.Port, sender, "comms.send", new JsonObject { ["to"] = reader, ["message"] = text, ["priority"] = priority });

        // act
        var peek1 = await Rpc.OkAsync(gw.Port, readerToken, "comms.receive", new JsonObject { ["acknowledge"] = false });
        var peek2 = await Rpc.OkAsync(gw.Port, readerToken, "comms.receive", new JsonObject { ["acknowledge"] = false, ["limit"] = 1 });
        var take = await Rpc.OkAsync(gw.Port, readerToken, "comms.receive", new JsonObject { ["limit"] = 3 });
        var rest = await Rpc.OkAsync(gw.Port, readerToken, "comms.receive", new JsonObject());
        var empty = await Rpc.OkAsync(gw.Port, readerToken, "comms.receive", new JsonObject());

        // assert
        static string[] Texts(JsonNode r) => [.. r["messages"]!.AsArray().Select(m => m!["message"]!.GetValue<string>())];
        Assert.Equal(["third high", "second normal", "fourth normal", "first low"], Texts(peek1));
        Assert.Equal(0, peek1["remaining"]!.GetValue<int>());
        Assert.Equal(["third high"], Texts(peek2));
        Assert.Equal(3, peek2["remaining"]!.GetValue<int>());
        Assert.Equal(["third high", "second normal", "fourth normal"], Texts(take));
        Assert.Equal(1, take["remaining"]!.GetValue<int>());
        Assert.Equal(["first low"], Texts(rest));
        Assert.Empty(Texts(empty));
    }

    [Fact]
    public async Task Should_refuse_a_message_to_a_full_inbox_with_InboxFull_and_keep_what_was_queued()
    {
        // arrange: the class's inboxes hold 6 messages, at most 4 from one sender
        var (_, flooder) = await NewAgentAsync("flooder");
        var (_, other) = await NewAgentAsync("other");
        var (victim, victimToken) = await NewAgentAsync("victim");
        for (var i = 0; i < 4; i++)
            await Rpc.OkAsync(gw.Port, flooder, "comms.send", new JsonObject { ["to"] = victim, ["message"] = $"flood {i}" });

        // act: the flooder's fourth is refused (per sender); another sender still gets through until the inbox is full
        var perSender = await Rpc.ErrorAsync(gw.Port, flooder, "comms.send", new JsonObject { ["to"] = victim, ["message"] = "flood 4" });
        await Rpc.OkAsync(gw.Port, other, "comms.send", new JsonObject { ["to"] = victim, ["message"] = "other 0" });
        await Rpc.OkAsync(gw.Port, other, "comms.send", new JsonObject { ["to"] = victim, ["message"] = "other 1" });
        var full = await Rpc.ErrorAsync(gw.Port, other, "comms.send", new JsonObject { ["to"] = victim, ["message"] = "other 2" });
        var inbox = await Rpc.OkAsync(gw.Port, victimToken, "comms.receive", new JsonObject { ["acknowledge"] = false, ["limit"] = 100 });

        // assert
        Assert.Equal("InboxFull", perSender["type"]!.GetValue<string>());
        Assert.True(perSender["context"]!["per_sender"]!.GetValue<bool>(), perSender.ToJsonString());
        Assert.Equal("InboxFull", full["type"]!.GetValue<string>());
        Assert.False(full["context"]!["per_sender"]!.GetValue<bool>(), full.ToJsonString());
        Assert.Equal(6, inbox["messages"]!.AsArray().Count);
        Assert.DoesNotContain(inbox["messages"]!.AsArray(), m => m!["message"]!.GetValue<string>() is "flood 4" or "other 2");
    }

    [Fact]
    public async Task Should_never_let_a_sender_pose_as_another_or_read_another_agents_inbox()
    {
        // arrange
        var (mallory, malloryToken) = await NewAgentAsync("mallory");
        var (target, targetToken) = await NewAgentAsync("target");
        await Rpc.OkAsync(gw.Port, targetToken, "comms.send", new JsonObject { ["to"] = mallory, ["message"] = "for mallory only" });
        var (_, thirdToken) = await NewAgentAsync("third");
        await Rpc.OkAsync(gw.Port, thirdToken, "comms.send", new JsonObject { ["to"] = target, ["message"] = "secret for target" });

        // act: extra fields that would name another sender or inbox, a revoked or unknown recipient, a hostile body
        var spoof = await Rpc.InvokeAsync(gw.Port, malloryToken, "comms.send",
            new JsonObject { ["to"] = target, ["message"] = "hi", ["from"] = "user:operator" });
        var otherInbox = await Rpc.InvokeAsync(gw.Port, malloryToken, "comms.receive", new JsonObject { ["agent"] = target });
        var unknown = await Rpc.ErrorAsync(gw.Port, malloryToken, "comms.send", new JsonObject { ["to"] = "nobody-here", ["message"] = "x" });
        var escape = await Rpc.ErrorAsync(gw.Port, malloryToken, "comms.send", new JsonObject { ["to"] = target, ["message"] = "clear screen \u001b[2J" });
        var own = await Rpc.OkAsync(gw.Port, malloryToken, "comms.receive", new JsonObject { ["limit"] = 100 });
        var targets = await Rpc.OkAsync(gw.Port, targetToken, "comms.receive", new JsonObject { ["limit"] = 100 });

        // assert: mallory's own inbox only; whatever reached the target came from mallory, never "user:operator"
        Assert.Equal(["for mallory only"], own["messages"]!.AsArray().Select(m => m!["message"]!.GetValue<string>()));
        Assert.DoesNotContain("secret for target", otherInbox.ToJsonString(), StringComparison.Ordinal);
        Assert.All(targets["messages"]!.AsArray(), m => Assert.NotEqual("user:operator", m!["from"]!.GetValue<string>()));
        Assert.Contains(targets["messages"]!.AsArray(), m => m!["message"]!.GetValue<string>() == "secret for target");
        Assert.Equal("RecipientNotFound", unknown["type"]!.GetValue<string>());
        Assert.Equal("InvalidInput", escape["type"]!.GetValue<string>());
        _ = spoof;
    }

    [Fact]
    public async Task Should_copy_a_channel_message_to_every_subscriber_but_the_sender_and_nobody_else()
    {
        // arrange
        var channel = "ops-" + Guid.NewGuid().ToString("N")[..6];
        var (_, a) = await NewAgentAsync("sub-a");
        var (_, b) = await NewAgentAsync("sub-b");
        var (_, outsider) = await NewAgentAsync("outsider");
        var subA = await Rpc.OkAsync(gw.Port, a, "comms.subscribe", new JsonObject { ["channel"] = channel });
        var subAgain = await Rpc.OkAsync(gw.Port, a, "comms.subscribe", new JsonObject { ["channel"] = "#" + channel });
        await Rpc.OkAsync(gw.Port, b, "comms.subscribe", new JsonObject { ["channel"] = channel });

        // act
        await Rpc.OkAsync(gw.Port, a, "comms.send", new JsonObject { ["to"] = "#" + channel, ["message"] = "to the channel" });
        var atA = await Rpc.OkAsync(gw.Port, a, "comms.receive", new JsonObject());
        var atB = await Rpc.OkAsync(gw.Port, b, "comms.receive", new JsonObject { ["channel"] = channel });
        var atOutsider = await Rpc.OkAsync(gw.Port, outsider, "comms.receive", new JsonObject());
        var badChannel = await Rpc.ErrorAsync(gw.Port, a, "comms.subscribe", new JsonObject { ["channel"] = "../etc" });

        // assert
        Assert.StartsWith("chsub-", subA["subscription_id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(subA["subscription_id"]!.GetValue<string>(), subAgain["subscription_id"]!.GetValue<string>());
        Assert.Empty(atA["messages"]!.AsArray());
        var m = Assert.Single(atB["messages"]!.AsArray())!;
        Assert.Equal(channel, m["channel"]!.GetValue<string>());
        Assert.Empty(atOutsider["messages"]!.AsArray());
        Assert.Equal("InvalidInput", badChannel["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_broadcast_by_name_pattern_and_refuse_an_unknown_filter_field_instead_of_reaching_everyone()
    {
        // arrange
        var tag = Guid.NewGuid().ToString("N")[..6];
        var (_, boss) = await NewAgentAsync("boss" + tag);
        var w1 = await gw.Gateway.CreateAgentAsync($"worker{tag}-1");
        var w2 = await gw.Gateway.CreateAgentAsync($"worker{tag}-2");
        var (_, bystander) = await NewAgentAsync("bystander" + tag);

        // act
        var sent = await Rpc.OkAsync(gw.Port, boss, "comms.broadcast",
            new JsonObject { ["message"] = "stand up", ["filter"] = new JsonObject { ["name_pattern"] = $"worker{tag}-*" } });
        var refused = await Rpc.ErrorAsync(gw.Port, boss, "comms.broadcast",
            new JsonObject { ["message"] = "everyone?", ["filter"] = new JsonObject { ["nmae_pattern"] = "x*" } });
        var at1 = await Rpc.OkAsync(gw.Port, w1, "comms.receive", new JsonObject());
        var at2 = await Rpc.OkAsync(gw.Port, w2, "comms.receive", new JsonObject());
        var atBystander = await Rpc.OkAsync(gw.Port, bystander, "comms.receive", new JsonObject());

        // assert
        Assert.Equal(2, sent["delivery_count"]!.GetValue<int>());
        Assert.Equal(0, sent["delivered"]!.GetValue<int>());
        Assert.Equal(2, sent["queued"]!.GetValue<int>());
        Assert.Equal("InvalidInput", refused["type"]!.GetValue<string>());
        Assert.Single(at1["messages"]!.AsArray());
        Assert.Single(at2["messages"]!.AsArray());
        Assert.Empty(atBystander["messages"]!.AsArray());
    }

    [Fact]
    public async Task Should_report_the_real_comms_queue_depth_on_health()
    {
        // arrange: two unread messages for a fresh agent
        var (_, s) = await NewAgentAsync("depth-sender");
        var (r, rToken) = await NewAgentAsync("depth-reader");
        // The gauge is recounted every second: settle on a figure that holds across two recounts first.
        long before = -1, again = -2;
        for (var i = 0; i < 30 && (before != again || before < 0); i++)
        {
            before = await DepthAsync();
            await Task.Delay(2500);
            again = await DepthAsync();
        }
        await Rpc.OkAsync(gw.Port, s, "comms.send", new JsonObject { ["to"] = r, ["message"] = "one" });
        await Rpc.OkAsync(gw.Port, s, "comms.send", new JsonObject { ["to"] = r, ["message"] = "two" });

        // act / assert: the recount sees them, and sees them go once read
        await WaitForAsync(async () => await DepthAsync() == before + 2);
        await Rpc.OkAsync(gw.Port, rToken, "comms.receive", new JsonObject());
        await WaitForAsync(async () => await DepthAsync() == before);
    }

    private async Task<long> DepthAsync()
    {
        using var http = new HttpClient();
        var body = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{gw.Gateway.HealthPort}/health"))!;
        var gauge = gw.Gateway.Services.GetRequiredService<KruxOS.Actors.Comms.CommsQueueDepth>();
        Assert.True(gauge.LastError is null, gauge.LastError);
        return body["agent_metrics"]!["comms_queue_depth"]!.GetValue<long>();
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(condition(), "the condition did not become true in time");
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (!await condition() && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(await condition(), "the condition did not become true in time");
    }
}
