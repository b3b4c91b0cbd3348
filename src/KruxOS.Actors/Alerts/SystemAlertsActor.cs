using Akka.Actor;
using Akka.Event;
using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.State;
using KruxOS.Sandbox;
using KruxOS.Sandbox.Health;

namespace KruxOS.Actors.Alerts;

/// <summary>What the node watches to raise the gateway's own alerts.</summary>
/// <param name="DataDir">The data directory whose file system is checked.</param>
/// <param name="DiskCriticalPercent">Used space at or above which a critical alert is raised (spec: disk &gt; 90 %).</param>
/// <param name="CheckInterval">How often the disk and the sandbox are checked.</param>
/// <param name="DeadLetterWindow">Dead letters are reported at most once per this window, with their count.</param>
/// <param name="Sandbox">The node's sandbox, or null where there is none.</param>
public sealed record SystemAlertSettings(string DataDir, double DiskCriticalPercent, TimeSpan CheckInterval, TimeSpan DeadLetterWindow, ISandbox? Sandbox);

/// <summary>
/// Runs on every node. Turns every <see cref="SystemAlertRaised"/> published on the node's event stream into an alert
/// of source <c>system:&lt;component&gt;</c> in the alert store, and raises the node's own: the data directory's file
/// system nearly full, the sandbox unavailable, and dead letters (at most one alert per window, with the count, so a
/// flood of dead letters cannot flood the store). Identical alerts collapse in the store.
/// </summary>
public sealed class SystemAlertsActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _store;
    private readonly SystemAlertSettings _settings;
    private long _deadLetters;
    private string? _firstDeadLetter;

    public SystemAlertsActor(IActorRef store, SystemAlertSettings settings)
    {
        _store = store;
        _settings = settings;
        Receive<SystemAlertRaised>(Raise);
        Receive<DeadLetter>(d => Count(d.Message));
        Receive<Dropped>(d => Count(d.Message));
        Receive<Check>(_ => CheckNode());
        Receive<FlushDeadLetters>(_ => FlushDead());
        Receive<IAlertReply>(r =>
        {
            if (r is AlertsRefused refused) _log.Warning("A system alert was not stored: {0}", refused.Error.Message);
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The actor's props.</summary>
    public static Props Props(IActorRef store, SystemAlertSettings settings) => Akka.Actor.Props.Create(() => new SystemAlertsActor(store, settings));

    /// <inheritdoc />
    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(SystemAlertRaised));
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
        Context.System.EventStream.Subscribe(Self, typeof(Dropped));
        Timers.StartPeriodicTimer("check", Check.Instance, TimeSpan.FromSeconds(5), _settings.CheckInterval);
        Timers.StartPeriodicTimer("dead-letters", FlushDeadLetters.Instance, _settings.DeadLetterWindow);
    }

    /// <inheritdoc />
    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Raise(SystemAlertRaised a)
    {
        // Component names become part of a principal text; anything that is not one is named "gateway".
        string source;
        try { source = PrincipalText.System(a.Component); }
        catch (ArgumentException) { source = PrincipalText.System("gateway"); }
        var message = a.Message.Length > AlertLimits.Default.MaxMessageLength ? a.Message[..AlertLimits.Default.MaxMessageLength] : a.Message;
        _store.Tell(new AlertCommands.RaiseAlert(AlertIds.New(), source, a.Severity, message, a.Context ?? StoredJson.EmptyObject));
    }

    private void Count(object message)
    {
        // Our own traffic is not counted: an alert about alerts that did not arrive would feed itself.
        if (message is IAlertCommand or IAlertReply or Check or FlushDeadLetters) return;
        _deadLetters++;
        _firstDeadLetter ??= message.GetType().Name;
    }

    private void FlushDead()
    {
        if (_deadLetters == 0) return;
        var n = _deadLetters;
        var first = _firstDeadLetter!;
        _deadLetters = 0;
        _firstDeadLetter = null;
        // The message text and context stay the same per kind, so repeats collapse into one pending alert with a count.
        Raise(new SystemAlertRaised("actors", AlertSeverity.Warning, "Messages were lost as dead letters (undeliverable actor messages).",
            Json(new { first_kind = first })));
        _log.Warning("{0} dead letter(s) in the last window; first: {1}", n, first);
    }

    private void CheckNode()
    {
        try
        {
            var drive = Health.DiskSpace.DiskOf(_settings.DataDir);
            if (drive.TotalSize > 0)
            {
                var used = 100.0 * (drive.TotalSize - drive.AvailableFreeSpace) / drive.TotalSize;
                if (used >= _settings.DiskCriticalPercent)
                    Raise(new SystemAlertRaised("disk", AlertSeverity.Critical,
                        $"The data directory's file system is more than {_settings.DiskCriticalPercent:0} % full.",
                        Json(new { threshold_percent = _settings.DiskCriticalPercent })));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _log.Warning(e, "The disk check of {0} failed", _settings.DataDir);
        }
        if (_settings.Sandbox?.Health is { Status: SandboxHealthStatus.Critical } h)
            Raise(new SystemAlertRaised("sandbox", AlertSeverity.Critical, h.Unconfined
                    ? "The sandbox is disabled: sandboxed capabilities run unconfined."
                    : "The sandbox is unavailable: sandboxed capabilities are refused.",
                Json(new { reason = h.Message })));
    }

    private static StoredJson Json(object value) => StoredJson.Parse(System.Text.Json.JsonSerializer.Serialize(value, Core.CoreJson.Options));

    private sealed class Check : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Check Instance = new();
        private Check() { }
    }

    private sealed class FlushDeadLetters : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly FlushDeadLetters Instance = new();
        private FlushDeadLetters() { }
    }
}
