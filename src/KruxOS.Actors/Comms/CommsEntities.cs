using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Persistence;
using KruxOS.Core.Comms;
using KruxOS.Actors.Persistence;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Comms;

/// <summary>Registry key of the inbox entities (<c>comms-inbox</c> shard region, or <c>/user/gateway/comms-inboxes</c>).</summary>
public sealed class InboxRegion;

/// <summary>Registry key of the channel entities (<c>comms-channel</c> shard region, or <c>/user/gateway/comms-channels</c>).</summary>
public sealed class ChannelRegion;

/// <summary>Routes inbox commands by agent name.</summary>
public sealed class InboxMessageExtractor() : HashCodeMessageExtractor(ShardCount)
{
    /// <summary>About ten times the largest planned cluster. Frozen once deployed.</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as IInboxMessage)?.Agent.Value;
}

/// <summary>Routes channel commands by channel name (only valid names get an entity).</summary>
public sealed class ChannelMessageExtractor() : HashCodeMessageExtractor(ShardCount)
{
    /// <summary>About ten times the largest planned cluster. Frozen once deployed.</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) =>
        message is IChannelMessage m && CommsMessages.ValidateChannel(m.Channel) is null ? m.Channel : null;
}

/// <summary>
/// One agent's durable inbox, event-sourced under <c>comms-inbox-{agent}</c>. Every command is decided by the pure
/// <see cref="InboxStateExtensions.ProcessCommand"/>; the answer is sent only once the events are durable, so a
/// <c>delivered</c>/<c>queued</c> answer means the message survives a kill -9. A command it cannot decide is answered
/// with a <see cref="CommsRefused"/>, never dropped.
/// </summary>
public sealed class InboxActor : DecidingPersistentActor<InboxState, IInboxCommand, IInboxEvent, ICommsReply>
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "comms-inbox-";

    /// <summary>A snapshot is taken every this many events.</summary>
    public const int Snapshots = 200;

    private readonly Core.Agents.AgentName _agent;
    private readonly InboxLimits _limits;
    private readonly TimeProvider _clock;

    public InboxActor(string entityId, InboxLimits limits, TimeProvider clock, TimeSpan idle)
        : this(Core.Agents.AgentName.Parse(entityId), limits, clock, idle)
    {
    }

    private InboxActor(Core.Agents.AgentName agent, InboxLimits limits, TimeProvider clock, TimeSpan idle)
        : base(InboxState.Empty(agent), Snapshots, $"Inbox of {agent}")
    {
        _agent = agent;
        _limits = limits;
        _clock = clock;
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        SetReceiveTimeout(idle);
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _agent.Value;

    /// <summary>The entity's props.</summary>
    public static Props Props(string entityId, InboxLimits limits, TimeProvider clock, TimeSpan idle) =>
        Akka.Actor.Props.Create(() => new InboxActor(entityId, limits, clock, idle));

    /// <inheritdoc />
    protected override (ICommsReply Reply, ImmutableArray<IInboxEvent> Events) Decide(InboxState state, IInboxCommand command) =>
        state.ProcessCommand(command, _clock.GetUtcNow(), _limits);

    /// <inheritdoc />
    protected override InboxState Apply(InboxState state, IInboxEvent @event) => state.Apply(@event);

    /// <inheritdoc />
    protected override object ToSnapshot(InboxState state) => state.ToSnapshot();

    /// <inheritdoc />
    protected override InboxState? FromSnapshot(object snapshot) => snapshot is InboxSnapshot s ? InboxState.FromSnapshot(s) : null;

    /// <inheritdoc />
    protected override ICommsReply Malformed(IInboxCommand command) => new CommsRefused(Errors.InvalidInput("command", "malformed inbox command"));
}

/// <summary>
/// One channel, event-sourced under <c>comms-channel-{name}</c>: its members. Created by its first join; a message to
/// it is fanned out (by the sender's handler) to every member's inbox but the sender's.
/// </summary>
public sealed class ChannelActor : DecidingPersistentActor<ChannelState, IChannelCommand, IChannelEvent, ICommsReply>
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "comms-channel-";

    private readonly string _name;
    private readonly ChannelLimits _limits;
    private readonly TimeProvider _clock;

    public ChannelActor(string entityId, ChannelLimits limits, TimeProvider clock, TimeSpan idle)
        : base(ChannelState.Empty(entityId), 200, $"Channel {entityId}")
    {
        _name = entityId;
        _limits = limits;
        _clock = clock;
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        SetReceiveTimeout(idle);
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _name;

    /// <summary>The entity's props.</summary>
    public static Props Props(string entityId, ChannelLimits limits, TimeProvider clock, TimeSpan idle) =>
        Akka.Actor.Props.Create(() => new ChannelActor(entityId, limits, clock, idle));

    /// <inheritdoc />
    protected override (ICommsReply Reply, ImmutableArray<IChannelEvent> Events) Decide(ChannelState state, IChannelCommand command) =>
        state.ProcessCommand(command, _clock.GetUtcNow(), _limits);

    /// <inheritdoc />
    protected override ChannelState Apply(ChannelState state, IChannelEvent @event) => state.Apply(@event);

    /// <inheritdoc />
    protected override object ToSnapshot(ChannelState state) => state.ToSnapshot();

    /// <inheritdoc />
    protected override ChannelState? FromSnapshot(object snapshot) => snapshot is ChannelSnapshot s ? ChannelState.FromSnapshot(s) : null;

    /// <inheritdoc />
    protected override ICommsReply Malformed(IChannelCommand command) => new CommsRefused(Errors.InvalidInput("command", "malformed channel command"));
}
