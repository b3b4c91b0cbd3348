using System.Collections.Concurrent;
using Akka.Actor;
using KruxOS.Core.Supervision;

namespace KruxOS.Actors.Agents;

/// <summary>Per-agent activity seen on this node: last connection and invocation count.</summary>
public sealed record AgentActivityView(DateTimeOffset? LastConnected, long Invocations, int OpenSessions);

/// <summary>
/// Read model of agent activity on this node, fed by the supervision event stream, so listings never
/// fan out to every session entity.
/// </summary>
public sealed class AgentActivity
{
    private readonly ConcurrentDictionary<string, Entry> _byAgent = new(StringComparer.Ordinal);
    private int _started;
    private long _totalInvocations;

    /// <summary>Capability calls seen on this node since it started, all agents together.</summary>
    public long TotalInvocations => Interlocked.Read(ref _totalInvocations);

    /// <summary>Subscribes to the event stream (idempotent).</summary>
    public void Start(ActorSystem system)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1) return;
        var listener = system.ActorOf(Props.Create(() => new Listener(this)), "agent-activity");
        system.EventStream.Subscribe(listener, typeof(SupervisionEvent));
    }

    /// <summary>When the agent's last session on this node ended (the default <c>since</c> of its briefing); null when none has.</summary>
    public DateTimeOffset? LastSessionEnded(string agent)
    {
        if (!_byAgent.TryGetValue(agent, out var e)) return null;
        lock (e) return e.LastSessionEnded;
    }

    /// <summary>The activity of one agent.</summary>
    public AgentActivityView Of(string agent) =>
        _byAgent.TryGetValue(agent, out var e) ? new AgentActivityView(e.LastConnected, e.Invocations, e.OpenSessions) : new AgentActivityView(null, 0, 0);

    internal void Apply(SupervisionEvent e)
    {
        if (e.Agent is null) return;
        var entry = _byAgent.GetOrAdd(e.Agent, _ => new Entry());
        lock (entry)
        {
            switch (e.Type)
            {
                case SupervisionEventTypes.SessionStarted:
                    entry.LastConnected = e.Timestamp;
                    entry.OpenSessions++;
                    break;
                case SupervisionEventTypes.SessionEnded:
                    entry.OpenSessions = Math.Max(0, entry.OpenSessions - 1);
                    entry.LastSessionEnded = e.Timestamp;
                    break;
                case SupervisionEventTypes.CapabilityInvoked:
                    entry.Invocations++;
                    Interlocked.Increment(ref _totalInvocations);
                    break;
            }
        }
    }

    private sealed class Entry
    {
        public DateTimeOffset? LastConnected;
        public long Invocations;
        public int OpenSessions;
        public DateTimeOffset? LastSessionEnded;
    }

    private sealed class Listener : ReceiveActor
    {
        public Listener(AgentActivity activity) => Receive<SupervisionEvent>(activity.Apply);
    }
}
