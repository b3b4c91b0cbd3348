using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Identity;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Identity;
using KruxOS.Core.Supervision;
using KruxOS.Sandbox;
using KruxOS.Sandbox.Trash;
using static KruxOS.Actors.Capabilities.Sandboxed.SandboxStopMessages;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>
/// Node-local sandbox housekeeping: empties expired trash every hour (24 h agent / 168 h user retention),
/// routes every <c>filesystem.watch</c> event twice (as a <c>file_changed</c> supervision event, and to the agent's
/// session entity, which sends it to the agent's connected MCP clients as a <c>notifications/kruxos/file_changed</c>
/// notification, docs/protocol.md), and stops agents' sandboxes on this node: on <see cref="SandboxStopMessages.StopAgent"/>
/// (kill, revoke; relayed to every node in a cluster) and whenever the node's identity read model shows an agent newly
/// revoked (held until it is restored), so a revocation reaches the node running the agent's processes even if the
/// relayed message does not.
/// </summary>
public sealed class SandboxHousekeepingActor : ReceiveActor, IWithTimers
{
    /// <summary>How often expired trash is removed.</summary>
    public static readonly TimeSpan CleanupInterval = TimeSpan.FromHours(1);

    /// <summary>The supervision event type of a watch event.</summary>
    public const string FileChanged = "file_changed";

    /// <summary>The MCP notification method a watch event is delivered as.</summary>
    public const string FileChangedNotification = "notifications/kruxos/file_changed";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ISandbox _sandbox;
    private readonly string _dataDir;
    private readonly TimeProvider _clock;
    private readonly IActorRef _sessions;
    private readonly IdentityDirectory? _identities;
    private readonly bool _clustered;
    private readonly KruxOS.Actors.State.BriefingFeeds? _feeds;
    private readonly CancellationTokenSource _stop = new();
    private Action<IdentityState>? _onIdentities;
    private ImmutableHashSet<string> _revoked = ImmutableHashSet<string>.Empty;
    private readonly Dictionary<string, (Task<AgentStopReport> Task, bool Hold)> _stopping = new(StringComparer.Ordinal);
    private bool _cleaning;

    public SandboxHousekeepingActor(ISandbox sandbox, string dataDir, TimeProvider clock, IActorRef sessions, IdentityDirectory? identities, bool clustered,
        KruxOS.Actors.State.BriefingFeeds? feeds)
    {
        _feeds = feeds;
        _sessions = sessions;
        _sandbox = sandbox;
        _dataDir = dataDir;
        _clock = clock;
        _identities = identities;
        _clustered = clustered;
        Receive<CleanupTick>(_ =>
        {
            if (_cleaning) return;
            _cleaning = true;
            var now = _clock.GetUtcNow();
            Task.Run(() => TrashCleaner.Cleanup(_dataDir, now).Count)
                .PipeTo(Self, success: n => new Cleaned(n), failure: e => new CleanupFailed(e));
        });
        Receive<Cleaned>(m =>
        {
            _cleaning = false;
            if (m.Removed > 0) _log.Info("Removed {Count} expired trash item(s)", m.Removed);
        });
        Receive<CleanupFailed>(m =>
        {
            _cleaning = false;
            _log.Warning(m.Cause, "Trash cleanup failed; it is retried in an hour");
        });
        Receive<FileWatchEvent>(e =>
        {
            Context.System.EventStream.Publish(SupervisionEvent.Create(FileChanged, e.Timestamp, e.Agent.Value, null,
                new { watch_id = e.WatchId, event_type = e.EventType, path = e.Path, old_path = e.OldPath }));
            _sessions.Tell(new AgentSessionCommands.Notify(e.Agent, FileChangedNotification, NotificationParams(e)));
        });
        Receive<StopAgent>(HandleStop);
        Receive<ReleaseAgent>(HandleRelease);
        Receive<Broadcast>(HandleBroadcast);
        Receive<IdentitiesChanged>(m => OnIdentities(m.State));
        Receive<Stopped>(m =>
        {
            Forget(m.Report.Agent);
            if (m.Report.ProcessesKilled > 0) _log.Info("Agent {Agent}: {Count} sandboxed process(es) stopped ({Reason})", m.Report.Agent, m.Report.ProcessesKilled, m.Reason);
        });
        Receive<StopFailed>(m =>
        {
            Forget(m.Agent);
            _log.Error(m.Cause, "Stopping the sandbox of agent {Agent} failed ({Reason})", m.Agent, m.Reason);
        });
        Receive<SubscribeAck>(_ => { });
    }

    private string SelfAddress => Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();

    private void HandleStop(StopAgent m)
    {
        if (!AgentName.TryParse(m.Agent, out var agent, out _)) { Sender.Tell(new Status.Failure(new ArgumentException($"'{m.Agent}' is not an agent name"))); return; }
        if (_clustered) Mediator.Tell(new Publish(Topic, new Broadcast(m.Agent, true, m.Hold, m.Reason, SelfAddress)));
        StopHere(agent, m.Hold, m.Reason).PipeTo(Sender, success: r => new AgentStopped(r.Agent, r.ProcessesKilled, r.Held), failure: e => new Status.Failure(e));
    }

    private void HandleRelease(ReleaseAgent m)
    {
        if (!AgentName.TryParse(m.Agent, out var agent, out _)) return;
        if (_clustered) Mediator.Tell(new Publish(Topic, new Broadcast(m.Agent, false, false, "released", SelfAddress)));
        _sandbox.ReleaseAgent(agent);
    }

    private void HandleBroadcast(Broadcast m)
    {
        if (m.Origin == SelfAddress || !AgentName.TryParse(m.Agent, out var agent, out _)) return;
        if (m.Stop) _ = StopHere(agent, m.Hold, m.Reason);
        else _sandbox.ReleaseAgent(agent);
    }

    // Revocation as this node's read model sees it (also after a missed pub-sub message: the replica syncs every 2 s).
    private void OnIdentities(IdentityState state)
    {
        var revoked = state.Agents.Values.Where(a => a.Status == AgentStatus.Revoked).Select(a => a.Name).ToImmutableHashSet(StringComparer.Ordinal);
        foreach (var name in revoked.Except(_revoked))
            if (AgentName.TryParse(name, out var agent, out _)) _ = StopHere(agent, true, "agent revoked");
        foreach (var name in _revoked.Except(revoked))
            if (AgentName.TryParse(name, out var agent, out _)) _sandbox.ReleaseAgent(agent);
        _revoked = revoked;
    }

    // One stop per agent at a time: a request arriving while one runs (a revocation seen through the read model and the
    // revoke command itself) shares it, unless it asks to hold and the running one does not.
    private Task<AgentStopReport> StopHere(AgentName agent, bool hold, string reason)
    {
        if (_stopping.TryGetValue(agent.Value, out var running) && !running.Task.IsCompleted && (running.Hold || !hold)) return running.Task;
        var task = _sandbox.StopAgentAsync(agent, hold, CancellationToken.None);
        _stopping[agent.Value] = (task, hold);
        task.PipeTo(Self, success: r => new Stopped(r, reason), failure: e => new StopFailed(agent.Value, reason, e));
        return task;
    }

    private void Forget(string agent)
    {
        if (_stopping.TryGetValue(agent, out var running) && running.Task.IsCompleted) _stopping.Remove(agent);
    }

    private IActorRef Mediator => DistributedPubSub.Get(Context.System).Mediator;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ISandbox sandbox, string dataDir, TimeProvider clock, IActorRef sessions, IdentityDirectory? identities = null, bool clustered = false,
        KruxOS.Actors.State.BriefingFeeds? feeds = null) =>
        Akka.Actor.Props.Create(() => new SandboxHousekeepingActor(sandbox, dataDir, clock, sessions, identities, clustered, feeds));

    /// <summary>The notification's params: <c>{watch_id, path, event_type, old_path?, timestamp}</c> (paths as the agent sees them).</summary>
    public static string NotificationParams(FileWatchEvent e) => JsonSerializer.Serialize(new
    {
        watch_id = e.WatchId,
        path = e.Path,
        event_type = e.EventType,
        old_path = e.OldPath,
        timestamp = e.Timestamp.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    }, CoreJson.Options);

    /// <inheritdoc />
    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("trash-cleanup", CleanupTick.Instance, TimeSpan.FromMinutes(1), CleanupInterval);
        if (_clustered) Mediator.Tell(new Subscribe(Topic, Self));
        if (_identities is not null)
        {
            var me = Self;
            _onIdentities = state => me.Tell(new IdentitiesChanged(state));
            _identities.Changed += _onIdentities;
            // Agents revoked before this node (or this actor) started are held too: nothing of theirs may start here.
            if (_identities.Ready.IsCompletedSuccessfully) Self.Tell(new IdentitiesChanged(_identities.Current));
        }
        var self = Self;
        var reader = _sandbox.WatchEvents;
        var token = _stop.Token;
        // The channel is read off the actor thread; each event becomes a message to this actor.
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in reader.ReadAllAsync(token).ConfigureAwait(false)) self.Tell(e);
            }
            catch (OperationCanceledException) { }
        }, token);
        if (_feeds is { } feeds)
        {
            // Process ends go straight into the (thread-safe) briefing feed: the host set their state, not the process.
            var exits = _sandbox.ProcessExits;
            _ = Task.Run(async () =>
            {
                try
                {
                    await foreach (var e in exits.ReadAllAsync(token).ConfigureAwait(false))
                        if (KruxOS.Core.State.Briefings.BriefingFeedRules.ProcessEventOf(e.ProcessId, e.State, e.ExitCode, e.Timestamp) is { } ended)
                            feeds.RecordProcessEvent(e.Agent, ended);
                }
                catch (OperationCanceledException) { }
            }, token);
        }
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        if (_identities is not null && _onIdentities is not null) _identities.Changed -= _onIdentities;
        _stop.Cancel();
        _stop.Dispose();
    }

    private sealed class CleanupTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly CleanupTick Instance = new();
        private CleanupTick() { }
    }

    private sealed record Cleaned(int Removed);

    private sealed record IdentitiesChanged(IdentityState State);

    private sealed record Stopped(AgentStopReport Report, string Reason);

    private sealed record StopFailed(string Agent, string Reason, Exception Cause);

    private sealed record CleanupFailed(Exception Cause);
}
