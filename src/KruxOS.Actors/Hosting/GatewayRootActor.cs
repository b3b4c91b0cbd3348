using System.Collections.Immutable;
using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Event;

namespace KruxOS.Actors.Hosting;

/// <summary>One node-local child of the gateway root: its name, and its props given the children created before it.</summary>
/// <param name="Name">The child's name under <c>/user/gateway</c>.</param>
/// <param name="Props">Its props, given the children created before it.</param>
/// <param name="RestartsWithoutLimit">
/// Restarted after every failure, however many: for a child the node cannot do without that paces its own restarts
/// (the audit writer backs off and refuses calls while it does). Every other child is restarted at most 10 times a
/// minute, then stopped.
/// </param>
public sealed record GatewayChild(string Name, Func<IReadOnlyDictionary<string, IActorRef>, Props> Props, bool RestartsWithoutLimit = false);

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
    private readonly ImmutableHashSet<string> _unlimited;

    public GatewayRootActor(ImmutableArray<GatewayChild> children, Action<string, IActorRef> onCreated)
    {
        _unlimited = [.. children.Where(c => c.RestartsWithoutLimit).Select(c => c.Name)];
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
    protected override SupervisorStrategy SupervisorStrategy() => new RootStrategy(_unlimited, e =>
    {
        _log.Error(e, "A gateway child failed; restarting it");
        return Directive.Restart;
    });

    // Restart on failure, at most 10 times a minute — except for the children that restart without limit.
    private sealed class RootStrategy(ImmutableHashSet<string> unlimited, Func<Exception, Directive> decider)
        : OneForOneStrategy(maxNrOfRetries: 10, withinTimeRange: TimeSpan.FromMinutes(1), localOnlyDecider: decider)
    {
        public override void ProcessFailure(IActorContext context, bool restart, IActorRef child, Exception cause, ChildRestartStats stats,
            IReadOnlyCollection<ChildRestartStats> children)
        {
            if (restart && unlimited.Contains(child.Path.Name))
            {
                RestartChild(child, cause, suspendFirst: false);
                return;
            }
            base.ProcessFailure(context, restart, child, cause, stats, children);
        }
    }
}
