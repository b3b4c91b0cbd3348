using Akka.Actor;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Agents;

/// <summary>Marker for commands to an agent's session entity.</summary>
public interface IAgentSessionCommand : IWithAgentName, IKruxMessage;

/// <summary>Commands to the <see cref="AgentSessionActor"/> entity (routed by agent name).</summary>
public static class AgentSessionCommands
{
    /// <summary>A connection of this agent opened; the session watches it.</summary>
    [WireName("agent-session.attach.v1")]
    public sealed record Attach(AgentName Agent, string SessionId, IActorRef Connection, ClientInfo Client, DateTimeOffset At) : IAgentSessionCommand;

    /// <summary>A connection closed.</summary>
    [WireName("agent-session.detach.v1")]
    public sealed record Detach(AgentName Agent, string SessionId) : IAgentSessionCommand;

    /// <summary>Run a call; the result goes to <paramref name="ReplyTo"/>.</summary>
    [WireName("agent-session.invoke.v1")]
    public sealed record Invoke(AgentName Agent, ToolCall Call, IActorRef ReplyTo) : IAgentSessionCommand;

    /// <summary>Close every connection of the agent (revocation, <c>kruxos kill</c>).</summary>
    [WireName("agent-session.terminate.v1")]
    public sealed record Terminate(AgentName Agent, string Reason) : IAgentSessionCommand;

    /// <summary>
    /// Deliver a server notification (JSON-RPC method + params object as JSON text) to every open connection of
    /// the agent, e.g. a <c>filesystem.watch</c> event. Nothing is queued for connections that open later.
    /// </summary>
    [WireName("agent-session.notify.v1")]
    public sealed record Notify(AgentName Agent, string Method, string ParamsJson) : IAgentSessionCommand;

    /// <summary>Ask for the session's view (connections, counters).</summary>
    [WireName("agent-session.get-info.v1")]
    public sealed record GetInfo(AgentName Agent) : IAgentSessionCommand;
}

/// <summary>Replies and notifications sent by the session entity.</summary>
public static class AgentSessionReplies
{
    /// <summary>Sent to each connection when the session terminates it.</summary>
    [WireName("agent-session.terminated.v1")]
    public sealed record Terminated(string Reason) : IKruxMessage;

    /// <summary>
    /// Sent to the submitter of a call that asked for it (<see cref="ToolCall.ReportHold"/>) when the call is bound to
    /// <paramref name="ApprovalId"/>: if <paramref name="Session"/> (the agent's session entity holding it) terminates before
    /// the call is answered, the submitter sends the call again naming that approval (ADR 0058).
    /// </summary>
    [WireName("agent-session.call-held.v1")]
    public sealed record CallHeld(Core.Approvals.ApprovalId ApprovalId, IActorRef Session) : IKruxMessage;

    /// <summary>
    /// Sent by the agent's session entity (<paramref name="Session"/>) to the submitter of a call that asked for it
    /// (<see cref="ToolCall.ReportHold"/>) as soon as it receives the call: if that entity terminates before the call is
    /// answered while the call is not held on an approval (its node was lost), the call may have run, and the submitter
    /// answers its caller at once that the outcome is unknown instead of waiting for its timeout.
    /// </summary>
    [WireName("agent-session.call-accepted.v1")]
    public sealed record CallAccepted(IActorRef Session) : IKruxMessage;

    /// <summary>
    /// Sent to the submitter of a call that asked for it when the call held on <paramref name="ApprovalId"/> leaves the hold
    /// to run: from then on it is no longer re-attached if its session goes away (it may have run), it is answered as lost.
    /// </summary>
    [WireName("agent-session.call-released.v1")]
    public sealed record CallReleased(Core.Approvals.ApprovalId ApprovalId) : IKruxMessage;

    /// <summary>Sent to each connection of the agent for <see cref="AgentSessionCommands.Notify"/>.</summary>
    [WireName("agent-session.notification.v1")]
    public sealed record Notification(string Method, string ParamsJson) : IKruxMessage;

    /// <summary>Reply to <see cref="AgentSessionCommands.Terminate"/>: how many connections were closed.</summary>
    [WireName("agent-session.terminate-result.v1")]
    public sealed record TerminateResult(string Agent, int ConnectionsClosed) : IKruxMessage;

    /// <summary>One open connection.</summary>
    [WireName("agent-session.connection-info.v1")]
    public sealed record ConnectionInfo(string SessionId, string Client, DateTimeOffset ConnectedAt) : IKruxMessage;

    /// <summary>Reply to <see cref="AgentSessionCommands.GetInfo"/>.</summary>
    [WireName("agent-session.info.v1")]
    public sealed record SessionInfo(string Agent, System.Collections.Immutable.ImmutableArray<ConnectionInfo> Connections,
        long InvocationCount, DateTimeOffset? LastConnectedAt, int InFlight) : IKruxMessage;
}
