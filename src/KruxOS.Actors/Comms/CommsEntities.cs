using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Comms;
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
/// <see cref="InboxStateExtensions.ProcessCommand"/>; the actor persists the events and answers only once they are
/// durable, so a <c>delivered</c>/<c>queued</c> answer means the message survives a kill -9. A command it cannot decide
/// is answered with a <see cref="CommsRefused"/>, never dropped.
/// </summary>
public sealed class InboxActor : ReceivePersistentActor
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "comms-inbox-";

    /// <summary>A snapshot is taken every this many events.</summary>
    public const int SnapshotEvery = 200;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Core.Agents.AgentName _agent;
    private readonly InboxLimits _limits;
    private readonly TimeProvider _clock;
    private InboxState _state;

    public InboxActor(string entityId, InboxLimits limits, TimeProvider clock, TimeSpan idle)
    {
        _agent = Core.Agents.AgentName.Parse(entityId);
        _limits = limits;
        _clock = clock;
        _state = InboxState.Empty(_agent);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is InboxSnapshot s) _state = InboxState.FromSnapshot(s);
        });
        Recover<IInboxEvent>(e => _state = _state.Apply(e));
        Command<IInboxCommand>(Handle);
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Inbox of {0}: snapshot failed; the journal still holds every event", _agent));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Inbox of {0}: deleting old snapshots failed", _agent));
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        SetReceiveTimeout(idle);
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _agent.Value;

    /// <summary>The entity's props.</summary>
    public static Props Props(string entityId, InboxLimits limits, TimeProvider clock, TimeSpan idle) =>
        Akka.Actor.Props.Create(() => new InboxActor(entityId, limits, clock, idle));

    private void Handle(IInboxCommand command)
    {
        var replyTo = Sender;
        ICommsReply reply;
        System.Collections.Immutable.ImmutableArray<IInboxEvent> events;
        try
        {
            (reply, events) = _state.ProcessCommand(command, _clock.GetUtcNow(), _limits);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NullReferenceException)
        {
            // A malformed command (a null field from a hostile sender on the wire) is refused, never a crash.
            _log.Warning(e, "Inbox of {0}: refused a malformed {1}", _agent, command.GetType().Name);
            replyTo.Tell(new CommsRefused(Errors.InvalidInput("command", "malformed inbox command")));
            return;
        }
        if (events.IsEmpty)
        {
            replyTo.Tell(reply);
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (--remaining > 0) return;
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state.ToSnapshot());
            replyTo.Tell(reply);
        });
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Inbox of {0}: the journal refused an event; the entity stops and recovers on its next message", _agent);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}

/// <summary>
/// One channel, event-sourced under <c>comms-channel-{name}</c>: its members. Created by its first join; a message to
/// it is fanned out (by the sender's handler) to every member's inbox but the sender's.
/// </summary>
public sealed class ChannelActor : ReceivePersistentActor
{
    /// <summary>The persistence id prefix; never changes.</summary>
    public const string PersistenceIdPrefix = "comms-channel-";

    private const int SnapshotEvery = 200;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private readonly ChannelLimits _limits;
    private readonly TimeProvider _clock;
    private ChannelState _state;

    public ChannelActor(string entityId, ChannelLimits limits, TimeProvider clock, TimeSpan idle)
    {
        _name = entityId;
        _limits = limits;
        _clock = clock;
        _state = ChannelState.Empty(entityId);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is ChannelSnapshot s) _state = ChannelState.FromSnapshot(s);
        });
        Recover<IChannelEvent>(e => _state = _state.Apply(e));
        Command<IChannelCommand>(Handle);
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Channel {0}: snapshot failed; the journal still holds every event", _name));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        SetReceiveTimeout(idle);
    }

    /// <inheritdoc />
    public override string PersistenceId => PersistenceIdPrefix + _name;

    /// <summary>The entity's props.</summary>
    public static Props Props(string entityId, ChannelLimits limits, TimeProvider clock, TimeSpan idle) =>
        Akka.Actor.Props.Create(() => new ChannelActor(entityId, limits, clock, idle));

    private void Handle(IChannelCommand command)
    {
        var replyTo = Sender;
        ICommsReply reply;
        System.Collections.Immutable.ImmutableArray<IChannelEvent> events;
        try
        {
            (reply, events) = _state.ProcessCommand(command, _clock.GetUtcNow(), _limits);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NullReferenceException)
        {
            _log.Warning(e, "Channel {0}: refused a malformed {1}", _name, command.GetType().Name);
            replyTo.Tell(new CommsRefused(Errors.InvalidInput("command", "malformed channel command")));
            return;
        }
        if (events.IsEmpty)
        {
            replyTo.Tell(reply);
            return;
        }
        var remaining = events.Length;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (--remaining > 0) return;
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state.ToSnapshot());
            replyTo.Tell(reply);
        });
    }
}
