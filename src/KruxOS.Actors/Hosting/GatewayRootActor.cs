using System.Collections.Immutable;
using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Event;

namespace KruxOS.Actors.Hosting;

/// <summary>
/// The root of each node's own actors (<c>/user/gateway</c>): the node children the areas registered for this node's mode
/// (<see cref="NodeChildren"/>, <see cref="EntityHosting"/>). It only creates and supervises; it holds no state and makes no
/// decisions. Shard regions and cluster singletons stay where Akka puts them. Children are created in order and each is
/// registered under its key as soon as it exists, so a child's props may use every child of a lower order.
/// </summary>
public sealed class GatewayRootActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ImmutableHashSet<string> _unlimited;

    public GatewayRootActor(ImmutableArray<NodeChild> children, HostingContext context, TaskCompletionSource? created)
    {
        _unlimited = [.. children.Where(c => c.RestartsWithoutLimit).Select(c => c.Name)];
        try
        {
            foreach (var child in children) Create(child, context);
            created?.TrySetResult();
        }
        catch (Exception e)
        {
            // Start-up waits for this: a node whose areas are wired inconsistently does not start (and the root stops).
            created?.TrySetException(e);
            throw;
        }
    }

    private void Create(NodeChild child, HostingContext context)
    {
        Props props;
        try { props = child.Props(context); }
        catch (Exception e)
        {
            throw new HostingException($"node child '{child.Name}' (order {child.Order}) could not be created: {e.Message}", e);
        }
        var actor = Context.ActorOf(props, child.Name);
        if (!context.Registry.TryRegister(child.Key, actor, overwrite: false))
            throw new HostingException($"node child '{child.Name}': '{child.Key.Name}' is already registered");
    }

    /// <param name="children">The children, in creation order (<see cref="NodeChildren.InCreationOrder"/>).</param>
    /// <param name="context">What their props may use; its registry receives each child as it is created.</param>
    /// <param name="created">Completed once every child exists, or failed with the reason one could not be created.</param>
    public static Props Props(ImmutableArray<NodeChild> children, HostingContext context, TaskCompletionSource? created = null) =>
        Akka.Actor.Props.Create(() => new GatewayRootActor(children, context, created));

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
