using System.Collections.Immutable;
using Akka.Actor;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Agents;

/// <summary>
/// The open connections of one agent and the terminations waiting for them to close: the attach limit, detach, the
/// connections a stopped connection actor served, terminate-and-wait, and the session's view of them. A plain object kept
/// with the session's state (a restart of the session keeps it); the session does the watching, the telling and the
/// events. Only the session's thread touches it.
/// </summary>
/// <param name="maxConnections">Most connections the agent may have open at once.</param>
internal sealed class AgentConnections(int maxConnections)
{
    private readonly Dictionary<string, Connection> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Closing> _closing = [];
    private long _terminations;

    /// <summary>One open connection: its actor (one actor may serve several session ids), its client, when it attached.</summary>
    public readonly record struct Connection(string SessionId, IActorRef Actor, ClientInfo Client, DateTimeOffset At);

    // A termination whose connections were told to close: answered once all of their actors stopped (closed transports).
    private sealed record Closing(IActorRef ReplyTo, int Closed, HashSet<IActorRef> Waiting);

    /// <summary>Number of open connections.</summary>
    public int Count => _open.Count;

    /// <summary>True while a termination waits for its connections to close.</summary>
    public bool AnyClosing => _closing.Count > 0;

    /// <summary>When the most recent connection attached.</summary>
    public DateTimeOffset? LastConnectedAt { get; private set; }

    /// <summary>Every connection actor, once each.</summary>
    public IEnumerable<IActorRef> Actors => _open.Values.Select(c => c.Actor).Distinct();

    /// <summary>Every open connection.</summary>
    public IReadOnlyList<Connection> All => [.. _open.Values];

    /// <summary>Every termination still waiting.</summary>
    public IReadOnlyList<long> Terminations => [.. _closing.Keys];

    /// <summary>Records a connection; false when the agent already has the most it may have open (a re-attach of an open id is not counted).</summary>
    public bool TryAttach(string sessionId, IActorRef actor, ClientInfo client, DateTimeOffset at)
    {
        if (_open.Count >= maxConnections && !_open.ContainsKey(sessionId)) return false;
        _open[sessionId] = new Connection(sessionId, actor, client, at);
        LastConnectedAt = at;
        return true;
    }

    /// <summary>Forgets a connection; <paramref name="actorStillOpen"/>: its actor serves another open connection of the agent.</summary>
    public bool TryRemove(string sessionId, out Connection removed, out bool actorStillOpen)
    {
        if (!_open.Remove(sessionId, out removed))
        {
            actorStillOpen = false;
            return false;
        }
        var actor = removed.Actor;
        actorStillOpen = _open.Values.Any(c => c.Actor.Equals(actor));
        return true;
    }

    /// <summary>When <paramref name="sessionId"/> attached, or <paramref name="otherwise"/> for a caller with no connection (an <c>/rpc</c> call).</summary>
    public DateTimeOffset ConnectedAt(string sessionId, DateTimeOffset otherwise) => _open.TryGetValue(sessionId, out var c) ? c.At : otherwise;

    /// <summary>The session ids a connection actor serves.</summary>
    public IReadOnlyList<string> SessionsOf(IActorRef actor) => [.. _open.Values.Where(c => c.Actor.Equals(actor)).Select(c => c.SessionId)];

    /// <summary>Starts a termination of <paramref name="closed"/> connections whose actors (<paramref name="waiting"/>) must stop before <paramref name="replyTo"/> is answered.</summary>
    public long BeginTermination(IActorRef replyTo, int closed, HashSet<IActorRef> waiting)
    {
        var n = ++_terminations;
        _closing[n] = new Closing(replyTo, closed, waiting);
        return n;
    }

    /// <summary>A connection actor stopped: the terminations that were waiting only for it, now complete.</summary>
    public IReadOnlyList<long> ActorStopped(IActorRef actor)
    {
        List<long>? complete = null;
        foreach (var (n, closing) in _closing)
            if (closing.Waiting.Remove(actor) && closing.Waiting.Count == 0) (complete ??= []).Add(n);
        return complete ?? (IReadOnlyList<long>)[];
    }

    /// <summary>Ends a termination (complete, or its wait is over): whom to answer and how many connections it closed.</summary>
    public bool TryEnd(long termination, out IActorRef replyTo, out int closed)
    {
        if (!_closing.Remove(termination, out var closing))
        {
            replyTo = ActorRefs.Nobody;
            closed = 0;
            return false;
        }
        replyTo = closing.ReplyTo;
        closed = closing.Closed;
        return true;
    }

    /// <summary>The open connections as <c>GetInfo</c> reports them, oldest first.</summary>
    public ImmutableArray<AgentSessionReplies.ConnectionInfo> Info() =>
        [.. _open.Values.Select(c => new AgentSessionReplies.ConnectionInfo(c.SessionId, c.Client.Initiating, c.At)).OrderBy(c => c.ConnectedAt)];
}
