using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using KruxOS.Actors.Agents;
using KruxOS.Core;
using KruxOS.Core.Supervision;
using KruxOS.Sandbox;
using KruxOS.Sandbox.Trash;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>
/// Node-local sandbox housekeeping: empties expired trash every hour (24 h agent / 168 h user retention)
/// and routes every <c>filesystem.watch</c> event twice: as a <c>file_changed</c> supervision event, and
/// to the agent's session entity, which sends it to the agent's connected MCP clients as a
/// <c>notifications/kruxos/file_changed</c> notification (docs/protocol.md).
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
    private readonly CancellationTokenSource _stop = new();
    private bool _cleaning;

    public SandboxHousekeepingActor(ISandbox sandbox, string dataDir, TimeProvider clock, IActorRef sessions)
    {
        _sessions = sessions;
        _sandbox = sandbox;
        _dataDir = dataDir;
        _clock = clock;
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
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ISandbox sandbox, string dataDir, TimeProvider clock, IActorRef sessions) =>
        Akka.Actor.Props.Create(() => new SandboxHousekeepingActor(sandbox, dataDir, clock, sessions));

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
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private sealed class CleanupTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly CleanupTick Instance = new();
        private CleanupTick() { }
    }

    private sealed record Cleaned(int Removed);

    private sealed record CleanupFailed(Exception Cause);
}
