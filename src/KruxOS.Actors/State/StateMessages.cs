using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Session;
using KruxOS.Core.State.Shared;

namespace KruxOS.Actors.State;

/// <summary>Registry key of the persistent-state entities (shard region <c>state-persistent</c> or its single-node stand-in).</summary>
public sealed class PersistentStateRegion;

/// <summary>Registry key of the shared-state partitions (shard region <c>state-shared</c> or its single-node stand-in).</summary>
public sealed class SharedStateRegion;

/// <summary>Registry key of the shared-state quota ledger (cluster singleton or node child).</summary>
public sealed class SharedQuotaLedgerKey;

/// <summary>Registry key of the session-state entities (shard region <c>state-session</c> or its single-node stand-in).</summary>
public sealed class SessionStateRegion;

/// <summary>Registry key of the node's shared-state watch hub.</summary>
public sealed class StateWatchHub;

/// <summary>Routes persistent-state messages by agent (one entity per agent).</summary>
public sealed class PersistentStateMessageExtractor() : HashCodeMessageExtractor(ShardCount)
{
    /// <summary>Frozen like the other shard counts (ADR 0004).</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as IPersistentStateMessage)?.Agent.Value;
}

/// <summary>Routes shared-state messages to their partition (entity id = partition number).</summary>
public sealed class SharedStateMessageExtractor() : HashCodeMessageExtractor(SharedStatePartitions.Count)
{
    /// <inheritdoc />
    public override string? EntityId(object message) =>
        message is ISharedStateMessage m && SharedStatePartitions.IsValid(m.Partition) ? m.Partition.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
}

/// <summary>Routes session-state messages to the entity of one (agent, MCP session).</summary>
public sealed class SessionStateMessageExtractor() : HashCodeMessageExtractor(PersistentStateMessageExtractor.ShardCount)
{
    /// <inheritdoc />
    public override string? EntityId(object message) => message is ISessionStateMessage m ? SessionStateEntityId.Of(m.Agent, m.SessionId) : null;
}

/// <summary>The entity id of a session's state: <c>{agent}:{session}</c> (agent names never contain ':').</summary>
public static class SessionStateEntityId
{
    /// <summary>The id.</summary>
    public static string Of(AgentName agent, string sessionId) => agent.Value + ":" + sessionId;

    /// <summary>Splits an id made by <see cref="Of"/>.</summary>
    public static (AgentName Agent, string SessionId) Parse(string entityId)
    {
        var i = entityId.IndexOf(':', StringComparison.Ordinal);
        if (i <= 0 || i == entityId.Length - 1) throw new ArgumentException($"'{entityId}' is not a session-state entity id", nameof(entityId));
        return (AgentName.Parse(entityId[..i]), entityId[(i + 1)..]);
    }
}

/// <summary>Messages of the state area that are not part of the domain.</summary>
public static class StateAreaMessages
{
    /// <summary>The session ended: its state and its checkpoint are removed.</summary>
    [WireName("state.session.end.v1")]
    public sealed record EndSessionState(AgentName Agent, string SessionId) : ISessionStateMessage;

    /// <summary>Reply to <see cref="EndSessionState"/>.</summary>
    [WireName("state.session.ended.v1")]
    public sealed record SessionStateEnded(AgentName Agent, string SessionId) : IKruxMessage;

    /// <summary>Force a checkpoint now (operator, specs, shutdown); answered with <see cref="SessionCheckpointed"/>.</summary>
    [WireName("state.session.checkpoint-now.v1")]
    public sealed record CheckpointSessionNow(AgentName Agent, string SessionId) : ISessionStateMessage;

    /// <summary>The checkpoint holds revision <paramref name="Revision"/>.</summary>
    [WireName("state.session.checkpointed.v1")]
    public sealed record SessionCheckpointed(long Revision) : IKruxMessage;

    /// <summary>The session's quota use (<c>agent.session</c>'s state_quota).</summary>
    [WireName("state.session.usage.v1")]
    public sealed record GetSessionUsage(AgentName Agent, string SessionId) : ISessionStateMessage;

    /// <summary>Reply to <see cref="GetSessionUsage"/>.</summary>
    [WireName("state.session.usage-result.v1")]
    public sealed record SessionUsage(long UsedBytes, long LimitBytes, int Keys) : IStateReply;

    /// <summary><c>state.shared.watch</c> for a session, handled by the node's watch hub.</summary>
    [WireName("state.shared.watch-request.v1")]
    public sealed record WatchShared(AgentName Agent, string SessionId, string? Prefix) : IKruxMessage;

    /// <summary>Asks the node's watch hub which MCP sessions are open on this node (the snapshot's session-state statistics).</summary>
    [WireName("state.session.list-live.v1")]
    public sealed record ListLiveSessions : IKruxMessage
    {
        /// <summary>The only instance.</summary>
        public static readonly ListLiveSessions Instance = new();
    }

    /// <summary>One open session: its agent and session id.</summary>
    public sealed record LiveSession(AgentName Agent, string SessionId);

    /// <summary>Reply to <see cref="ListLiveSessions"/>, in agent then session order.</summary>
    [WireName("state.session.live-sessions.v1")]
    public sealed record LiveSessions(ImmutableArray<LiveSession> Sessions) : IKruxMessage;

    /// <summary>Published by a partition after a change is persisted; every node's hub matches it against its watches.</summary>
    public const string ChangesTopic = "kruxos-state-shared-changes";
}

/// <summary>How a state entity reaches the node's shared-state change subscribers.</summary>
internal static class StateChangePublishing
{
    public static void Publish(IActorContext context, bool clustered, SharedStateChange change)
    {
        if (clustered)
            Akka.Cluster.Tools.PublishSubscribe.DistributedPubSub.Get(context.System).Mediator
                .Tell(new Akka.Cluster.Tools.PublishSubscribe.Publish(StateAreaMessages.ChangesTopic, change));
        else
            context.System.EventStream.Publish(change);
    }
}
