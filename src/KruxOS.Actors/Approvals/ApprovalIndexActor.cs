using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using KruxOS.Core.Approvals;

namespace KruxOS.Actors.Approvals;

/// <summary>
/// Node-local keeper of the <see cref="ApprovalIndex"/>: at start it replays every approval event from the
/// journal (tag query) into the index, then watches the deadlines of open approvals and wakes their
/// entities when one is due, so a pending approval whose entity is not running (after a restart) still
/// times out on time. It never decides anything itself.
/// </summary>
public sealed class ApprovalIndexActor : ReceiveActor, IWithTimers
{
    private const string TickTimer = "tick";
    private static readonly TimeSpan MaxTick = TimeSpan.FromSeconds(30);
    // On a fresh data directory the journal tables may not exist yet when the first query runs; until the
    // index is loaded approval calls are refused (retryable), so retry soon.
    private static readonly TimeSpan RetryLoad = TimeSpan.FromSeconds(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ApprovalIndex _index;
    private readonly IActorRef _approvals;
    private readonly TimeProvider _clock;
    private readonly Func<IActorContext, Source<EventEnvelope, NotUsed>>? _source;

    public ApprovalIndexActor(ApprovalIndex index, IActorRef approvals, TimeProvider clock, Func<IActorContext, Source<EventEnvelope, NotUsed>>? source)
    {
        _index = index;
        _approvals = approvals;
        _clock = clock;
        _source = source;
        Receive<Loaded>(m =>
        {
            foreach (var (state, seq) in m.States) _index.Publish(state, seq);
            _index.MarkReady();
            _log.Info("Approval index loaded: {0} approvals, {1} pending", m.States.Length, _index.PendingCount);
            Tick();
        });
        Receive<LoadFailed>(m =>
        {
            _log.Error(m.Cause, "Replaying approval events failed; retrying");
            Timers.StartSingleTimer("load", Load.Instance, RetryLoad);
        });
        Receive<Load>(_ => StartLoad());
        Receive<TickNow>(_ => Tick());
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="index">The read model to fill.</param>
    /// <param name="approvals">The approval region (or single-node parent).</param>
    /// <param name="clock">Clock for deadlines.</param>
    /// <param name="source">The replay source; null uses the SQL read journal's current events by tag.</param>
    public static Props Props(ApprovalIndex index, IActorRef approvals, TimeProvider clock, Func<IActorContext, Source<EventEnvelope, NotUsed>>? source = null) =>
        Akka.Actor.Props.Create(() => new ApprovalIndexActor(index, approvals, clock, source));

    /// <inheritdoc />
    protected override void PreStart() => StartLoad();

    private void StartLoad()
    {
        var source = _source?.Invoke(Context) ?? PersistenceQuery.Get(Context.System)
            .ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier)
            .CurrentEventsByTag(ApprovalEventTagger.Tag, Offset.NoOffset());
        source
            .RunAggregate(ImmutableDictionary<string, (ApprovalState State, long Seq)>.Empty, (acc, env) =>
            {
                if (env.Event is not IApprovalEvent e) return acc;
                var current = acc.TryGetValue(env.PersistenceId, out var c) ? c : (ApprovalState.Empty, 0L);
                return env.SequenceNr <= current.Item2 ? acc : acc.SetItem(env.PersistenceId, (current.Item1.Apply(e), env.SequenceNr));
            }, Context.Materializer())
            .PipeTo(Self, success: acc => new Loaded([.. acc.Values]), failure: ex => new LoadFailed(ex));
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

    private sealed record Loaded(ImmutableArray<(ApprovalState State, long Seq)> States);

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
