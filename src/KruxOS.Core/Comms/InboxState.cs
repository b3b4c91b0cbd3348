using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Comms.InboxEvents;
using static KruxOS.Core.Comms.InboxReplies;

namespace KruxOS.Core.Comms;

/// <summary>Limits of one agent's inbox (all configurable).</summary>
/// <param name="MaxMessages">Unread messages kept. Default 1,000.</param>
/// <param name="MaxBytes">Bytes of unread messages kept (<see cref="CommsMessage.Charge"/>). Default 16 MiB.</param>
/// <param name="MaxBodyBytes">Largest message text. Default 64 KiB.</param>
/// <param name="MaxPendingPerSender">
/// Unread messages one agent or user may have in this inbox, so one sender cannot fill it and lock every
/// other sender out. The gateway's own messages (<c>system:…</c>) are exempt. Default 250.
/// </param>
/// <param name="MaxSubscriptions">Channels the agent may subscribe to. Default 64.</param>
/// <param name="MaxReceive">Largest <c>limit</c> of one <c>receive</c>. Default 100.</param>
public sealed record InboxLimits(int MaxMessages, long MaxBytes, int MaxBodyBytes, int MaxPendingPerSender, int MaxSubscriptions, int MaxReceive)
{
    /// <summary>1,000 messages, 16 MiB, 64 KiB bodies, 250 per sender, 64 channels, 100 per receive.</summary>
    public static readonly InboxLimits Default = new(1000, 16 * 1024 * 1024, 64 * 1024, 250, 64, 100);

    /// <summary><c>comms.receive</c>'s default <c>limit</c> (spec §17).</summary>
    public const int DefaultReceive = 10;
}

/// <summary>An unread message and its arrival number in this inbox.</summary>
public sealed record InboxItem(long Seq, CommsMessage Message);

/// <summary>A channel the agent subscribed to.</summary>
public sealed record InboxSubscription(string Channel, string SubscriptionId, DateTimeOffset At);

/// <summary>Every message to an inbox names its agent (routing reads only this).</summary>
public interface IInboxMessage : IWithAgentName, IKruxMessage;

/// <summary>A command to an inbox (decided by <see cref="InboxStateExtensions.ProcessCommand"/>; reads too, since <c>receive</c> acknowledges).</summary>
public interface IInboxCommand : IInboxMessage;

/// <summary>The commands.</summary>
public static class InboxCommands
{
    /// <summary>Queue a message in <paramref name="Agent"/>'s inbox (idempotent on the message id: a re-delivery is a no-op).</summary>
    [WireName("comms.inbox.deliver.v1")]
    public sealed record Deliver(AgentName Agent, CommsMessage Message) : IInboxCommand;

    /// <summary>
    /// <c>comms.receive</c>: up to <paramref name="Limit"/> (default 10) messages, high priority first, then in
    /// arrival order; only those of <paramref name="Channel"/> when given. <paramref name="Acknowledge"/> false
    /// peeks (nothing is removed).
    /// </summary>
    [WireName("comms.inbox.receive.v1")]
    public sealed record Receive(AgentName Agent, int? Limit = null, string? Channel = null, bool Acknowledge = true) : IInboxCommand;

    /// <summary>Record a channel subscription (the channel entity is joined after this succeeds).</summary>
    [WireName("comms.inbox.subscribe.v1")]
    public sealed record Subscribe(AgentName Agent, string Channel, string NewSubscriptionId) : IInboxCommand;

    /// <summary>Forget a channel subscription (the agent was revoked, or the channel refused the join).</summary>
    [WireName("comms.inbox.unsubscribe.v1")]
    public sealed record Unsubscribe(AgentName Agent, string Channel) : IInboxCommand;

    /// <summary>How full the inbox is (<c>comms_queue_depth</c>), and the unread messages' headers (briefing).</summary>
    [WireName("comms.inbox.status.v1")]
    public sealed record GetInboxStatus(AgentName Agent) : IInboxCommand;
}

/// <summary>Persisted events of an inbox; each carries its time.</summary>
public interface IInboxEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The events.</summary>
public static class InboxEvents
{
    /// <summary>A message arrived as number <paramref name="Seq"/>.</summary>
    [WireName("comms.inbox.message-queued.v1")]
    public sealed record MessageQueued(CommsMessage Message, long Seq, DateTimeOffset At) : IInboxEvent;

    /// <summary>Messages were received and removed.</summary>
    [WireName("comms.inbox.messages-acknowledged.v1")]
    public sealed record MessagesAcknowledged(ImmutableArray<long> Seqs, DateTimeOffset At) : IInboxEvent;

    /// <summary>The agent subscribed to a channel.</summary>
    [WireName("comms.inbox.subscription-added.v1")]
    public sealed record SubscriptionAdded(string Channel, string SubscriptionId, DateTimeOffset At) : IInboxEvent;

    /// <summary>The subscription ended.</summary>
    [WireName("comms.inbox.subscription-removed.v1")]
    public sealed record SubscriptionRemoved(string Channel, DateTimeOffset At) : IInboxEvent;
}

/// <summary>A reply of comms: an output record of spec §8.6, or <see cref="CommsRefused"/>.</summary>
public interface ICommsReply : IKruxMessage;

/// <summary>Refused; nothing changed.</summary>
[WireName("comms.refused.v1")]
public sealed record CommsRefused(StructuredError Error) : ICommsReply;

/// <summary>The replies.</summary>
public static class InboxReplies
{
    /// <summary>The message is in the inbox (<paramref name="Duplicate"/>: it already was, or was already received).</summary>
    [WireName("comms.inbox.delivered.v1")]
    public sealed record Delivered(string MessageId, bool Duplicate) : ICommsReply;

    /// <summary>One received message: <c>message_id, from, message, priority, sent_at, channel (null = direct)</c>.</summary>
    public sealed record ReceivedMessage(string MessageId, string From, string Message, MessagePriority Priority, DateTimeOffset SentAt, string? Channel);

    /// <summary><c>messages[], remaining</c> (matching messages still unread after this call).</summary>
    [WireName("comms.inbox.receive-result.v1")]
    public sealed record ReceiveResult(ImmutableArray<ReceivedMessage> Messages, int Remaining) : ICommsReply;

    /// <summary><c>subscription_id, channel</c> of <c>comms.subscribe</c>.</summary>
    [WireName("comms.inbox.subscribe-result.v1")]
    public sealed record SubscribeResult(string SubscriptionId, string Channel) : ICommsReply;

    /// <summary>Whether a subscription was removed.</summary>
    [WireName("comms.inbox.unsubscribe-result.v1")]
    public sealed record UnsubscribeResult(bool Unsubscribed) : ICommsReply;

    /// <summary>An unread message's header.</summary>
    public sealed record UnreadHeader(string MessageId, string From, MessagePriority Priority, DateTimeOffset SentAt, string? Channel);

    /// <summary>Unread count and bytes, and the unread headers in receive order.</summary>
    [WireName("comms.inbox.status-result.v1")]
    public sealed record InboxStatus(int Messages, long Bytes, ImmutableArray<UnreadHeader> Unread) : ICommsReply;
}

/// <summary>The snapshot of an inbox; indexes and byte counts are rebuilt on load.</summary>
[WireName("comms.inbox.snapshot.v1")]
public sealed record InboxSnapshot(AgentName Owner, long NextSeq, ImmutableArray<InboxItem> Items, ImmutableArray<string> RecentlyReceived,
    ImmutableArray<InboxSubscription> Subscriptions) : IKruxMessage;

/// <summary>
/// One agent's durable inbox (entity <c>comms-inbox-{agent}</c>): unread messages in arrival order, the
/// ids of recently received ones (so a re-delivery after a fan-out retry is not queued twice), and the
/// agent's channel subscriptions. Changed only through <see cref="InboxStateExtensions.ProcessCommand"/> /
/// <see cref="InboxStateExtensions.Apply"/>.
/// </summary>
public sealed class InboxState
{
    /// <summary>Ids of received messages remembered for de-duplication (a constant, so replay never depends on configuration).</summary>
    public const int RememberedIds = 2048;

    internal InboxState(AgentName owner, long nextSeq, ImmutableSortedDictionary<long, InboxItem> items, ImmutableDictionary<string, long> byId,
        ImmutableDictionary<string, int> bySender, long usedBytes, ImmutableQueue<string> recent, ImmutableHashSet<string> recentSet,
        ImmutableSortedDictionary<string, InboxSubscription> subscriptions)
    {
        Owner = owner;
        NextSeq = nextSeq;
        Items = items;
        ById = byId;
        BySender = bySender;
        UsedBytes = usedBytes;
        Recent = recent;
        RecentSet = recentSet;
        Subscriptions = subscriptions;
    }

    /// <summary>The agent.</summary>
    public AgentName Owner { get; }

    /// <summary>The arrival number the next message gets.</summary>
    public long NextSeq { get; }

    /// <summary>Unread messages by arrival number.</summary>
    public ImmutableSortedDictionary<long, InboxItem> Items { get; }

    /// <summary>Arrival number by message id.</summary>
    public ImmutableDictionary<string, long> ById { get; }

    /// <summary>Unread messages by sender.</summary>
    public ImmutableDictionary<string, int> BySender { get; }

    /// <summary>Bytes of unread messages.</summary>
    public long UsedBytes { get; }

    /// <summary>Recently received ids, oldest first.</summary>
    public ImmutableQueue<string> Recent { get; }

    internal ImmutableHashSet<string> RecentSet { get; }

    /// <summary>Channel subscriptions by channel.</summary>
    public ImmutableSortedDictionary<string, InboxSubscription> Subscriptions { get; }

    /// <summary>An empty inbox.</summary>
    public static InboxState Empty(AgentName owner) => new(owner, 1,
        ImmutableSortedDictionary<long, InboxItem>.Empty, ImmutableDictionary.Create<string, long>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, int>(StringComparer.Ordinal), 0, ImmutableQueue<string>.Empty,
        ImmutableHashSet.Create<string>(StringComparer.Ordinal), ImmutableSortedDictionary.Create<string, InboxSubscription>(StringComparer.Ordinal));

    /// <summary>The snapshot to store.</summary>
    public InboxSnapshot ToSnapshot() => new(Owner, NextSeq, [.. Items.Values], [.. Recent], [.. Subscriptions.Values]);

    /// <summary>Loads a snapshot, rebuilding the indexes; throws <see cref="InvalidDataException"/> when it is damaged.</summary>
    public static InboxState FromSnapshot(InboxSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var state = Empty(snapshot.Owner);
        foreach (var item in snapshot.Items.IsDefault ? [] : snapshot.Items)
        {
            if (item.Seq >= snapshot.NextSeq || state.Items.ContainsKey(item.Seq) || state.ById.ContainsKey(item.Message.MessageId))
                throw new InvalidDataException($"the inbox snapshot of '{snapshot.Owner}' is damaged");
            state = state.Apply(new MessageQueued(item.Message, item.Seq, item.Message.SentAt));
        }
        var recent = ImmutableQueue<string>.Empty;
        var recentSet = ImmutableHashSet.Create<string>(StringComparer.Ordinal);
        foreach (var id in (snapshot.RecentlyReceived.IsDefault ? [] : snapshot.RecentlyReceived).TakeLast(RememberedIds))
            if (!recentSet.Contains(id))
            {
                recent = recent.Enqueue(id);
                recentSet = recentSet.Add(id);
            }
        var subs = state.Subscriptions;
        foreach (var s in snapshot.Subscriptions.IsDefault ? [] : snapshot.Subscriptions) subs = subs.SetItem(s.Channel, s);
        return new InboxState(state.Owner, Math.Max(1, snapshot.NextSeq), state.Items, state.ById, state.BySender, state.UsedBytes, recent, recentSet, subs);
    }

    internal bool Knows(string messageId) => ById.ContainsKey(messageId) || RecentSet.Contains(messageId);
}

/// <summary>The pure functions of an inbox.</summary>
public static class InboxStateExtensions
{
    /// <summary>Decides a command: the reply and the events to persist (none for peeks, repeats and refusals).</summary>
    public static (ICommsReply Reply, ImmutableArray<IInboxEvent> Events) ProcessCommand(this InboxState state, IInboxCommand command,
        DateTimeOffset now, InboxLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (command.Agent != state.Owner) return Refuse(Errors.Errors.InvalidInput("agent", "the command is for another agent's inbox"));
        switch (command)
        {
            case Deliver c:
            {
                var m = c.Message;
                if (CommsMessages.Validate(m, limits.MaxBodyBytes) is { } bad) return Refuse(bad);
                if (m.To is { } to && to != state.Owner) return Refuse(Errors.Errors.InvalidInput("to", "the message is addressed to another agent"));
                if (m.Channel is { } channel && !state.Subscriptions.ContainsKey(channel))
                    return Refuse(CommsErrors.NotSubscribed(state.Owner, channel));
                if (state.Knows(m.MessageId)) return (new Delivered(m.MessageId, true), []);
                if (state.Items.Count >= limits.MaxMessages || state.UsedBytes + m.Charge() > limits.MaxBytes)
                    return Refuse(CommsErrors.InboxFull(state.Owner, limits.MaxMessages, limits.MaxBytes, perSender: false));
                if (!m.From.StartsWith(PrincipalText.SystemPrefix, StringComparison.Ordinal)
                    && state.BySender.GetValueOrDefault(m.From) >= limits.MaxPendingPerSender)
                    return Refuse(CommsErrors.InboxFull(state.Owner, limits.MaxPendingPerSender, limits.MaxBytes, perSender: true));
                return (new Delivered(m.MessageId, false), [new MessageQueued(m, state.NextSeq, now)]);
            }
            case Receive c:
            {
                var limit = c.Limit ?? InboxLimits.DefaultReceive;
                if (limit < 1 || limit > limits.MaxReceive)
                    return Refuse(Errors.Errors.InvalidInput("limit", $"must be between 1 and {limits.MaxReceive}"));
                if (c.Channel is not null && CommsMessages.ValidateChannel(c.Channel) is { } bad) return Refuse(bad);
                var matching = InReceiveOrder(state).Where(i => c.Channel is null || i.Message.Channel == c.Channel).ToList();
                var taken = matching.Take(limit).ToList();
                var reply = new ReceiveResult([.. taken.Select(Received)], matching.Count - taken.Count);
                return c.Acknowledge && taken.Count > 0
                    ? (reply, [new MessagesAcknowledged([.. taken.Select(i => i.Seq)], now)])
                    : (reply, []);
            }
            case Subscribe c:
            {
                if (CommsMessages.ValidateChannel(c.Channel) is { } bad) return Refuse(bad);
                if (state.Subscriptions.TryGetValue(c.Channel, out var existing))
                    return (new SubscribeResult(existing.SubscriptionId, c.Channel), []);
                if (state.Subscriptions.Count >= limits.MaxSubscriptions)
                    return Refuse(CommsErrors.CommsError($"this agent already subscribes to {limits.MaxSubscriptions} channels", "reuse_channels"));
                if (!CommsIds.IsSubscriptionId(c.NewSubscriptionId)) return Refuse(Errors.Errors.InvalidInput("subscription_id", "is not a subscription id"));
                return (new SubscribeResult(c.NewSubscriptionId, c.Channel), [new SubscriptionAdded(c.Channel, c.NewSubscriptionId, now)]);
            }
            case Unsubscribe c:
                return state.Subscriptions.ContainsKey(c.Channel)
                    ? (new UnsubscribeResult(true), [new SubscriptionRemoved(c.Channel, now)])
                    : (new UnsubscribeResult(false), []);
            case GetInboxStatus:
                return (new InboxStatus(state.Items.Count, state.UsedBytes,
                    [.. InReceiveOrder(state).Select(i => new UnreadHeader(i.Message.MessageId, i.Message.From, i.Message.Priority, i.Message.SentAt, i.Message.Channel))]), []);
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock or the configuration.</summary>
    public static InboxState Apply(this InboxState state, IInboxEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt)
        {
            case MessageQueued e:
            {
                if (state.ById.ContainsKey(e.Message.MessageId)) return state;
                var m = e.Message;
                return new InboxState(state.Owner, Math.Max(state.NextSeq, e.Seq + 1), state.Items.SetItem(e.Seq, new InboxItem(e.Seq, m)),
                    state.ById.SetItem(m.MessageId, e.Seq), state.BySender.SetItem(m.From, state.BySender.GetValueOrDefault(m.From) + 1),
                    state.UsedBytes + m.Charge(), state.Recent, state.RecentSet, state.Subscriptions);
            }
            case MessagesAcknowledged e:
            {
                var items = state.Items;
                var byId = state.ById;
                var bySender = state.BySender;
                var used = state.UsedBytes;
                var recent = state.Recent;
                var recentSet = state.RecentSet;
                foreach (var seq in e.Seqs.IsDefault ? [] : e.Seqs)
                {
                    if (!items.TryGetValue(seq, out var item)) continue;
                    var m = item.Message;
                    items = items.Remove(seq);
                    byId = byId.Remove(m.MessageId);
                    var left = bySender.GetValueOrDefault(m.From) - 1;
                    bySender = left > 0 ? bySender.SetItem(m.From, left) : bySender.Remove(m.From);
                    used -= m.Charge();
                    recent = recent.Enqueue(m.MessageId);
                    recentSet = recentSet.Add(m.MessageId);
                    while (recentSet.Count > InboxState.RememberedIds)
                    {
                        recent = recent.Dequeue(out var forgotten);
                        recentSet = recentSet.Remove(forgotten);
                    }
                }
                return new InboxState(state.Owner, state.NextSeq, items, byId, bySender, used, recent, recentSet, state.Subscriptions);
            }
            case SubscriptionAdded e:
                return new InboxState(state.Owner, state.NextSeq, state.Items, state.ById, state.BySender, state.UsedBytes, state.Recent, state.RecentSet,
                    state.Subscriptions.SetItem(e.Channel, new InboxSubscription(e.Channel, e.SubscriptionId, e.At)));
            case SubscriptionRemoved e:
                return new InboxState(state.Owner, state.NextSeq, state.Items, state.ById, state.BySender, state.UsedBytes, state.Recent, state.RecentSet,
                    state.Subscriptions.Remove(e.Channel));
            default:
                return state;
        }
    }

    /// <summary>Applies events in order.</summary>
    public static InboxState ApplyAll(this InboxState state, IEnumerable<IInboxEvent> events) => events.Aggregate(state, (s, e) => s.Apply(e));

    /// <summary>Unread messages in the order <c>receive</c> returns them: high priority first, then arrival order.</summary>
    public static IEnumerable<InboxItem> InReceiveOrder(InboxState state) =>
        state.Items.Values.OrderByDescending(i => i.Message.Priority).ThenBy(i => i.Seq);

    private static ReceivedMessage Received(InboxItem i) =>
        new(i.Message.MessageId, i.Message.From, i.Message.Body, i.Message.Priority, i.Message.SentAt, i.Message.Channel);

    private static (ICommsReply, ImmutableArray<IInboxEvent>) Refuse(StructuredError error) => (new CommsRefused(error), []);
}
