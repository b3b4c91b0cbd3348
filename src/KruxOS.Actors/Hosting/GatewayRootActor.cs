using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;

namespace KruxOS.Actors.Hosting;

/// <summary>One node-local child of the gateway root: its name, and its props given the children created before it.</summary>
public sealed record GatewayChild(string Name, Func<IReadOnlyDictionary<string, IActorRef>, Props> Props);

/// <summary>
/// The root of each node's own actors (connections, audit trail, host metrics, policies, the approval index;
/// on a single node also the agent-session and approval parents and the identity registry, in a cluster the
/// identity replica). It only creates and supervises; it holds no state and makes no decisions. Shard regions
/// and the identity singleton stay where Akka puts them. Children are created in order, so a child may be
/// given its elder siblings.
/// </summary>
public sealed class GatewayRootActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public GatewayRootActor(ImmutableArray<GatewayChild> children, Action<string, IActorRef> onCreated)
    {
        var created = ImmutableDictionary.CreateBuilder<string, IActorRef>(StringComparer.Ordinal);
        foreach (var child in children)
        {
            var actor = Context.ActorOf(child.Props(created.ToImmutable()), child.Name);
            created[child.Name] = actor;
            onCreated(child.Name, actor);
        }
    }

    /// <param name="children">The children, in creation order.</param>
    /// <param name="onCreated">Called for each child as it is created (registers it in the ActorRegistry).</param>
    public static Props Props(ImmutableArray<GatewayChild> children, Action<string, IActorRef> onCreated) =>
        Akka.Actor.Props.Create(() => new GatewayRootActor(children, onCreated));

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(maxNrOfRetries: 10, withinTimeRange: TimeSpan.FromMinutes(1), localOnlyDecider: e =>
        {
            _log.Error(e, "A gateway child failed; restarting it");
            return Directive.Restart;
        });
}
