using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using static KruxOS.Core.Comms.ChannelCommands;
using static KruxOS.Core.Comms.ChannelEvents;
using static KruxOS.Core.Comms.ChannelReplies;

namespace KruxOS.Core.Comms;

/// <summary>Every message to a channel names it (routing reads only this).</summary>
public interface IChannelMessage : IKruxMessage
{
    /// <summary>The channel (entity <c>comms-channel-{name}</c>).</summary>
    string Channel { get; }
}

/// <summary>A command or read of a channel.</summary>
public interface IChannelCommand : IChannelMessage;

/// <summary>The commands.</summary>
public static class ChannelCommands
{
    /// <summary>Join (the channel exists from its first join). Idempotent for an agent already in it.</summary>
    [WireName("comms.channel.join.v1")]
    public sealed record JoinChannel(string Channel, AgentName Agent, string SubscriptionId) : IChannelCommand;

    /// <summary>Leave.</summary>
    [WireName("comms.channel.leave.v1")]
    public sealed record LeaveChannel(string Channel, AgentName Agent) : IChannelCommand;

    /// <summary>Who a message to the channel goes to (every member but the sender).</summary>
    [WireName("comms.channel.fan-out.v1")]
    public sealed record PlanFanOut(string Channel, string From) : IChannelCommand;
}

/// <summary>Persisted events of a channel.</summary>
public interface IChannelEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The events.</summary>
public static class ChannelEvents
{
    /// <summary>An agent joined.</summary>
    [WireName("comms.channel.joined.v1")]
    public sealed record ChannelJoined(AgentName Agent, string SubscriptionId, DateTimeOffset At) : IChannelEvent;

    /// <summary>An agent left.</summary>
    [WireName("comms.channel.left.v1")]
    public sealed record ChannelLeft(AgentName Agent, DateTimeOffset At) : IChannelEvent;
}

/// <summary>The replies.</summary>
public static class ChannelReplies
{
    /// <summary>The agent is a member under <paramref name="SubscriptionId"/>.</summary>
    [WireName("comms.channel.joined-result.v1")]
    public sealed record Joined(string Channel, string SubscriptionId) : ICommsReply;

    /// <summary>Whether the agent was a member.</summary>
    [WireName("comms.channel.left-result.v1")]
    public sealed record Left(string Channel, bool WasMember) : ICommsReply;

    /// <summary>The inboxes a channel message goes to, in name order.</summary>
    [WireName("comms.channel.fan-out-result.v1")]
    public sealed record FanOut(string Channel, ImmutableArray<AgentName> Recipients) : ICommsReply;
}

/// <summary>Limits of a channel.</summary>
/// <param name="MaxMembers">Members of one channel. Default 1,000.</param>
public sealed record ChannelLimits(int MaxMembers)
{
    /// <summary>1,000 members.</summary>
    public static readonly ChannelLimits Default = new(1000);
}

/// <summary>A member.</summary>
public sealed record ChannelMember(AgentName Agent, string SubscriptionId, DateTimeOffset JoinedAt);

/// <summary>A channel's snapshot.</summary>
[WireName("comms.channel.snapshot.v1")]
public sealed record ChannelSnapshot(string Name, DateTimeOffset? CreatedAt, ImmutableArray<ChannelMember> Members) : IKruxMessage;

/// <summary>
/// A channel (entity <c>comms-channel-{name}</c>): created by its first subscriber, it is the set of agents
/// subscribed to it. A message to the channel is copied into each member's inbox (not the sender's).
/// </summary>
public sealed class ChannelState
{
    internal ChannelState(string name, DateTimeOffset? createdAt, ImmutableSortedDictionary<string, ChannelMember> members)
    {
        Name = name;
        CreatedAt = createdAt;
        Members = members;
    }

    /// <summary>The channel name.</summary>
    public string Name { get; }

    /// <summary>When the first member joined; null until then.</summary>
    public DateTimeOffset? CreatedAt { get; }

    /// <summary>Members by agent name.</summary>
    public ImmutableSortedDictionary<string, ChannelMember> Members { get; }

    /// <summary>A channel nobody has joined yet.</summary>
    public static ChannelState Empty(string name) =>
        CommsMessages.ValidateChannel(name) is null
            ? new(name, null, ImmutableSortedDictionary.Create<string, ChannelMember>(StringComparer.Ordinal))
            : throw new ArgumentException("not a channel name", nameof(name));

    /// <summary>The snapshot to store.</summary>
    public ChannelSnapshot ToSnapshot() => new(Name, CreatedAt, [.. Members.Values]);

    /// <summary>Loads a snapshot; throws <see cref="InvalidDataException"/> when it is damaged.</summary>
    public static ChannelState FromSnapshot(ChannelSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (CommsMessages.ValidateChannel(snapshot.Name) is not null) throw new InvalidDataException("the channel snapshot has an invalid name");
        var members = ImmutableSortedDictionary.CreateBuilder<string, ChannelMember>(StringComparer.Ordinal);
        foreach (var m in snapshot.Members.IsDefault ? [] : snapshot.Members)
            if (!members.TryAdd(m.Agent.Value, m)) throw new InvalidDataException($"the snapshot of channel '{snapshot.Name}' lists a member twice");
        return new ChannelState(snapshot.Name, snapshot.CreatedAt, members.ToImmutable());
    }
}

/// <summary>The pure functions of a channel.</summary>
public static class ChannelStateExtensions
{
    /// <summary>Decides a command.</summary>
    public static (ICommsReply Reply, ImmutableArray<IChannelEvent> Events) ProcessCommand(this ChannelState state, IChannelCommand command,
        DateTimeOffset now, ChannelLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (command.Channel != state.Name) return Refuse(Errors.Errors.InvalidInput("channel", "the command was routed to another channel"));
        switch (command)
        {
            case JoinChannel c:
                if (state.Members.TryGetValue(c.Agent.Value, out var member)) return (new Joined(state.Name, member.SubscriptionId), []);
                if (!CommsIds.IsSubscriptionId(c.SubscriptionId)) return Refuse(Errors.Errors.InvalidInput("subscription_id", "is not a subscription id"));
                if (state.Members.Count >= limits.MaxMembers)
                    return Refuse(CommsErrors.CommsError($"channel '{state.Name}' already has {limits.MaxMembers} members", "retry_later"));
                return (new Joined(state.Name, c.SubscriptionId), [new ChannelJoined(c.Agent, c.SubscriptionId, now)]);
            case LeaveChannel c:
                return state.Members.ContainsKey(c.Agent.Value)
                    ? (new Left(state.Name, true), [new ChannelLeft(c.Agent, now)])
                    : (new Left(state.Name, false), []);
            case PlanFanOut c:
                return (new FanOut(state.Name, [.. state.Members.Values.Where(m => m.Agent.Value != c.From).Select(m => m.Agent)]), []);
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>Applies a persisted event.</summary>
    public static ChannelState Apply(this ChannelState state, IChannelEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        return evt switch
        {
            ChannelJoined e => new ChannelState(state.Name, state.CreatedAt ?? e.At,
                state.Members.SetItem(e.Agent.Value, new ChannelMember(e.Agent, e.SubscriptionId, e.At))),
            ChannelLeft e => new ChannelState(state.Name, state.CreatedAt, state.Members.Remove(e.Agent.Value)),
            _ => state,
        };
    }

    /// <summary>Applies events in order.</summary>
    public static ChannelState ApplyAll(this ChannelState state, IEnumerable<IChannelEvent> events) => events.Aggregate(state, (s, e) => s.Apply(e));

    private static (ICommsReply, ImmutableArray<IChannelEvent>) Refuse(StructuredError error) => (new CommsRefused(error), []);
}
