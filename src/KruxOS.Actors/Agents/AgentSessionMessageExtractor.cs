using Akka.Cluster.Sharding;
using KruxOS.Core.Agents;

namespace KruxOS.Actors.Agents;

/// <summary>Registry key of the agent-session region (shard region or its single-node stand-in).</summary>
public sealed class AgentSessionRegion;

/// <summary>
/// Routes <see cref="IWithAgentName"/> messages to the agent's entity. Used by the shard region in a
/// cluster and by the single-node parent alike.
/// </summary>
public sealed class AgentSessionMessageExtractor() : HashCodeMessageExtractor(ShardCount)
{
    /// <summary>About ten times the largest planned cluster. Frozen: changing it reshuffles every entity (ADR 0004).</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as IWithAgentName)?.Agent.Value;
}
