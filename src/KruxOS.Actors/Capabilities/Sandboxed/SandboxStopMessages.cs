using KruxOS.Core;
using KruxOS.Core.Serialization;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>Registry key of each node's <see cref="SandboxHousekeepingActor"/>.</summary>
public sealed class SandboxHousekeeping;

/// <summary>
/// Stopping an agent's sandboxes on every node (revoke, <c>kruxos kill</c>, and later pause): the node asked stops its
/// own and, in a cluster, tells every other node over distributed pub-sub, because the agent's processes live on
/// whichever node ran its calls.
/// </summary>
public static class SandboxStopMessages
{
    /// <summary>The pub-sub topic the nodes' housekeeping actors share.</summary>
    public const string Topic = "kruxos.sandbox-stops";

    /// <summary>
    /// Stop everything the agent runs (on this node, and on every other node in a cluster); with <paramref name="Hold"/> its
    /// sandboxed calls stay refused until <see cref="ReleaseAgent"/>. Answered with <see cref="AgentStopped"/> for this node.
    /// </summary>
    [WireName("sandbox.stop-agent.v1")]
    public sealed record StopAgent(string Agent, bool Hold, string Reason) : IKruxMessage;

    /// <summary>Lets a held agent's sandboxed calls run again on every node.</summary>
    [WireName("sandbox.release-agent.v1")]
    public sealed record ReleaseAgent(string Agent) : IKruxMessage;

    /// <summary>What one node did for <see cref="StopAgent"/>.</summary>
    [WireName("sandbox.agent-stopped.v1")]
    public sealed record AgentStopped(string Agent, int ProcessesKilled, bool Held) : IKruxMessage;

    /// <summary>A <see cref="StopAgent"/> or <see cref="ReleaseAgent"/> relayed to the other nodes; <paramref name="Origin"/> is the asking node.</summary>
    [WireName("sandbox.stop-broadcast.v1")]
    public sealed record Broadcast(string Agent, bool Stop, bool Hold, string Reason, string Origin) : IKruxMessage;
}
