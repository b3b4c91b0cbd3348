using Akka.Actor;
using Akka.Event;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Supervision;

namespace KruxOS.Actors.Audit;

/// <summary>
/// The audit writer's maintenance, a child of <see cref="AuditWriterActor"/> so the writer's mailbox stays about
/// appending: retention (daily, on the first check at or after 03:00 UTC, and on demand with
/// <see cref="AuditCommands.RunRetention"/>) and the background verification of the whole directory (after the
/// writer opened the log, and after each daily retention run). Both run off the actor thread (<c>PipeTo</c>), one
/// at a time, so a verification never reads a directory retention is changing. Each verification's outcome goes to
/// the writer (<see cref="Verified"/>) with the breaks no chain note records yet, and the writer notes each once.
/// </summary>
public sealed class AuditMaintenanceActor : ReceiveActor, IWithTimers
{
    private const string RetentionTimer = "audit-retention";

    private readonly AuditOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _cts = new();
    private readonly Queue<Job> _jobs = new();
    private bool _running;
    private DateOnly? _lastRetentionDay;

    /// <summary>Timers (set by Akka).</summary>
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Creates the actor's props.</summary>
    public static Props Props(AuditOptions options, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new AuditMaintenanceActor(options, clock));

    /// <summary>Use <see cref="Props"/>.</summary>
    public AuditMaintenanceActor(AuditOptions options, TimeProvider clock)
    {
        _options = options;
        _clock = clock;
        Receive<AuditCommands.RunRetention>(_ => Schedule(new Job(JobKind.Retention, Sender)));
        Receive<VerifyLog>(_ => Schedule(new Job(JobKind.Verification, ActorRefs.Nobody)));
        Receive<RetentionTick>(_ => HandleRetentionTick());
        Receive<RetentionDone>(HandleRetentionDone);
        Receive<VerificationDone>(HandleVerificationDone);
    }

    /// <inheritdoc />
    protected override void PreStart() =>
        Timers.StartPeriodicTimer(RetentionTimer, RetentionTick.Instance, _options.RetentionCheckInterval);

    /// <inheritdoc />
    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
    }

    private void HandleRetentionTick()
    {
        var now = _clock.GetUtcNow();
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        if (now.Hour < 3 || _lastRetentionDay == today) return;
        _lastRetentionDay = today;
        Schedule(new Job(JobKind.Retention, ActorRefs.Nobody));
        Schedule(new Job(JobKind.Verification, ActorRefs.Nobody));
    }

    private void Schedule(Job job)
    {
        // One verification waiting is enough: it reads the directory as it is when it starts.
        if (job.Kind == JobKind.Verification && _jobs.Any(j => j.Kind == JobKind.Verification)) return;
        _jobs.Enqueue(job);
        RunNext();
    }

    private void RunNext()
    {
        if (_running || !_jobs.TryDequeue(out var job)) return;
        _running = true;
        var dir = _options.Directory;
        if (job.Kind == JobKind.Retention)
        {
            var days = _options.RetentionDays;
            var now = _clock.GetUtcNow();
            var fs = _options.FileSystem;
            var replyTo = job.ReplyTo;
            var retention = Task.Run(() => AuditRetention.Run(dir, days, now, fs), _cts.Token);
            _options.Closure.Track(retention);
            retention.PipeTo(Self, success: r => new RetentionDone(r, replyTo, null), failure: ex => new RetentionDone(null, replyTo, ex));
        }
        else
        {
            var stopping = _cts.Token;
            var verification = Task.Run(() => AuditVerifier.VerifyLive(dir, stopping), stopping);
            _options.Closure.Track(verification);
            verification.PipeTo(Self, success: v => new VerificationDone(v, null), failure: ex => new VerificationDone(null, ex));
        }
    }

    private void HandleRetentionDone(RetentionDone msg)
    {
        _running = false;
        if (msg.Result is { } r)
        {
            foreach (var w in r.Warnings)
            {
                _log.Warning("Audit retention: {Warning}", w);
                HealthAlert("warning", w);
            }
            if (r.Deleted.Count > 0) _log.Info("Audit retention deleted {Count} day file(s): {Files}", r.Deleted.Count, string.Join(", ", r.Deleted));
            if (!msg.ReplyTo.IsNobody()) msg.ReplyTo.Tell(r);
        }
        else
        {
            _log.Error(msg.Error, "Audit retention failed");
            HealthAlert("critical", $"audit retention failed: {msg.Error!.Message}");
            if (!msg.ReplyTo.IsNobody()) msg.ReplyTo.Tell(new Status.Failure(msg.Error!));
        }
        RunNext();
    }

    private void HandleVerificationDone(VerificationDone msg)
    {
        _running = false;
        if (msg.Result is { } v)
        {
            var unnoted = v.Unnoted;
            if (unnoted.Count > 0) _log.Error("Audit verification found {Count} break(s) no chain note records yet; first: {Issue}", unnoted.Count, unnoted[0]);
            else _log.Info("Audit verification: {Summary}", v.Report.Summary);
            Context.Parent.Tell(new Verified(v.Report.Summary, unnoted));
        }
        else
        {
            // A file may vanish under it (an operator moving files); the next run tries again.
            _log.Warning("Audit verification could not read the log: {Error}", msg.Error!.Message);
        }
        RunNext();
    }

    // Retention warnings and failures reach operators as health_alert events (kruxos watch).
    private void HealthAlert(string severity, string message) =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(SupervisionEventTypes.HealthAlert, _clock.GetUtcNow(), null, null,
            new { service = "audit", severity, message }));

    /// <summary>Verify the whole directory now (the writer sends it once the log is open).</summary>
    internal sealed class VerifyLog : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly VerifyLog Instance = new();
        private VerifyLog() { }
    }

    /// <summary>A verification's summary and the breaks it found that no chain note records yet, in log order (to the writer).</summary>
    internal sealed record Verified(string Summary, IReadOnlyList<ChainIssue> Unnoted) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private enum JobKind { Retention, Verification }

    private sealed record Job(JobKind Kind, IActorRef ReplyTo);

    private sealed record RetentionDone(RetentionResult? Result, IActorRef ReplyTo, Exception? Error) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private sealed record VerificationDone(LiveVerification? Result, Exception? Error) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private sealed class RetentionTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly RetentionTick Instance = new();
        private RetentionTick() { }
    }
}
