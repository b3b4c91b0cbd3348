using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace KruxOS.Actors.Persistence;

/// <summary>
/// A node-local keeper of a read model that, once it has replayed the journal, follows one tag of the shared journal
/// live (a cluster: other nodes' entities write there too). The feed starts at the offset the replay reached, delivers
/// one event at a time with back-pressure (<see cref="Follow"/>), and after a failure resumes from the last offset it saw;
/// it stops with the actor. Without a feed (a single node, whose own entities are the only writers) nothing is followed.
/// </summary>
public abstract class LiveTaggedProjection : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan ResumeAfter = TimeSpan.FromSeconds(1);
    private readonly Func<IActorContext, Offset, Source<EventEnvelope, NotUsed>>? _live;
    private readonly string _what;
    private IKillSwitch? _feed;

    /// <param name="live">The live feed from an offset, or null (nothing to follow).</param>
    /// <param name="what">How log lines name the events, e.g. <c>approval events</c>.</param>
    protected LiveTaggedProjection(Func<IActorContext, Offset, Source<EventEnvelope, NotUsed>>? live, string what)
    {
        _live = live;
        _what = what;
        Receive<FeedInit>(_ => Sender.Tell(FeedAck.Instance));
        Receive<EventEnvelope>(HandleEnvelope);
        Receive<FeedEnded>(HandleEnded);
        Receive<ResumeFeed>(_ => StartFeed());
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Materializes the replay, the feed and any query of the subclass.</summary>
    protected IMaterializer Materializer { get; } = Context.Materializer();

    /// <summary>Logging for the subclass.</summary>
    protected ILoggingAdapter Log { get; } = Context.GetLogger();

    /// <summary>The highest journal offset replayed or followed so far.</summary>
    protected long FeedOffset { get; private set; }

    /// <summary>The SQL read journal's live events of <paramref name="tag"/> after <paramref name="offset"/>.</summary>
    public static Source<EventEnvelope, NotUsed> ByTag(IActorContext context, string tag, Offset offset)
    {
        ArgumentNullException.ThrowIfNull(context);
        return PersistenceQuery.Get(context.System).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier).EventsByTag(tag, offset);
    }

    /// <summary>The replay reached <paramref name="maxOffset"/>: follow the journal live from there.</summary>
    protected void Replayed(long maxOffset)
    {
        FeedOffset = Math.Max(FeedOffset, maxOffset);
        StartFeed();
    }

    /// <summary>One live event, in journal order (its offset is already recorded).</summary>
    protected abstract void Follow(EventEnvelope envelope);

    /// <inheritdoc />
    protected override void PostStop()
    {
        _feed?.Shutdown();
        base.PostStop();
    }

    private void StartFeed()
    {
        if (_live is null || _feed is not null) return;
        _feed = _live(Context, Offset.Sequence(FeedOffset))
            .ViaMaterialized(KillSwitches.Single<EventEnvelope>(), Keep.Right)
            .ToMaterialized(Sink.ActorRefWithAck<EventEnvelope>(Self, FeedInit.Instance, FeedAck.Instance, new FeedEnded(null), ex => new FeedEnded(ex)), Keep.Left)
            .Run(Materializer);
    }

    private void HandleEnvelope(EventEnvelope envelope)
    {
        if (envelope.Offset is Sequence seq && seq.Value > FeedOffset) FeedOffset = seq.Value;
        Follow(envelope);
        Sender.Tell(FeedAck.Instance);
    }

    private void HandleEnded(FeedEnded m)
    {
        _feed = null;
        if (m.Cause is not null) Log.Warning("Following {0} stopped ({1}); resuming from offset {2}", _what, m.Cause.Message, FeedOffset);
        Timers.StartSingleTimer("live-feed", ResumeFeed.Instance, ResumeAfter);
    }

    private sealed record FeedEnded(Exception? Cause) : INoSerializationVerificationNeeded;

    private sealed class FeedInit : INoSerializationVerificationNeeded
    {
        public static readonly FeedInit Instance = new();
        private FeedInit() { }
    }

    private sealed class FeedAck : INoSerializationVerificationNeeded
    {
        public static readonly FeedAck Instance = new();
        private FeedAck() { }
    }

    private sealed class ResumeFeed : INoSerializationVerificationNeeded
    {
        public static readonly ResumeFeed Instance = new();
        private ResumeFeed() { }
    }
}
