using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;
using Xunit;
using static KruxOS.Core.Comms.ChannelCommands;
using static KruxOS.Core.Comms.ChannelReplies;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Comms.InboxEvents;
using static KruxOS.Core.Comms.InboxReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.Comms;

/// <summary>Inboxes, channels and broadcast plans (pure).</summary>
public sealed class CommsSpecs
{
    private static readonly InboxLimits Limits = InboxLimits.Default;
    private static int _next;

    private static CommsMessage Direct(string from, MessagePriority priority = MessagePriority.Normal, string body = "hello", DateTimeOffset? at = null) =>
        new(CommsIds.MessagePrefix + (++_next).ToString("x16"), from, Builder, null, priority, body, at ?? T0, []);

    private static InboxState Deliver(InboxState inbox, CommsMessage m, out ICommsReply reply, InboxLimits? limits = null)
    {
        var (r, events) = inbox.ProcessCommand(new Deliver(Builder, m), T0, limits ?? Limits);
        reply = r;
        return inbox.ApplyAll(events);
    }

    private static InboxState Receive(InboxState inbox, Receive receive, out ReceiveResult result)
    {
        var (r, events) = inbox.ProcessCommand(receive, T0, Limits);
        result = Assert.IsType<ReceiveResult>(r);
        return inbox.ApplyAll(events);
    }

    [Fact]
    public void Should_receive_high_priority_first_then_in_arrival_order()
    {
        var inbox = InboxState.Empty(Builder);
        var low = Direct("reviewer", MessagePriority.Low, "low");
        var normal1 = Direct("reviewer", MessagePriority.Normal, "n1");
        var high = Direct("planner", MessagePriority.High, "high");
        var normal2 = Direct("planner", MessagePriority.Normal, "n2");
        foreach (var m in new[] { low, normal1, high, normal2 }) inbox = Deliver(inbox, m, out _);

        inbox = Receive(inbox, new Receive(Builder), out var all);

        Assert.Equal(["high", "n1", "n2", "low"], all.Messages.Select(m => m.Message));
        Assert.Equal(0, all.Remaining);
        Assert.Empty(inbox.Items);
    }

    [Fact]
    public void Should_peek_without_removing_and_acknowledge_only_what_it_returned()
    {
        var inbox = InboxState.Empty(Builder);
        for (var i = 0; i < 15; i++) inbox = Deliver(inbox, Direct("reviewer", body: "m" + i), out _);

        var (peek, none) = inbox.ProcessCommand(new Receive(Builder, Acknowledge: false), T0, Limits);
        Assert.Empty(none);
        var peeked = Assert.IsType<ReceiveResult>(peek);
        Assert.Equal(10, peeked.Messages.Length);
        Assert.Equal(5, peeked.Remaining);

        inbox = Receive(inbox, new Receive(Builder, Limit: 4), out var taken);
        Assert.Equal(["m0", "m1", "m2", "m3"], taken.Messages.Select(m => m.Message));
        Assert.Equal(11, taken.Remaining);
        Assert.Equal(11, inbox.Items.Count);
        Assert.Equal("InvalidInput", Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Receive(Builder, Limit: 101), T0, Limits).Reply).Error.ErrorType);
        Assert.Equal("InvalidInput", Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Receive(Builder, Limit: 0), T0, Limits).Reply).Error.ErrorType);
    }

    [Fact]
    public void Should_shape_received_messages_as_the_spec()
    {
        var inbox = Deliver(InboxState.Empty(Builder), Direct("user:ops", MessagePriority.High, "hi"), out var delivered);
        Assert.False(((Delivered)delivered).Duplicate);
        Receive(inbox, new Receive(Builder), out var r);
        using var json = JsonDocument.Parse(Wire(r));
        Assert.Equal(["messages", "remaining"], json.RootElement.EnumerateObject().Select(p => p.Name));
        var m = json.RootElement.GetProperty("messages")[0];
        Assert.Equal(["message_id", "from", "message", "priority", "sent_at", "channel"], m.EnumerateObject().Select(p => p.Name));
        Assert.Equal("high", m.GetProperty("priority").GetString());
        Assert.Equal("user:ops", m.GetProperty("from").GetString());
        Assert.Equal(JsonValueKind.Null, m.GetProperty("channel").ValueKind);
        Assert.Equal("""{"message_id":"msg-1","status":"queued","to":"builder"}""",
            Wire(new SendReplies.SendResult("msg-1", CommsMessages.DeliveryStatus(connected: false), "builder")));
        Assert.Equal(["message_id", "delivery_count", "delivered", "queued"], WireFields(new SendReplies.BroadcastResult("msg-1", 2, 1, 1)));
        Assert.Equal(["subscription_id", "channel"], WireFields(new SubscribeResult("chsub-1", "ops")));
    }

    [Fact]
    public void Should_refuse_a_full_inbox_with_inbox_full_and_lose_nothing_already_queued()
    {
        var limits = Limits with { MaxMessages = 3 };
        var inbox = InboxState.Empty(Builder);
        for (var i = 0; i < 3; i++) inbox = Deliver(inbox, Direct("agent-" + i), out _, limits);
        var (reply, events) = inbox.ProcessCommand(new Deliver(Builder, Direct("reviewer")), T0, limits);
        var error = Assert.IsType<CommsRefused>(reply).Error;
        Assert.Equal("InboxFull", error.ErrorType);
        Assert.True(error.Retryable);
        Assert.Equal("builder", error.ContextString("recipient"));
        Assert.Empty(events);
        Assert.Equal(3, inbox.Items.Count);
        var bytes = Limits with { MaxBytes = 600 };
        var one = Deliver(InboxState.Empty(Builder), Direct("reviewer", body: new string('a', 200)), out _, bytes);
        Assert.Equal("InboxFull", Assert.IsType<CommsRefused>(one.ProcessCommand(new Deliver(Builder, Direct("reviewer", body: new string('b', 200))), T0, bytes).Reply).Error.ErrorType);
    }

    [Fact]
    public void Should_stop_one_sender_from_filling_an_inbox_and_locking_other_senders_out()
    {
        var limits = Limits with { MaxMessages = 10, MaxPendingPerSender = 4 };
        var inbox = InboxState.Empty(Builder);
        ICommsReply last = null!;
        for (var i = 0; i < 10; i++) inbox = Deliver(inbox, Direct("flooder"), out last, limits);
        var refused = Assert.IsType<CommsRefused>(last).Error;
        Assert.Equal("InboxFull", refused.ErrorType);
        Assert.True(refused.Context["per_sender"].GetBoolean());
        Assert.Equal(4, inbox.Items.Count);

        inbox = Deliver(inbox, Direct("reviewer", body: "still gets through"), out var other, limits);
        Assert.IsType<Delivered>(other);
        // the gateway's own messages (job results, watch events) are not held to the per-sender share
        for (var i = 0; i < 5; i++) inbox = Deliver(inbox, Direct("system:scheduler"), out last, limits);
        Assert.IsType<Delivered>(last);
        Assert.Equal(10, inbox.Items.Count);
    }

    [Fact]
    public void Should_queue_a_redelivered_message_once_even_after_it_was_received()
    {
        var m = Direct("reviewer");
        var inbox = Deliver(InboxState.Empty(Builder), m, out _);
        inbox = Deliver(inbox, m, out var repeat);
        Assert.True(((Delivered)repeat).Duplicate);
        Assert.Single(inbox.Items);
        inbox = Receive(inbox, new Receive(Builder), out _);
        var (again, events) = inbox.ProcessCommand(new Deliver(Builder, m), T0, Limits);
        Assert.True(((Delivered)again).Duplicate);
        Assert.Empty(events);
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("a\u001b[2Jb", "control characters")]
    [InlineData("nul\u0000", "control characters")]
    public void Should_refuse_bodies_that_would_reach_an_operator_terminal_as_control_sequences(string body, string reason)
    {
        var error = CommsMessages.ValidateBody(body, 100);
        Assert.NotNull(error);
        Assert.Contains(reason, error.ContextString("reason"));
        Assert.Null(CommsMessages.ValidateBody("tabs\tand\nlines\r\n and émoji 🚀", 100));
        Assert.NotNull(CommsMessages.ValidateBody("x\uD800", 100));
        Assert.NotNull(CommsMessages.ValidateBody(new string('é', 51), 100));
    }

    [Fact]
    public void Should_refuse_a_message_for_another_agent_or_with_a_forged_sender_or_chain()
    {
        var inbox = InboxState.Empty(Builder);
        var forOther = Direct("reviewer") with { To = Reviewer };
        Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Deliver(Builder, forOther), T0, Limits).Reply);
        Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Deliver(Builder, Direct("Not A Sender")), T0, Limits).Reply);
        Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Deliver(Builder, Direct("reviewer") with { Delegation = ["system:../x"] }), T0, Limits).Reply);
        Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Deliver(Builder, Direct("reviewer") with { MessageId = "../x" }), T0, Limits).Reply);
        Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Deliver(Reviewer, Direct("reviewer")), T0, Limits).Reply);
        var chain = Direct("planner") with { Delegation = ["user:ops", "planner"] };
        Assert.IsType<Delivered>(inbox.ProcessCommand(new Deliver(Builder, chain), T0, Limits).Reply);
        Assert.NotNull(CommsMessages.ValidateDelegation([.. Enumerable.Repeat("planner", 17)]));
    }

    [Fact]
    public void Should_deliver_channel_messages_only_to_subscribers_and_filter_receive_by_channel()
    {
        var inbox = InboxState.Empty(Builder);
        var (sub, subEvents) = inbox.ProcessCommand(new Subscribe(Builder, "ops", "chsub-0000000000000001"), T0, Limits);
        Assert.Equal(new SubscribeResult("chsub-0000000000000001", "ops"), sub);
        inbox = inbox.ApplyAll(subEvents);
        var (again, none) = inbox.ProcessCommand(new Subscribe(Builder, "ops", "chsub-0000000000000002"), T0, Limits);
        Assert.Equal(new SubscribeResult("chsub-0000000000000001", "ops"), again);
        Assert.Empty(none);

        var onOps = Direct("reviewer", body: "ops news") with { To = null, Channel = "ops" };
        var onDev = Direct("reviewer", body: "dev news") with { To = null, Channel = "dev" };
        inbox = Deliver(inbox, onOps, out var ok);
        Assert.IsType<Delivered>(ok);
        Deliver(inbox, onDev, out var notSubscribed);
        Assert.Equal("not_subscribed", Assert.IsType<CommsRefused>(notSubscribed).Error.ContextString("reason"));
        inbox = Deliver(inbox, Direct("reviewer", body: "direct"), out _);

        Receive(inbox, new Receive(Builder, Channel: "ops", Acknowledge: false), out var opsOnly);
        Assert.Equal(["ops news"], opsOnly.Messages.Select(m => m.Message));
        Assert.Equal("ops", opsOnly.Messages[0].Channel);
        Receive(inbox, new Receive(Builder, Acknowledge: false), out var everything);
        Assert.Equal(2, everything.Messages.Length);
    }

    [Fact]
    public void Should_bound_subscriptions_per_agent()
    {
        var inbox = InboxState.Empty(Builder);
        var limits = Limits with { MaxSubscriptions = 2 };
        for (var i = 0; i < 2; i++)
            inbox = inbox.ApplyAll(inbox.ProcessCommand(new Subscribe(Builder, "c" + i, CommsIds.NewSubscriptionId()), T0, limits).Events);
        Assert.Equal("CommsError", Assert.IsType<CommsRefused>(inbox.ProcessCommand(new Subscribe(Builder, "c9", CommsIds.NewSubscriptionId()), T0, limits).Reply).Error.ErrorType);
        var (left, events) = inbox.ProcessCommand(new Unsubscribe(Builder, "c0"), T0, limits);
        Assert.Equal(new UnsubscribeResult(true), left);
        Assert.Single(inbox.ApplyAll(events).Subscriptions);
    }

    [Fact]
    public void Should_create_a_channel_on_first_join_and_fan_out_to_every_member_but_the_sender()
    {
        var channel = ChannelState.Empty("ops");
        Assert.Null(channel.CreatedAt);
        foreach (var (agent, n) in new[] { (Builder, 1), (Reviewer, 2), (AgentName.Parse("planner"), 3) })
        {
            var (joined, events) = channel.ProcessCommand(new JoinChannel("ops", agent, "chsub-000000000000000" + n), T0.AddMinutes(n), ChannelLimits.Default);
            Assert.IsType<Joined>(joined);
            channel = channel.ApplyAll(events);
        }
        Assert.Equal(T0.AddMinutes(1), channel.CreatedAt);
        var (plan, none) = channel.ProcessCommand(new PlanFanOut("ops", "reviewer"), T0, ChannelLimits.Default);
        Assert.Empty(none);
        Assert.Equal(["builder", "planner"], ((FanOut)plan).Recipients.Select(a => a.Value));
        var (again, noEvents) = channel.ProcessCommand(new JoinChannel("ops", Builder, "chsub-00000000000000ff"), T0, ChannelLimits.Default);
        Assert.Equal(new Joined("ops", "chsub-0000000000000001"), again);
        Assert.Empty(noEvents);
        var full = channel.ProcessCommand(new JoinChannel("ops", AgentName.Parse("late"), "chsub-0000000000000009"), T0, new ChannelLimits(3));
        Assert.IsType<CommsRefused>(full.Reply);
        var back = ChannelState.FromSnapshot(channel.ToSnapshot());
        Assert.Equal(channel.Members.Keys, back.Members.Keys);
        Assert.Throws<ArgumentException>(() => ChannelState.Empty("../x"));
    }

    [Theory]
    [InlineData("builder", true, "builder")]
    [InlineData("#ops", false, "ops")]
    [InlineData("#Ops", false, null)]
    [InlineData("#", false, null)]
    [InlineData("#../etc", false, null)]
    [InlineData("Builder", true, null)]
    [InlineData("default", true, null)]
    public void Should_parse_a_recipient_as_an_agent_or_a_hash_channel(string to, bool agent, string? name)
    {
        var address = CommsAddress.TryParse(to, out var error);
        if (name is null)
        {
            Assert.Null(address);
            Assert.Equal("InvalidInput", error!.ErrorType);
            return;
        }
        Assert.Equal(name, agent ? address!.Agent!.Value.Value : address!.Channel);
    }

    [Theory]
    [InlineData("build*", "builder", true)]
    [InlineData("build*", "rebuild", false)]
    [InlineData("*-bot", "ci-bot", true)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "ac", false)]
    [InlineData("*", "x", true)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYbZ", false)]
    public void Should_match_name_globs(string pattern, string name, bool matches)
    {
        Assert.Equal(matches, NameGlob.TryParse(pattern, "p", out _)!.Matches(name));
    }

    [Fact]
    public void Should_match_a_pathological_glob_without_exponential_backtracking()
    {
        var glob = NameGlob.TryParse(string.Concat(Enumerable.Repeat("*a", 31)) + "b", "p", out _)!;
        Assert.False(glob.Matches(new string('a', 63)));
        Assert.Null(NameGlob.TryParse("[a-z]*", "p", out var bad));
        Assert.Equal("InvalidInput", bad!.ErrorType);
        Assert.Null(NameGlob.TryParse(new string('*', 65), "p", out _));
    }

    [Fact]
    public void Should_plan_a_broadcast_by_policy_group_and_name_excluding_the_sender_and_revoked_agents()
    {
        var agents = new[]
        {
            new BroadcastCandidate(AgentName.Parse("build-1"), "dev", false, true),
            new BroadcastCandidate(AgentName.Parse("build-2"), "dev", false, false),
            new BroadcastCandidate(AgentName.Parse("build-3"), "dev", true, true),
            new BroadcastCandidate(AgentName.Parse("build-4"), "ops", false, true),
            new BroadcastCandidate(AgentName.Parse("review"), "dev", false, true),
        };
        var filter = BroadcastFilter.TryParse(E("""{"policy_group":"dev","name_pattern":"build-*"}"""), out _)!;
        var plan = BroadcastPlan.For("build-2", filter, agents);
        Assert.Equal(["build-1"], plan.Recipients.Select(a => a.Value));
        Assert.Equal((1, 1, 0), (plan.DeliveryCount, plan.Delivered, plan.Queued));
        var everyone = BroadcastPlan.For("review", BroadcastFilter.TryParse(null, out _)!, agents);
        Assert.Equal(["build-1", "build-2", "build-4"], everyone.Recipients.Select(a => a.Value));
        Assert.Equal((3, 2, 1), (everyone.DeliveryCount, everyone.Delivered, everyone.Queued));
    }

    [Theory]
    [InlineData("""[]""")]
    [InlineData("""{"policy_group":1}""")]
    [InlineData("""{"name_pattern":"a[b]"}""")]
    [InlineData("""{"agent":"x"}""")]
    public void Should_refuse_a_filter_it_does_not_understand_rather_than_broadcast_to_everyone(string filter)
    {
        Assert.Null(BroadcastFilter.TryParse(E(filter), out var error));
        Assert.Equal("InvalidInput", error!.ErrorType);
    }

    [Fact]
    public void Should_rebuild_an_inbox_from_its_snapshot_with_the_same_order_counts_and_duplicates_memory()
    {
        var inbox = InboxState.Empty(Builder);
        var seen = Direct("reviewer", body: "seen");
        inbox = Deliver(inbox, seen, out _);
        inbox = Receive(inbox, new Receive(Builder), out _);
        inbox = Deliver(inbox, Direct("reviewer", MessagePriority.Low), out _);
        inbox = Deliver(inbox, Direct("planner", MessagePriority.High), out _);
        inbox = inbox.ApplyAll(inbox.ProcessCommand(new Subscribe(Builder, "ops", "chsub-0000000000000001"), T0, Limits).Events);
        var back = InboxState.FromSnapshot(inbox.ToSnapshot());
        Assert.Equal(inbox.UsedBytes, back.UsedBytes);
        Assert.Equal(inbox.NextSeq, back.NextSeq);
        Assert.Equal(inbox.BySender, back.BySender);
        Assert.True(((Delivered)back.ProcessCommand(new Deliver(Builder, seen), T0, Limits).Reply).Duplicate);
        Assert.Equal(Wire(inbox.ProcessCommand(new Receive(Builder, Acknowledge: false), T0, Limits).Reply),
            Wire(back.ProcessCommand(new Receive(Builder, Acknowledge: false), T0, Limits).Reply));
        var status = Assert.IsType<InboxStatus>(back.ProcessCommand(new GetInboxStatus(Builder), T0, Limits).Reply);
        Assert.Equal(2, status.Messages);
        Assert.Equal(MessagePriority.High, status.Unread[0].Priority);
    }

    [Fact]
    public void Should_forget_the_oldest_received_ids_beyond_the_memory_bound()
    {
        var inbox = InboxState.Empty(Builder);
        var first = Direct("system:test");
        inbox = inbox.Apply(new MessageQueued(first, inbox.NextSeq, T0));
        inbox = inbox.Apply(new MessagesAcknowledged([1], T0));
        for (var i = 0; i < InboxState.RememberedIds; i++)
        {
            var m = Direct("system:test");
            var seq = inbox.NextSeq;
            inbox = inbox.Apply(new MessageQueued(m, seq, T0)).Apply(new MessagesAcknowledged([seq], T0));
        }
        Assert.Equal(InboxState.RememberedIds, inbox.Recent.Count());
        Assert.False(((Delivered)inbox.ProcessCommand(new Deliver(Builder, first), T0, Limits).Reply).Duplicate);
        ImmutableArray<string> remembered = [.. inbox.Recent];
        Assert.DoesNotContain(first.MessageId, remembered);
    }
}
