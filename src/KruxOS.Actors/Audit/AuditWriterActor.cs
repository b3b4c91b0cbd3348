using Akka.Actor;
using Akka.Event;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Supervision;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Audit;

/// <summary>
/// The node's single audit writer. It seals drafts into the hash chain in arrival order and writes them
/// with group commit: whatever arrived while a batch was being fsynced forms the next batch. Disk I/O runs
/// in the <see cref="AuditDiskLoop"/>: while healthy, each entry is sealed and submitted as it arrives, and
/// the loop writes the next batch the moment the previous fsync returns. A requester is answered
/// <see cref="AuditAppended"/> only after its batch is fsynced (the loop answers at once, without a hop
/// through this mailbox). The SQLite index is updated after that, in the background (<see cref="AuditIndexer"/>).
/// <para>When a write or fsync fails the actor degrades: queued entries stay in memory, in order, and are
/// retried every <see cref="AuditOptions.RetryInterval"/>; a flush writes them with the hashes they were
/// sealed with, so the chain stays valid. In <see cref="AuditFailMode.Degrade"/> waiting and new
/// requesters get <see cref="AuditBuffered"/>; in <see cref="AuditFailMode.Halt"/> they get
/// <see cref="AuditFailed"/>. When <see cref="AuditOptions.RingCapacity"/> entries wait, new appends get
/// <see cref="AuditFailed"/>. No entry is ever dropped silently.</para>
/// <para>Every draft is prepared on arrival (<see cref="AuditChain.Prepare"/>: redacted, made valid, bounded by
/// <see cref="AuditLimits"/>) and sealing never fails on content (<see cref="AuditChain.SealPrepared"/>), so no entry
/// can make the writer fail. If it fails anyway (a fault it did not foresee), its parent restarts it without limit
/// (<see cref="AuditHostingExtensions.WriterChild"/>) and the failed instance hands every entry not yet durable to the
/// next one (<see cref="Handover"/>): the restarted writer waits, backing off from
/// <see cref="AuditOptions.RestartBackoffMin"/> to <see cref="AuditOptions.RestartBackoffMax"/>, lets the old disk
/// loop finish the batch it was writing, drops what that batch made durable, and writes the rest before anything
/// new. While it restarts, <see cref="AuditAvailability"/> refuses (no call runs), health is critical, and new
/// entries are buffered (degrade) or refused (halt).</para>
/// <para>At startup, a break found in the newest day file is recorded with a chain-note entry and
/// logging continues on a new chain from the last record on disk. Its <see cref="AuditMaintenanceActor"/> child
/// runs retention and verifies the whole directory in the background (after the open and daily); each break is
/// noted once: not again when a note in the log already records it.</para>
/// </summary>
public sealed class AuditWriterActor : ReceiveActor, IWithTimers
{
    private const string RetryTimer = "audit-retry";
    private const string RestartTimer = "audit-restart";
    private const string NotPublished = "\u0000";

    /// <summary>A writer that has been open this long before it fails again starts its backoff over.</summary>
    public static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);

    private readonly AuditOptions _options;
    private readonly Handover _handover;
    private readonly object _instance = new(); // tells this instance's replies from a failed predecessor's (same mailbox)
    private readonly TimeProvider _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _cts = new();
    private readonly LinkedList<Pending> _queue = new();
    private readonly Queue<(long Sequence, Pending Entry)> _inFlight = new();
    private long _nextSequence;
    private long _epoch;
    private AuditDiskLoop? _disk;
    private AuditChain? _chain;
    private bool _opening;
    private AuditHealthStatus _status = AuditHealthStatus.Starting;
    private string? _lastError;
    private long _written;
    private ChainIssue? _startupBreak;
    private string? _refusalPublished = NotPublished; // an instance publishes its state once at least, whatever a predecessor left
    private readonly HashSet<ChainBreakKey> _noted = [];
    private IActorRef _maintenance = ActorRefs.Nobody;
    private AuditVerificationInfo? _verification;
    private Task<(AuditFileWriter Writer, AuditRecovery Recovery)>? _openTask;
    private RestartStage _restart = RestartStage.None;

    /// <summary>Timers (set by Akka).</summary>
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Creates the actor's props. Each props value carries its own <see cref="Handover"/>, so restarts of one writer share it.</summary>
    public static Props Props(AuditOptions options)
    {
        options.Validate();
        return Akka.Actor.Props.CreateBy(new Producer(options, new Handover()));
    }

    private sealed class Producer(AuditOptions options, Handover handover) : IIndirectActorProducer
    {
        public Type ActorType => typeof(AuditWriterActor);

        public ActorBase Produce() => new AuditWriterActor(options, handover);

        public void Release(ActorBase actor) { }
    }

    private AuditWriterActor(AuditOptions options, Handover handover)
    {
        _options = options;
        _handover = handover;
        _clock = options.Clock ?? TimeProvider.System;
        Receive<Append>(HandleAppend);
        Receive<Opened>(HandleOpened);
        Receive<OpenFailed>(HandleOpenFailed);
        Receive<AuditDiskReplies.BatchWritten>(HandleBatchWritten);
        Receive<AuditDiskReplies.BatchFailed>(HandleBatchFailed);
        Receive<RetryTick>(_ => HandleRetry());
        Receive<BackoffElapsed>(_ => HandleBackoffElapsed());
        Receive<PredecessorDone>(_ => HandlePredecessorDone());
        Receive<GetAuditHealth>(_ => Sender.Tell(Health()));
        Receive<RunRetention>(m => _maintenance.Forward(m)); // the maintenance child answers the sender
        Receive<AuditMaintenanceActor.Verified>(HandleVerified);
    }

    /// <inheritdoc />
    protected override void PreStart()
    {
        _maintenance = Context.ActorOf(AuditMaintenanceActor.Props(_options, _clock), "maintenance");
        if (_handover.Failures == 0)
        {
            StartOpen();
            PublishAvailability();
            return;
        }
        // Restarted after a failure: take over what the failed instance had not made durable, back off, then open.
        _status = AuditHealthStatus.Restarting;
        _lastError = _handover.LastFailure;
        foreach (var e in _handover.TakeEntries()) _queue.AddLast(new Pending(e.Draft, e.ReplyTo) { HandedSequence = e.Sequence, HandedLoop = e.Loop });
        var delay = Backoff(_handover.Failures);
        _log.Error("CRITICAL audit writer restarting after failure {Failures} ({Error}); {Count} entries taken over; opening the log again in {Delay}",
            _handover.Failures, _lastError, _queue.Count, delay);
        HealthAlert("critical", $"audit writer failed ({_lastError}); restarting in {delay.TotalSeconds:0.#} s; no call runs until it is back");
        _restart = RestartStage.BackingOff;
        Timers.StartSingleTimer(RestartTimer, BackoffElapsed.Instance, delay);
        PublishAvailability();
    }

    /// <summary>
    /// A failure (not a stop): everything not yet durable goes to the next instance, in chain order. The disk loop is
    /// abandoned — the batch it is writing finishes, nothing after it is written by this instance — and the next
    /// instance waits for it (and for an open still running) before it touches the log.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        _cts.Cancel();
        var loop = _disk;
        loop?.Abandon();
        var entries = new List<HandedEntry>(Waiting);
        foreach (var (sequence, p) in _inFlight) entries.Add(new HandedEntry(p.Draft, p.ReplyTo, sequence, loop));
        foreach (var p in _queue) entries.Add(new HandedEntry(p.Draft, p.ReplyTo, p.HandedSequence, p.HandedLoop));
        var now = _clock.GetUtcNow();
        var stable = _handover.OpenedAt is { } opened && now - opened >= StableAfter;
        // The message being handled when it failed is not retried (it may be what failed); an append is answered.
        if (message is Append failed && !entries.Exists(e => e.Draft.Id == failed.Draft.Id)) failed.ReplyTo.Tell(new AuditFailed(failed.Draft.Id, $"the audit writer failed on this entry ({reason.GetType().Name})"));
        _handover.Fail(entries, [Quietly(loop?.Completion), Quietly(_openTask)], stable, $"{reason.GetType().Name}: {reason.Message}");
        _options.Availability.Update($"audit writer restarting after a failure ({reason.GetType().Name})");
        _log.Error(reason, "Audit writer failed with {Count} entries not yet durable; they go to the restarted writer", entries.Count);
        foreach (var child in Context.GetChildren()) Context.Stop(child);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
        _disk?.Complete(); // batches already submitted are still written (their requesters answered); the loop then closes the file
        if (_disk is not null) _options.Closure.Track(_disk.Completion);
        // An open still running (or whose result is still in the mailbox) yields a writer nobody will take: close it.
        if (_opening && _openTask is { } open)
            _options.Closure.Track(open.ContinueWith(static t => { if (t.IsCompletedSuccessfully) t.Result.Writer.Dispose(); }, TaskScheduler.Default));
        // Stopping for good (the node shuts down): whoever still waits for an entry not handed to the disk is answered now.
        foreach (var p in _queue) p.ReplyTo?.Tell(new AuditFailed(p.Draft.Id, "audit writer stopped before the entry was written"));
        if (Waiting > 0)
            _log.Error("Audit writer stopped with {Count} entries not confirmed on disk", Waiting);
        _options.Availability.Update("audit writer stopped");
    }

    private static Task Quietly(Task? task) => task is null ? Task.CompletedTask : task.ContinueWith(static _ => { }, TaskScheduler.Default);

    // Doubling from the minimum with each failure in a row, up to the maximum, with ±20 % jitter.
    private TimeSpan Backoff(int failures)
    {
        var min = _options.RestartBackoffMin.TotalMilliseconds;
        var ms = Math.Min(_options.RestartBackoffMax.TotalMilliseconds, min * Math.Pow(2, Math.Min(failures - 1, 30)));
        return TimeSpan.FromMilliseconds(ms * (0.8 + 0.4 * Random.Shared.NextDouble()));
    }

    private void HandleBackoffElapsed()
    {
        if (_restart != RestartStage.BackingOff) return;
        _restart = RestartStage.AwaitingPredecessor;
        _handover.Previous.PipeTo(Self, success: () => PredecessorDone.Instance, failure: _ => PredecessorDone.Instance);
    }

    // The failed instances' loops have ended: whatever they made durable they answered themselves; the rest is written now.
    private void HandlePredecessorDone()
    {
        if (_restart != RestartStage.AwaitingPredecessor) return;
        _restart = RestartStage.None;
        var node = _queue.First;
        while (node is not null)
        {
            var next = node.Next;
            var p = node.Value;
            if (p.HandedLoop is { } loop && p.HandedSequence <= loop.LastWrittenSequence) _queue.Remove(node);
            p.HandedLoop = null;
            p.HandedSequence = null;
            node = next;
        }
        StartOpen();
    }

    private int Waiting => _queue.Count + _inFlight.Count;

    private AuditHealth Health() => new(_status, Waiting, _lastError, _written, _startupBreak, _verification);

    // ------------------------------------------------------------------ open

    private void StartOpen()
    {
        _opening = true;
        var o = _options;
        var instance = _instance;
        var open = AuditFileWriter.OpenAsync(o.Directory, _clock, o.FileSystem, o.UseIndex, _cts.Token);
        _openTask = open;
        open.PipeTo(Self, success: r => new Opened(instance, r.Writer, r.Recovery), failure: ex => new OpenFailed(instance, ex));
    }

    private void HandleOpened(Opened msg)
    {
        if (!ReferenceEquals(msg.Instance, _instance) || _disk is not null)
        {
            msg.Writer.Dispose(); // opened for an instance that failed since (this one opens its own), or a second time
            return;
        }
        _opening = false;
        _disk = new AuditDiskLoop(msg.Writer, Self, _options.MaxBatch);
        _handover.Opened(_clock.GetUtcNow());
        var r = msg.Recovery;
        _chain = new AuditChain(r.Head.Span, _options.Node);
        if (r.TornFile is not null)
            _log.Warning("Audit recovery cut {Bytes} unreadable bytes from the end of {File}; saved to {Evidence}", r.TornBytes, r.TornFile, r.TornEvidence);
        if (r.Break is { } issue)
        {
            _startupBreak = issue;
            // Noted once: a note already in the newest file (an earlier start found the same break) is enough.
            if (r.NotedBreaks?.Contains(ChainBreakKey.Of(issue)) == true)
            {
                _log.Error("Audit chain break found at startup: {Issue}; a chain note already records it", issue);
            }
            else
            {
                _log.Error("Audit chain break found at startup: {Issue}; continuing on a new chain with a note entry", issue);
                ChainBreakAlert("at startup", issue.ToString());
                _queue.AddFirst(new Pending(AuditChain.Prepare(AuditEntry.ChainNote(_clock.GetUtcNow(), issue)), null));
            }
            _noted.Add(ChainBreakKey.Of(issue));
        }
        if (_status == AuditHealthStatus.Restarting)
        {
            _log.Info("Audit writer back after a failure; writing the {Count} entries taken over first", _queue.Count);
            HealthAlert("info", "audit writer back after a failure");
        }
        if (_status is AuditHealthStatus.Starting or AuditHealthStatus.Restarting || (_queue.Count == 0 && _status != AuditHealthStatus.Healthy))
        {
            // opened after a failed first open with nothing waiting: nothing left to flush
            _status = AuditHealthStatus.Healthy;
            _lastError = null;
            Timers.Cancel(RetryTimer);
        }
        _log.Info("Audit writer open on {Directory}; head {Head}", _options.Directory, _chain.HeadHex[..16]);
        TryStartBatch(force: true);
        PublishAvailability();
        // The startup check read only the newest file: the rest is verified in the background.
        _maintenance.Tell(AuditMaintenanceActor.VerifyLog.Instance);
    }

    private void HandleOpenFailed(OpenFailed msg)
    {
        if (!ReferenceEquals(msg.Instance, _instance)) return;
        _opening = false;
        EnterFailure($"cannot open the audit log: {msg.Cause.Message}");
    }

    // ------------------------------------------------------------------ append

    private void HandleAppend(Append msg)
    {
        Accept(msg);
        PublishAvailability();
    }

    private void Accept(Append msg)
    {
        var id = msg.Draft.Id;
        switch (_status)
        {
            case AuditHealthStatus.Halted:
                msg.ReplyTo.Tell(new AuditFailed(id, $"audit log unavailable (fail_mode halt): {_lastError}"));
                return;
            case AuditHealthStatus.Restarting when _options.FailMode == AuditFailMode.Halt:
                msg.ReplyTo.Tell(new AuditFailed(id, $"audit writer restarting after a failure (fail_mode halt): {_lastError}"));
                return;
            case AuditHealthStatus.Degraded or AuditHealthStatus.Restarting:
                if (Waiting >= _options.RingCapacity)
                {
                    msg.ReplyTo.Tell(new AuditFailed(id, $"audit ring buffer full ({_options.RingCapacity} entries)"));
                    return;
                }
                Enqueue(new Pending(AuditChain.Prepare(msg.Draft), null));
                msg.ReplyTo.Tell(new AuditBuffered(id, Waiting));
                return;
            default:
                if (Waiting >= _options.RingCapacity)
                {
                    msg.ReplyTo.Tell(new AuditFailed(id, $"audit writer overloaded ({_options.RingCapacity} entries waiting)"));
                    return;
                }
                // Prepared now (redacted, bounded by AuditLimits): what waits in memory is at most about 120 KiB per entry.
                Enqueue(new Pending(AuditChain.Prepare(msg.Draft), msg.ReplyTo));
                TryStartBatch(force: false);
                return;
        }
    }

    // Seals on arrival, so an entry is ready for the disk loop at once (healthy, it is submitted right away).
    // Sealed entries are always a prefix of the queue (batches are taken, and failed ones put back, at
    // the front), so an entry is sealed now only when everything before it already is: the chain order
    // stays the queue order. Before the log is open nothing is sealed (the start-up chain note goes first).
    private void Enqueue(Pending p)
    {
        if (_chain is not null && (_queue.Last is null || _queue.Last.Value.Sealed is not null))
            p.Sealed = _chain.SealPrepared(p.Draft);
        _queue.AddLast(p);
    }

    private void TryStartBatch(bool force)
    {
        if (_disk is null || _chain is null) return;
        if (!force && _status != AuditHealthStatus.Healthy) return;
        // Healthy: everything goes to the disk loop at once (it forms the batches). Failing: one batch at a
        // time probes the disk, and the rest waits here.
        var healthy = _status == AuditHealthStatus.Healthy;
        if (!healthy && _inFlight.Count > 0) return;
        var submitted = 0;
        while (_queue.First is { } node && (healthy || submitted < _options.MaxBatch))
        {
            _queue.RemoveFirst();
            var p = node.Value;
            // Sealed once: a retried entry keeps its hashes, so the chain is the same after a flush.
            p.Sealed ??= _chain.SealPrepared(p.Draft);
            var sequence = _nextSequence++;
            _inFlight.Enqueue((sequence, p));
            _disk.Submit(new AuditDiskEntry(sequence, _epoch, p.Sealed, p.ReplyTo));
            submitted++;
        }
    }

    private void HandleBatchWritten(AuditDiskReplies.BatchWritten msg)
    {
        if (!ReferenceEquals(msg.Loop, _disk)) return; // a failed predecessor's loop: its entries were handed over

        // Results come in submission order; anything else belongs to entries already put back after a failure.
        if (_inFlight.Count < msg.Count || _inFlight.Peek().Sequence != msg.FirstSequence) return;
        for (var i = 0; i < msg.Count; i++) _inFlight.Dequeue().Entry.ReplyTo = null; // answered by the disk loop
        _written += msg.Count;
        if (_status is AuditHealthStatus.Degraded or AuditHealthStatus.Halted)
        {
            if (_queue.Count == 0 && _inFlight.Count == 0)
            {
                _status = AuditHealthStatus.Healthy;
                _lastError = null;
                Timers.Cancel(RetryTimer);
                _log.Info("Audit writer recovered: buffered entries flushed to {File}", msg.Result.File);
                HealthAlert("info", "audit writer recovered: buffered entries flushed");
            }
            else
            {
                TryStartBatch(force: true); // keep flushing the ring
                PublishAvailability();
                return;
            }
        }
        TryStartBatch(force: false);
        PublishAvailability();
    }

    private void HandleBatchFailed(AuditDiskReplies.BatchFailed msg)
    {
        if (!ReferenceEquals(msg.Loop, _disk)) return;
        if (_inFlight.Count == 0 || _inFlight.Peek().Sequence != msg.FirstSequence) return;
        // The loop skips every later entry of this epoch: put them all back, in chain order, before the queue.
        var entries = _inFlight.ToArray();
        _inFlight.Clear();
        _epoch++;
        for (var i = entries.Length - 1; i >= 0; i--) _queue.AddFirst(entries[i].Entry);
        EnterFailure($"audit write failed: {msg.Cause.Message}");
    }

    private void EnterFailure(string error)
    {
        _lastError = error;
        var wasFailing = _status is AuditHealthStatus.Degraded or AuditHealthStatus.Halted;
        _status = _options.FailMode == AuditFailMode.Halt ? AuditHealthStatus.Halted : AuditHealthStatus.Degraded;
        foreach (var p in _queue)
        {
            if (p.ReplyTo is null) continue;
            p.ReplyTo.Tell(_options.FailMode == AuditFailMode.Halt
                ? new AuditFailed(p.Draft.Id, error)
                : new AuditBuffered(p.Draft.Id, Waiting));
            p.ReplyTo = null;
        }
        if (!wasFailing)
        {
            _log.Error("CRITICAL audit writer {Status}: {Error}; {Count} entries held in memory, retrying every {Interval}",
                _status, error, Waiting, _options.RetryInterval);
            Timers.StartPeriodicTimer(RetryTimer, RetryTick.Instance, _options.RetryInterval);
            HealthAlert("critical", $"audit writer {(_status == AuditHealthStatus.Halted ? "halted" : "degraded")}: {error}");
        }
        PublishAvailability();
    }

    // Whether a call may run now, for the pipeline to read before it executes one: halted, restarting after a failure,
    // or the ring (queue) full, refuse; anything else accepts (degraded buffers in the ring).
    private void PublishAvailability()
    {
        var refusal = _status == AuditHealthStatus.Halted ? $"audit log unavailable (fail_mode halt): {_lastError}"
            : _status == AuditHealthStatus.Restarting ? $"audit writer restarting after a failure: {_lastError}"
            : Waiting >= _options.RingCapacity ? $"audit ring buffer full ({_options.RingCapacity} entries waiting)"
            : null;
        if (refusal == _refusalPublished) return;
        _refusalPublished = refusal;
        _options.Availability.Update(refusal);
    }

    private void HandleRetry()
    {
        if (_status == AuditHealthStatus.Restarting) return; // the restart opens the log
        if (_disk is null)
        {
            if (!_opening) StartOpen();
            return;
        }
        TryStartBatch(force: true);
    }

    // ------------------------------------------------------------------ breaks found in the background

    private void HandleVerified(AuditMaintenanceActor.Verified msg)
    {
        var now = _clock.GetUtcNow();
        _verification = new AuditVerificationInfo(now, msg.Summary, (_verification?.Count ?? 0) + 1);
        var noted = 0;
        foreach (var issue in msg.Unnoted)
        {
            if (!_noted.Add(ChainBreakKey.Of(issue))) continue; // noted by this writer already (e.g. at startup)
            Enqueue(new Pending(AuditChain.Prepare(AuditEntry.ChainNote(now, issue, atStartup: false)), null));
            noted++;
        }
        if (noted == 0) return;
        _log.Error("Audit verification found {Count} new chain break(s); first: {Issue}; chain notes appended", noted, msg.Unnoted[0]);
        HealthAlert("critical", $"audit chain broken: {noted} break(s) found by the background verification; first: {msg.Unnoted[0]}");
        ChainBreakAlert("by the background verification", msg.Unnoted[0].ToString());
        TryStartBatch(force: false);
        PublishAvailability();
    }

    // Failures, recovery and breaks reach operators as health_alert events (kruxos watch).
    // An operator alert (the alerts area stores it as system:audit); the text is fixed per kind so repeats collapse.
    private void ChainBreakAlert(string when, string issue) =>
        Context.System.EventStream.Publish(new Core.Alerts.SystemAlertRaised("audit", Core.Alerts.AlertSeverity.Critical,
            $"The audit chain is broken: a break was found {when}; a chain note records it and logging continues on a new chain.",
            Core.State.StoredJson.Parse(System.Text.Json.JsonSerializer.Serialize(new { issue = issue.Length > 1000 ? issue[..1000] : issue }))));

    private void HealthAlert(string severity, string message) =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(SupervisionEventTypes.HealthAlert, _clock.GetUtcNow(), null, null,
            new { service = "audit", severity, message }));

    // ------------------------------------------------------------------ internal messages

    private sealed class Pending(AuditEntry draft, IActorRef? replyTo)
    {
        /// <summary>The prepared entry (<see cref="AuditChain.Prepare"/>).</summary>
        public AuditEntry Draft { get; } = draft;
        public IActorRef? ReplyTo { get; set; } = replyTo;
        public SealedAuditRecord? Sealed { get; set; }

        /// <summary>Taken over from a failed instance: the number its loop knew it by (null if never submitted).</summary>
        public long? HandedSequence { get; set; }

        /// <summary>The failed instance's loop the entry was submitted to.</summary>
        public AuditDiskLoop? HandedLoop { get; set; }
    }

    /// <summary>
    /// What survives the writer's restarts (one per props value): the entries a failed instance had not made durable
    /// (prepared, in chain order, each with who waits for it and where it was submitted), the tasks the next instance
    /// must let finish before it opens the log, and the failures in a row that set the backoff.
    /// </summary>
    internal sealed class Handover
    {
        private List<HandedEntry> _entries = [];

        public int Failures { get; private set; }

        public string? LastFailure { get; private set; }

        public DateTimeOffset? OpenedAt { get; private set; }

        /// <summary>Ends when every failed instance's disk loop and open have ended (never faults).</summary>
        public Task Previous { get; private set; } = Task.CompletedTask;

        public void Fail(List<HandedEntry> entries, Task[] running, bool stable, string failure)
        {
            _entries = entries;
            Previous = Task.WhenAll([Previous, .. running]);
            Failures = stable ? 1 : Failures + 1;
            LastFailure = failure;
            OpenedAt = null;
        }

        public void Opened(DateTimeOffset at) => OpenedAt = at;

        public List<HandedEntry> TakeEntries()
        {
            var entries = _entries;
            _entries = [];
            return entries;
        }
    }

    internal sealed record HandedEntry(AuditEntry Draft, IActorRef? ReplyTo, long? Sequence, AuditDiskLoop? Loop);

    private sealed record Opened(object Instance, AuditFileWriter Writer, AuditRecovery Recovery) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private sealed record OpenFailed(object Instance, Exception Cause) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private enum RestartStage
    {
        None,
        BackingOff,
        AwaitingPredecessor,
    }

    private sealed class BackoffElapsed : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly BackoffElapsed Instance = new();
        private BackoffElapsed() { }
    }

    private sealed class PredecessorDone : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly PredecessorDone Instance = new();
        private PredecessorDone() { }
    }

    private sealed class RetryTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly RetryTick Instance = new();
        private RetryTick() { }
    }
}
