using Akka.Actor;
using Akka.Event;
using KruxOS.Actors.Agents;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Connections;

/// <summary>How the actor side closes the transport it represents (a WebSocket, an HTTP MCP session).</summary>
public interface IConnectionControl
{
    /// <summary>Closes the connection, telling the client why.</summary>
    void Close(StructuredError reason);

    /// <summary>
    /// Sends a server notification (<paramref name="method"/>, params as a JSON object text) to the client.
    /// Fire and forget: a notification the transport cannot send is dropped, never retried.
    /// </summary>
    void Notify(string method, string paramsJson);
}

/// <summary>Describes a new connection.</summary>
public sealed record ConnectionSpec(Principal Principal, AgentName Agent, string SessionId, ClientInfo Client, IConnectionControl Control);

/// <summary>Messages of the connection actors.</summary>
public static class ConnectionMessages
{
    /// <summary>Open a connection actor; replies <see cref="Opened"/>.</summary>
    public sealed record Open(ConnectionSpec Spec);

    /// <summary>The new connection actor.</summary>
    public sealed record Opened(IActorRef Connection);

    /// <summary>Asks how many connections this node holds; replies an <c>int</c>.</summary>
    public sealed class Count
    {
        public static readonly Count Instance = new();
        private Count() { }
    }
}

/// <summary>
/// One MCP connection on this node. It attaches to the agent's session entity (wherever that lives in
/// the cluster), relays the session's notifications to its transport, and closes the transport when the
/// session terminates it (revocation, kill). Calls do not pass through it: the edge sends each one straight
/// to the session entity with itself as the reply target.
/// </summary>
public sealed class ConnectionActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ConnectionSpec _spec;
    private readonly IActorRef _sessions;
    private readonly TimeProvider _clock;

    public ConnectionActor(ConnectionSpec spec, IActorRef sessions, TimeProvider clock)
    {
        _spec = spec;
        _sessions = sessions;
        _clock = clock;

        Receive<AgentSessionReplies.Notification>(m => _spec.Control.Notify(m.Method, m.ParamsJson));
        Receive<AgentSessionReplies.Terminated>(m =>
        {
            _log.Info("Closing session {SessionId} of {Principal}: {Reason}", _spec.SessionId, _spec.Principal, m.Reason);
            _spec.Control.Close(Errors.SessionTerminated(_spec.Agent.Value, m.Reason));
            Context.Stop(Self);
        });
    }

    public static Props Props(ConnectionSpec spec, IActorRef sessions, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new ConnectionActor(spec, sessions, clock));

    /// <inheritdoc />
    protected override void PreStart() =>
        _sessions.Tell(new AgentSessionCommands.Attach(_spec.Agent, _spec.SessionId, Self, _spec.Client, _clock.GetUtcNow()));

    /// <inheritdoc />
    protected override void PostStop() => _sessions.Tell(new AgentSessionCommands.Detach(_spec.Agent, _spec.SessionId));
}

/// <summary>Parent of this node's connection actors.</summary>
public sealed class ConnectionsActor : ReceiveActor
{
    private readonly IActorRef _sessions;
    private readonly TimeProvider _clock;

    public ConnectionsActor(IActorRef sessions, TimeProvider clock)
    {
        _sessions = sessions;
        _clock = clock;
        Receive<ConnectionMessages.Open>(m =>
        {
            var child = Context.ActorOf(ConnectionActor.Props(m.Spec, _sessions, _clock), m.Spec.SessionId);
            Sender.Tell(new ConnectionMessages.Opened(child));
        });
        Receive<ConnectionMessages.Count>(_ => Sender.Tell(Context.GetChildren().Count()));
    }

    public static Props Props(IActorRef sessions, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new ConnectionsActor(sessions, clock));

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        // A connection that throws is closed, not resurrected: its transport state is gone.
        new OneForOneStrategy(_ => Directive.Stop);
}
