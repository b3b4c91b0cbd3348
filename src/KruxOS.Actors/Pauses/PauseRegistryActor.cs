using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using KruxOS.Core.Pauses;

namespace KruxOS.Actors.Pauses;

/// <summary>Registry key of the pause registry (a cluster singleton <c>pauses</c>, or <c>/user/gateway/pauses</c>).</summary>
public sealed class PauseRegistryKey;

/// <summary>
/// This node's view of which agents are paused, read by every session entity on each call (no message hop). Kept by the
/// registry on its own node and by a <see cref="PauseReplicaActor"/> on every other node of a cluster; only newer
/// versions are applied. Before the first state arrives it knows nothing is paused (<see cref="Ready"/> tells when it has).
/// </summary>
public sealed class PauseDirectory
{
    private volatile ImmutableHashSet<string> _paused = ImmutableHashSet<string>.Empty;
    private long _version = -1;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether <paramref name="agent"/> is paused.</summary>
    public bool IsPaused(string agent) => _paused.Contains(agent);

    /// <summary>Completes once the registry's recovered state has been applied.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Applies the registry's state at <paramref name="version"/> unless a newer one is in force.</summary>
    public void Publish(IEnumerable<string> paused, long version)
    {
        lock (_ready)
        {
            if (version <= _version) return;
            _version = version;
            _paused = paused.ToImmutableHashSet(StringComparer.Ordinal);
        }
        _ready.TrySetResult();
    }
}

/// <summary>
/// The deployment's durable record of paused agents, event-sourced under <c>agent-pauses</c>: a pause survives a restart
/// and a node loss. It answers once the event is durable and then publishes the new state to its node's
/// <see cref="PauseDirectory"/> (replicas on other nodes ask for it).
/// </summary>
public sealed class PauseRegistryActor : ReceivePersistentActor
{
    /// <summary>The persistence id; never changes.</summary>
    public const string Id = "agent-pauses";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PauseDirectory _directory;
    private readonly TimeProvider _clock;
    private PauseState _state = PauseState.Empty;

    public PauseRegistryActor(PauseDirectory directory, TimeProvider clock)
    {
        _directory = directory;
        _clock = clock;
        Recover<SnapshotOffer>(o => { if (o.Snapshot is PauseState s) _state = s; });
        Recover<IPauseEvent>(e => _state = _state.Apply(e));
        Recover<RecoveryCompleted>(_ => Publish());
        Command<PauseCommands.GetPauses>(_ => Sender.Tell(State()));
        Command<IPauseCommand>(Handle);
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Pause registry: snapshot failed; the journal still holds every event"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    /// <inheritdoc />
    public override string PersistenceId => Id;

    /// <summary>The registry's props.</summary>
    public static Props Props(PauseDirectory directory, TimeProvider clock) => Akka.Actor.Props.Create(() => new PauseRegistryActor(directory, clock));

    private void Handle(IPauseCommand command)
    {
        var replyTo = Sender;
        PauseReplies.PauseResult reply;
        IPauseEvent? evt;
        try
        {
            (reply, evt) = _state.Decide(command, _clock.GetUtcNow());
        }
        catch (Exception e) when (e is ArgumentException or NullReferenceException)
        {
            _log.Warning(e, "Pause registry: refused a malformed {0}", command.GetType().Name);
            replyTo.Tell(new Status.Failure(new ArgumentException("malformed pause command")));
            return;
        }
        if (evt is null)
        {
            replyTo.Tell(reply);
            return;
        }
        Persist(evt, e =>
        {
            _state = _state.Apply(e);
            if (LastSequenceNr % 100 == 0) SaveSnapshot(_state);
            Publish();
            replyTo.Tell(reply);
        });
    }

    private PauseReplies.PausesState State() => new([.. _state.Paused.Values], LastSequenceNr);

    private void Publish() => _directory.Publish(_state.Paused.Keys, LastSequenceNr);
}

/// <summary>
/// In a cluster, keeps this node's <see cref="PauseDirectory"/> current by asking the registry every
/// <see cref="SyncInterval"/>: a pause reaches every node within that bound (the registry's own node at once).
/// </summary>
public sealed class PauseReplicaActor : ReceiveActor, IWithTimers
{
    /// <summary>How often the registry is asked.</summary>
    public static readonly TimeSpan SyncInterval = TimeSpan.FromSeconds(1);

    public PauseReplicaActor(PauseDirectory directory, IActorRef registry)
    {
        Receive<PauseReplies.PausesState>(s => directory.Publish(s.Paused.Select(p => p.Agent), s.Version));
        Receive<Sync>(_ => registry.Tell(PauseCommands.GetPauses.Instance));
        Receive<Status.Failure>(_ => { });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The replica's props.</summary>
    public static Props Props(PauseDirectory directory, IActorRef registry) => Akka.Actor.Props.Create(() => new PauseReplicaActor(directory, registry));

    /// <inheritdoc />
    protected override void PreStart()
    {
        Self.Tell(Sync.Instance);
        Timers.StartPeriodicTimer("sync", Sync.Instance, SyncInterval);
    }

    private sealed class Sync : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sync Instance = new();
        private Sync() { }
    }
}
