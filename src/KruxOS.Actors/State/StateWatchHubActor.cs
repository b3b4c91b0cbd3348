using System.Text.Json;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using KruxOS.Actors.Agents;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Shared;
using KruxOS.Core.Supervision;
using static KruxOS.Actors.State.StateAreaMessages;

namespace KruxOS.Actors.State;

/// <summary>
/// The node's <c>state.shared.watch</c> subscriptions (<see cref="SharedWatchRegistry"/>, not persisted: a watch lives as
/// long as its session). Every persisted shared-state change reaches every node's hub (event stream on a single node,
/// distributed pub-sub in a cluster); the hub sends one <c>notifications/kruxos/state_changed</c> per matching watch to
/// the watching agent's session entity, which delivers it to that agent's open connections — never to another agent.
/// It also ends session state: when this node's agent-session entity reports a session ended, the session's watches go
/// and its session-state entity deletes its checkpoint. From the same events it knows the sessions open on this node
/// (<see cref="ListLiveSessions"/>), which the system snapshot counts.
/// </summary>
public sealed class StateWatchHubActor : ReceiveActor
{
    private readonly IActorRef _agentSessions;
    private readonly IActorRef _sessionStates;
    private readonly TimeProvider _clock;
    private readonly SharedWatchLimits _limits;
    private SharedWatchRegistry _registry = SharedWatchRegistry.Empty;
    // This node's open sessions (from the same supervision events), for the snapshot's session-state statistics.
    private readonly SortedSet<(string Agent, string Session)> _live = new(Comparer<(string Agent, string Session)>.Create(static (a, b) =>
    {
        var c = string.CompareOrdinal(a.Agent, b.Agent);
        return c != 0 ? c : string.CompareOrdinal(a.Session, b.Session);
    }));

    public StateWatchHubActor(IActorRef agentSessions, IActorRef sessionStates, TimeProvider clock, SharedWatchLimits limits, bool clustered)
    {
        _agentSessions = agentSessions;
        _sessionStates = sessionStates;
        _clock = clock;
        _limits = limits;
        Receive<WatchShared>(HandleWatch);
        Receive<SharedStateChange>(HandleChange);
        Receive<SupervisionEvent>(HandleSupervision);
        Receive<SubscribeAck>(_ => { });
        Receive<SessionStateEnded>(_ => { });
        Receive<ListLiveSessions>(HandleListLive);
        if (clustered) DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(ChangesTopic, Self));
        else Context.System.EventStream.Subscribe(Self, typeof(SharedStateChange));
        Context.System.EventStream.Subscribe(Self, typeof(SupervisionEvent));
    }

    /// <summary>The hub's props.</summary>
    public static Props Props(IActorRef agentSessions, IActorRef sessionStates, TimeProvider clock, SharedWatchLimits limits, bool clustered) =>
        Akka.Actor.Props.Create(() => new StateWatchHubActor(agentSessions, sessionStates, clock, limits, clustered));

    /// <summary>The notification's params: <c>{subscription_id, key, version, change, owner_agent, updated_at}</c>.</summary>
    public static string NotificationParams(SharedWatchEvent e) => JsonSerializer.Serialize(e, CoreJson.Options);

    /// <inheritdoc />
    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void HandleWatch(WatchShared m)
    {
        var (reply, registry) = _registry.Subscribe(m.Agent, m.SessionId, m.Prefix, SharedWatchRegistry.NewSubscriptionId(), _clock.GetUtcNow(), _limits);
        _registry = registry;
        Sender.Tell(reply);
    }

    private void HandleChange(SharedStateChange change)
    {
        foreach (var (watch, evt) in _registry.Match(change))
            _agentSessions.Tell(new AgentSessionCommands.Notify(watch.Agent, SharedWatchEvent.NotificationMethod, NotificationParams(evt)));
    }

    private void HandleListLive(ListLiveSessions _) =>
        Sender.Tell(new LiveSessions([.. _live.Select(s => new LiveSession(AgentName.Parse(s.Agent), s.Session))]));

    private void HandleSupervision(SupervisionEvent e)
    {
        if (e.Type is not (SupervisionEventTypes.SessionStarted or SupervisionEventTypes.SessionEnded) || e.SessionId is not { Length: > 0 } session) return;
        if (!AgentName.TryParse(e.Agent, out var agent, out _)) return;
        if (e.Type == SupervisionEventTypes.SessionStarted)
        {
            _live.Add((agent.Value, session));
            return;
        }
        _live.Remove((agent.Value, session));
        _registry = _registry.EndSession(session);
        _sessionStates.Tell(new EndSessionState(agent, session));
    }
}
