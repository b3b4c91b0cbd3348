using Akka.Actor;
using Akka.Cluster.Sharding;

namespace KruxOS.Actors.Sharding;

/// <summary>
/// The single-node stand-in for a shard region: one child per entity id, found with the very same
/// <see cref="IMessageExtractor"/> the cluster uses, so entity code cannot tell the two apart. It honours
/// <see cref="Passivate"/> like a shard does: messages that arrive while an entity is stopping are
/// buffered and delivered to its fresh incarnation.
/// </summary>
public sealed class GenericChildPerEntityParent : ReceiveActor
{
    private readonly IMessageExtractor _extractor;
    private readonly Func<string, Props> _entityProps;
    private readonly Dictionary<IActorRef, string> _passivating = new();
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _buffers = new(StringComparer.Ordinal);

    public GenericChildPerEntityParent(IMessageExtractor extractor, Func<string, Props> entityProps)
    {
        _extractor = extractor;
        _entityProps = entityProps;

        Receive<Passivate>(p =>
        {
            if (_passivating.ContainsKey(Sender)) return;
            _passivating[Sender] = Sender.Path.Name;
            Context.Watch(Sender);
            Sender.Tell(p.StopMessage);
        });
        Receive<Terminated>(t =>
        {
            if (!_passivating.Remove(t.ActorRef, out var name)) return;
            if (!_buffers.Remove(name, out var buffered)) return;
            var child = Spawn(name);
            foreach (var (message, sender) in buffered) child.Tell(message, sender);
        });
        ReceiveAny(Route);
    }

    public static Props Props(IMessageExtractor extractor, Func<string, Props> entityProps) =>
        Akka.Actor.Props.Create(() => new GenericChildPerEntityParent(extractor, entityProps));

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        // Same stance as a shard: a failing entity is restarted (its state is rebuilt on demand).
        new OneForOneStrategy(maxNrOfRetries: 10, withinTimeRange: TimeSpan.FromMinutes(1), localOnlyDecider: _ => Directive.Restart);

    private void Route(object message)
    {
        var id = _extractor.EntityId(message);
        if (id is null)
        {
            Unhandled(message);
            return;
        }
        var payload = _extractor.EntityMessage(message) ?? message;
        var name = Uri.EscapeDataString(id);
        if (_buffers.TryGetValue(name, out var buffer))
        {
            buffer.Add((payload, Sender));
            return;
        }
        var existing = Context.Child(name);
        if (!existing.IsNobody() && _passivating.ContainsKey(existing))
        {
            _buffers[name] = [(payload, Sender)];
            return;
        }
        (existing.IsNobody() ? Spawn(name) : existing).Forward(payload);
    }

    private IActorRef Spawn(string name) => Context.ActorOf(_entityProps(Uri.UnescapeDataString(name)), name);
}
