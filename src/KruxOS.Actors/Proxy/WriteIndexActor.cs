using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using KruxOS.Actors.Persistence;
using KruxOS.Core.Proxy;

namespace KruxOS.Actors.Proxy;

/// <summary>
/// Node-local keeper of the <see cref="WriteIndex"/>: at start it replays every write event from the journal (tag query)
/// into the index, then wakes the entities of writes that are due — a window that ended, a retry that is due, an attempt
/// left open by a crash — so a write whose entity is not running (after a restart, a passivation, a lost node) still
/// executes on time. In a cluster it then follows the shared journal live, so every node lists every write. It decides
/// nothing itself; finished writes older than a day leave the index (their journals stay).
/// </summary>
public sealed class WriteIndexActor : LiveTaggedProjection
{
    private const string TickTimer = "tick";
    private static readonly TimeSpan MaxTick = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryLoad = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan KeepFinished = TimeSpan.FromDays(1);

    private readonly WriteIndex _index;
    private readonly IActorRef _writes;
    private readonly TimeProvider _clock;
    private readonly Func<IActorContext, Source<EventEnvelope, NotUsed>>? _source;
    private ImmutableDictionary<string, (BufferedWriteState State, long Seq)> _folded = ImmutableDictionary<string, (BufferedWriteState State, long Seq)>.Empty;

    public WriteIndexActor(WriteIndex index, IActorRef writes, TimeProvider clock, Func<IActorContext, Source<EventEnvelope, NotUsed>>? source,
        Func<IActorContext, Offset, Source<EventEnvelope, NotUsed>>? live)
        : base(live, "write events")
    {
        _index = index;
        _writes = writes;
        _clock = clock;
        _source = source;
        Receive<Loaded>(m =>
        {
            _folded = m.States;
            foreach (var (state, seq) in m.States.Values) _index.Publish(state, seq);
            _index.MarkReady();
            Log.Info("Write index loaded: {0} writes, {1} dead letters", m.States.Count, _index.DeadLetterDepth);
            Tick();
            Replayed(m.MaxOffset);
        });
        Receive<LoadFailed>(m =>
        {
            Log.Warning("Replaying write events failed ({0}); retrying", m.Cause.Message);
            Timers.StartSingleTimer("load", Load.Instance, RetryLoad);
        });
        Receive<Load>(_ => StartLoad());
        Receive<TickNow>(_ => Tick());
    }

    /// <param name="index">The read model to fill.</param>
    /// <param name="writes">The write region (or single-node parent).</param>
    /// <param name="clock">Clock for due times.</param>
    /// <param name="source">The replay source; null uses the SQL read journal's current events by tag.</param>
    /// <param name="live">The live feed from an offset (a cluster), or null (a single node: its entities are the only writers).</param>
    public static Props Props(WriteIndex index, IActorRef writes, TimeProvider clock, Func<IActorContext, Source<EventEnvelope, NotUsed>>? source = null,
        Func<IActorContext, Offset, Source<EventEnvelope, NotUsed>>? live = null) =>
        Akka.Actor.Props.Create(() => new WriteIndexActor(index, writes, clock, source, live));

    /// <summary>The SQL read journal's live write events after <paramref name="offset"/>.</summary>
    public static Source<EventEnvelope, NotUsed> LiveByTag(IActorContext context, Offset offset) => ByTag(context, WriteEventTagger.Tag, offset);

    /// <inheritdoc />
    protected override void PreStart() => StartLoad();

    private void StartLoad()
    {
        var source = _source?.Invoke(Context) ?? PersistenceQuery.Get(Context.System)
            .ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier)
            .CurrentEventsByTag(WriteEventTagger.Tag, Offset.NoOffset());
        source
            .RunAggregate((States: ImmutableDictionary<string, (BufferedWriteState State, long Seq)>.Empty, Max: 0L), (acc, env) =>
            {
                var max = env.Offset is Sequence o && o.Value > acc.Max ? o.Value : acc.Max;
                if (env.Event is not IWriteEvent e) return (acc.States, max);
                var current = acc.States.TryGetValue(env.PersistenceId, out var c) ? c : (BufferedWriteState.Empty(e.WriteId), 0L);
                return env.SequenceNr <= current.Item2 ? (acc.States, max) : (acc.States.SetItem(env.PersistenceId, (current.Item1.Apply(e), env.SequenceNr)), max);
            }, Materializer)
            .PipeTo(Self, success: acc => new Loaded(acc.States, acc.Max), failure: ex => new LoadFailed(ex));
    }

    // One live event (a cluster): folded when it is the next of its write; a gap is left to the entity's own publication.
    protected override void Follow(EventEnvelope env)
    {
        if (env.Event is not IWriteEvent e) return;
        var known = _folded.TryGetValue(env.PersistenceId, out var k) ? k : (BufferedWriteState.Empty(e.WriteId), 0L);
        if (env.SequenceNr != known.Item2 + 1) return;
        var next = known.Item1.Apply(e);
        _folded = _folded.SetItem(env.PersistenceId, (next, env.SequenceNr));
        _index.Publish(next, env.SequenceNr);
    }

    private void Tick()
    {
        var now = _clock.GetUtcNow();
        var (due, next) = _index.Deadlines(now);
        foreach (var id in due) _writes.Tell(new WriteMessages.WakeWrite(id));
        _index.Prune(now - KeepFinished, now);
        var delay = next is { } n ? n - now : MaxTick;
        if (delay > MaxTick) delay = MaxTick;
        if (delay < TimeSpan.FromMilliseconds(200)) delay = TimeSpan.FromMilliseconds(200);
        Timers.StartSingleTimer(TickTimer, TickNow.Instance, delay);
    }

    private sealed record Loaded(ImmutableDictionary<string, (BufferedWriteState State, long Seq)> States, long MaxOffset);

    private sealed record LoadFailed(Exception Cause);

    private sealed class Load : INoSerializationVerificationNeeded
    {
        public static readonly Load Instance = new();
        private Load() { }
    }

    private sealed class TickNow : INoSerializationVerificationNeeded, IDeadLetterSuppression, INotInfluenceReceiveTimeout
    {
        public static readonly TickNow Instance = new();
        private TickNow() { }
    }
}
