using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using KruxOS.Core.Alerts;
using KruxOS.Core.Cluster;

namespace KruxOS.Actors.Cluster;

/// <summary>What the node knows about the journal's cluster lease (read by health and status).</summary>
public sealed class ClusterLeaseState
{
    private volatile Snapshot _current = new("not checked yet", null, false, null);

    /// <summary>One reading.</summary>
    /// <param name="Summary">One line for an operator.</param>
    /// <param name="Holder">The holder last read, if any.</param>
    /// <param name="Foreign">Another live cluster holds the lease.</param>
    /// <param name="At">When it was read.</param>
    public sealed record Snapshot(string Summary, string? Holder, bool Foreign, DateTimeOffset? At);

    /// <summary>The latest reading.</summary>
    public Snapshot Current => _current;

    internal void Set(Snapshot snapshot) => _current = snapshot;
}

/// <summary>
/// Keeps the journal's cluster lease for the node's cluster (ADR 0047): every third of the lease time, if this node is the
/// oldest Up member, it renews the lease (or takes it over from a node its cluster has had as a member). If the lease is
/// live and held by a node this cluster never had, another cluster uses the journal: it raises a critical system alert
/// and downs every member of its own cluster, which then stop (fail closed) rather than write to a journal shared with a
/// second cluster. The last member stopping frees the lease so a restarted cluster forms at once.
/// </summary>
public sealed class ClusterLeaseKeeper : ReceiveActor, IWithTimers
{
    private const string TickTimer = "tick";
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly ClusterLeaseStore _store;
    private readonly ClusterLeaseState _state;
    private readonly TimeSpan _ttl;
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private bool _busy;

    public ClusterLeaseKeeper(ClusterLeaseStore store, ClusterLeaseState state, TimeSpan ttl)
    {
        _store = store;
        _state = state;
        _ttl = ttl;
        _seen.Add(ClusterFormation.UniqueAddressText(_cluster));
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            foreach (var m in s.Members) _seen.Add(ClusterFormation.UniqueAddressText(m.UniqueAddress));
        });
        Receive<ClusterEvent.IMemberEvent>(e => _seen.Add(ClusterFormation.UniqueAddressText(e.Member.UniqueAddress)));
        Receive<Tick>(_ => OnTick());
        Receive<Checked>(OnChecked);
        Receive<Status.Failure>(f =>
        {
            _busy = false;
            _state.Set(new ClusterLeaseState.Snapshot($"the lease could not be renewed: {f.Cause.Message}", _state.Current.Holder, false, DateTimeOffset.UtcNow));
            _log.Warning("Cluster lease: renewing failed: {0}", f.Cause.Message);
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props.</summary>
    public static Props Props(ClusterLeaseStore store, ClusterLeaseState state, TimeSpan ttl) =>
        Akka.Actor.Props.Create(() => new ClusterLeaseKeeper(store, state, ttl));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.IMemberEvent));
        var store = _store;
        var self = ClusterFormation.UniqueAddressText(_cluster);
        var cluster = _cluster;
        // The last member leaving frees the lease (a restarted cluster then forms at once instead of after the lease time).
        CoordinatedShutdown.Get(Context.System).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "release-cluster-lease", async () =>
        {
            if (cluster.State.Members.Any(m => m.UniqueAddress != cluster.SelfUniqueAddress && m.Status == MemberStatus.Up)) return Done.Instance;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await store.ReleaseAsync(self, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The lease then simply expires.
            }
            return Done.Instance;
        });
        Timers.StartPeriodicTimer(TickTimer, Tick.Instance, TimeSpan.Zero, _ttl / 3);
    }

    /// <inheritdoc />
    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private bool IsOldestUp()
    {
        var up = _cluster.State.Members.Where(m => m.Status == MemberStatus.Up).ToList();
        var self = up.FirstOrDefault(m => m.UniqueAddress == _cluster.SelfUniqueAddress);
        return self is not null && up.All(m => m == self || self.IsOlderThan(m));
    }

    private void OnTick()
    {
        if (_busy) return;
        if (!IsOldestUp())
        {
            var oldest = _cluster.State.Members.Where(m => m.Status == MemberStatus.Up).OrderBy(m => m, Member.AgeOrdering).FirstOrDefault();
            _state.Set(new ClusterLeaseState.Snapshot(oldest is null ? "this node is not Up yet" : $"renewed by the oldest member, {oldest.Address}",
                oldest is null ? null : ClusterFormation.UniqueAddressText(oldest.UniqueAddress), false, DateTimeOffset.UtcNow));
            return;
        }
        _busy = true;
        var store = _store;
        var ttl = _ttl;
        var self = ClusterFormation.UniqueAddressText(_cluster);
        IReadOnlySet<string> seen = _seen.ToImmutableHashSet(StringComparer.Ordinal);
        Check(store, self, seen, ttl).PipeTo(Self);
    }

    private static async Task<Checked> Check(ClusterLeaseStore store, string self, IReadOnlySet<string> seen, TimeSpan ttl)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var row = await store.ReadAsync(timeout.Token).ConfigureAwait(false);
        if (ClusterLeaseRules.ForOldest(row, self, seen) == ClusterLeaseVerdict.Foreign) return new Checked(row, Renewed: false, Foreign: true);
        var written = await store.TryWriteAsync(row.Version, self, ttl, timeout.Token).ConfigureAwait(false);
        return new Checked(row, written, Foreign: false);
    }

    private void OnChecked(Checked c)
    {
        _busy = false;
        var now = DateTimeOffset.UtcNow;
        if (c.Foreign)
        {
            var message = $"another cluster holds this journal's lease ({c.Row.Holder}); this cluster stops rather than share the journal";
            _state.Set(new ClusterLeaseState.Snapshot(message, c.Row.Holder, true, now));
            _log.Error("Cluster lease: {0}", message);
            Context.System.EventStream.Publish(new SystemAlertRaised("cluster", AlertSeverity.Critical, message));
            foreach (var m in _cluster.State.Members.Where(m => m.UniqueAddress != _cluster.SelfUniqueAddress)) _cluster.Down(m.Address);
            _cluster.Down(_cluster.SelfAddress);
            return;
        }
        var self = ClusterFormation.UniqueAddressText(_cluster);
        _state.Set(c.Renewed
            ? new ClusterLeaseState.Snapshot($"held by this node for {_ttl.TotalSeconds:0}s, renewed every {(_ttl / 3).TotalSeconds:0.#}s", self, false, now)
            : new ClusterLeaseState.Snapshot("another member wrote the lease first; checking again", c.Row.Holder, false, now));
    }

    private sealed record Checked(ClusterLeaseRow Row, bool Renewed, bool Foreign);

    private sealed class Tick : INoSerializationVerificationNeeded, INotInfluenceReceiveTimeout
    {
        public static readonly Tick Instance = new();
        private Tick() { }
    }
}
