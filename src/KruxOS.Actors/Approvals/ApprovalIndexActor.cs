using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using KruxOS.Actors.Persistence;
using KruxOS.Core.Approvals;

namespace KruxOS.Actors.Approvals;

/// <summary>
/// Node-local keeper of the <see cref="ApprovalIndex"/>: at start it replays every approval event from the
/// journal (tag query) into the index, then watches the deadlines of open approvals and wakes their
/// entities when one is due, so a pending approval whose entity is not running (after a restart) still
/// times out on time. In a cluster it then follows the shared journal live from where the replay ended (a live tag
/// query, restarted from its last offset after a failure), so every node's index holds every approval of the cluster
/// whichever node's entity wrote it — the read model behind list/show/decide and the identical-call check
/// (docs/cluster.md). It never decides anything itself.
/// <para>A decision answered by an entity on another node is durable in the journal before the answer arrives, so the
/// deciding node need not wait for the live feed (its refresh interval): <see cref="RereadApproval"/> reads that one
/// approval's events from the journal at once and puts its state into the index, so the reply and every later listing on
/// this node show the decision. Every state carries its sequence number and the index only moves forward, so the live
/// feed bringing the same events later (or an older one, late) is a no-op and never rolls a decision back.</para>
/// </summary>
public sealed class ApprovalIndexActor : LiveTaggedProjection
{
    private const string TickTimer = "tick";
    private static readonly TimeSpan MaxTick = TimeSpan.FromSeconds(30);
    // On a fresh data directory the journal tables may not exist yet when the first query runs; until the
    // index is loaded approval calls are refused (retryable), so retry soon.
    private static readonly TimeSpan RetryLoad = TimeSpan.FromSeconds(1);

    private readonly ApprovalIndex _index;
    private readonly IActorRef _approvals;
    private readonly TimeProvider _clock;
    private readonly Func<IActorContext, Source<EventEnvelope, NotUsed>>? _source;
    private readonly Func<IActorContext, string, Source<EventEnvelope, NotUsed>> _byId;
    // What the journal says, per persistence id: the live feed folds onto it (entities on this node publish sooner).
    private ImmutableDictionary<string, (ApprovalState State, long Seq)> _folded = ImmutableDictionary<string, (ApprovalState State, long Seq)>.Empty;

    public ApprovalIndexActor(ApprovalIndex index, IActorRef approvals, TimeProvider clock, Func<IActorContext, Source<EventEnvelope, NotUsed>>? source,
        Func<IActorContext, Offset, Source<EventEnvelope, NotUsed>>? live = null, Func<IActorContext, string, Source<EventEnvelope, NotUsed>>? byId = null)
        : base(live, "approval events")
    {
        _index = index;
        _approvals = approvals;
        _clock = clock;
        _source = source;
        _byId = byId ?? EventsOf;
        Receive<Loaded>(m =>
        {
            _folded = m.States;
            foreach (var (state, seq) in m.States.Values) _index.Publish(state, seq);
            _index.MarkReady();
            Log.Info("Approval index loaded: {0} approvals, {1} pending", m.States.Count, _index.PendingCount);
            Tick();
            Replayed(m.MaxOffset);
        });
        Receive<Refolded>(HandleRefolded);
        Receive<RereadApproval>(HandleReread);
        Receive<RereadFailed>(HandleRereadFailed);
        Receive<RereadGap>(m => ReadApproval(m.PersistenceId, null));
        Receive<LoadFailed>(m =>
        {
            Log.Error(m.Cause, "Replaying approval events failed; retrying");
            Timers.StartSingleTimer("load", Load.Instance, RetryLoad);
        });
        Receive<Load>(_ => StartLoad());
        Receive<TickNow>(_ => Tick());
    }

    /// <param name="index">The read model to fill.</param>
    /// <param name="approvals">The approval region (or single-node parent).</param>
    /// <param name="clock">Clock for deadlines.</param>
    /// <param name="source">The replay source; null uses the SQL read journal's current events by tag.</param>
    /// <param name="live">
    /// The live feed from an offset, or null (a single node: its own entities are the only writers). In a cluster the
    /// hosting passes the SQL read journal's live events by tag (<see cref="LiveByTag"/>).
    /// </param>
    /// <param name="byId">One approval's current events by persistence id (a decision's re-read, a gap); null uses the SQL read journal (<see cref="EventsOf"/>).</param>
    public static Props Props(ApprovalIndex index, IActorRef approvals, TimeProvider clock, Func<IActorContext, Source<EventEnvelope, NotUsed>>? source = null,
        Func<IActorContext, Offset, Source<EventEnvelope, NotUsed>>? live = null, Func<IActorContext, string, Source<EventEnvelope, NotUsed>>? byId = null) =>
        Akka.Actor.Props.Create(() => new ApprovalIndexActor(index, approvals, clock, source, live, byId));

    /// <summary>Reads approval <paramref name="Id"/>'s events from the journal into the index now; answered with <see cref="Reread"/>.</summary>
    public sealed record RereadApproval(ApprovalId Id) : INoSerializationVerificationNeeded;

    /// <summary>The approval's state in the index once its journal events were applied (null: the journal has none).</summary>
    public sealed record Reread(ApprovalState? State) : INoSerializationVerificationNeeded;

    /// <summary>The SQL read journal's live approval events after <paramref name="offset"/>.</summary>
    public static Source<EventEnvelope, NotUsed> LiveByTag(IActorContext context, Offset offset) => ByTag(context, ApprovalEventTagger.Tag, offset);

    /// <inheritdoc />
    protected override void PreStart() => StartLoad();

    // One live event: applied when it is the next of its approval; a gap (events the feed skipped) re-reads that approval.
    protected override void Follow(EventEnvelope env)
    {
        if (env.Event is not IApprovalEvent e) return;
        var known = _folded.TryGetValue(env.PersistenceId, out var k) ? k : (ApprovalState.Empty, 0L);
        if (env.SequenceNr <= known.Item2) return;
        if (env.SequenceNr == known.Item2 + 1)
        {
            var next = known.Item1.Apply(e);
            _folded = _folded.SetItem(env.PersistenceId, (next, env.SequenceNr));
            _index.Publish(next, env.SequenceNr);
            return;
        }
        ReadApproval(env.PersistenceId, null);
    }

    // A decision was answered (durable) by an entity that may live on another node: read its events now, answer with the index's state.
    private void HandleReread(RereadApproval m) => ReadApproval(ApprovalActor.PersistenceIdPrefix + m.Id.Value, Sender);

    // Folds one approval's events from the journal; the result comes back as Refolded (replyTo, if any, is answered then).
    private void ReadApproval(string persistenceId, IActorRef? replyTo) =>
        _byId(Context, persistenceId)
            .RunAggregate((State: ApprovalState.Empty, Seq: 0L), (acc, x) => x.Event is IApprovalEvent ae && x.SequenceNr > acc.Seq ? (acc.State.Apply(ae), x.SequenceNr) : acc,
                Materializer)
            .PipeTo(Self, success: r => new Refolded(persistenceId, r.State, r.Seq, replyTo), failure: ex => new RereadFailed(persistenceId, replyTo, ex));

    private void HandleRefolded(Refolded m)
    {
        if (m.Seq > 0 && (!_folded.TryGetValue(m.PersistenceId, out var known) || known.Seq < m.Seq))
        {
            _folded = _folded.SetItem(m.PersistenceId, (m.State, m.Seq));
            _index.Publish(m.State, m.Seq);
        }
        m.ReplyTo?.Tell(new Reread(m.State.Request is { } r ? _index.Get(r.Id) : null));
    }

    private void HandleRereadFailed(RereadFailed m)
    {
        if (m.ReplyTo is { } replyTo)
        {
            // The decider falls back to waiting for the live feed; the decision itself is durable either way.
            replyTo.Tell(new Status.Failure(m.Cause));
            return;
        }
        // A gap in the live feed whose events could not be read: the feed has moved past them, so read them again later.
        Log.Warning("Reading the events of {0} after a gap in the live feed failed ({1}); retrying", m.PersistenceId, m.Cause.Message);
        Timers.StartSingleTimer("reread-" + m.PersistenceId, new RereadGap(m.PersistenceId), RetryLoad);
    }

    /// <summary>The SQL read journal's current events of one persistence id.</summary>
    public static Source<EventEnvelope, NotUsed> EventsOf(IActorContext context, string persistenceId)
    {
        ArgumentNullException.ThrowIfNull(context);
        return PersistenceQuery.Get(context.System).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier).CurrentEventsByPersistenceId(persistenceId, 0, long.MaxValue);
    }

    private void StartLoad()
    {
        var source = _source?.Invoke(Context) ?? PersistenceQuery.Get(Context.System)
            .ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier)
            .CurrentEventsByTag(ApprovalEventTagger.Tag, Offset.NoOffset());
        source
            .RunAggregate((States: ImmutableDictionary<string, (ApprovalState State, long Seq)>.Empty, Max: 0L), (acc, env) =>
            {
                var max = env.Offset is Sequence o && o.Value > acc.Max ? o.Value : acc.Max;
                if (env.Event is not IApprovalEvent e) return (acc.States, max);
                var current = acc.States.TryGetValue(env.PersistenceId, out var c) ? c : (ApprovalState.Empty, 0L);
                return env.SequenceNr <= current.Item2 ? (acc.States, max) : (acc.States.SetItem(env.PersistenceId, (current.Item1.Apply(e), env.SequenceNr)), max);
            }, Materializer)
            .PipeTo(Self, success: acc => new Loaded(acc.States, acc.Max), failure: ex => new LoadFailed(ex));
    }

    private void Tick()
    {
        var now = _clock.GetUtcNow();
        var (due, next) = _index.Deadlines(now);
        foreach (var id in due) _approvals.Tell(new ApprovalMessages.CheckDeadline(id));
        var delay = next is { } n ? n - now : MaxTick;
        if (delay > MaxTick) delay = MaxTick;
        if (delay < TimeSpan.FromMilliseconds(200)) delay = TimeSpan.FromMilliseconds(200);
        Timers.StartSingleTimer(TickTimer, TickNow.Instance, delay);
    }

    private sealed record Loaded(ImmutableDictionary<string, (ApprovalState State, long Seq)> States, long MaxOffset);

    private sealed record Refolded(string PersistenceId, ApprovalState State, long Seq, IActorRef? ReplyTo) : INoSerializationVerificationNeeded;

    private sealed record RereadFailed(string PersistenceId, IActorRef? ReplyTo, Exception Cause) : INoSerializationVerificationNeeded;

    private sealed record RereadGap(string PersistenceId) : INoSerializationVerificationNeeded;

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
