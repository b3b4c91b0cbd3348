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
/// <para>At startup, a break found in the newest day file is recorded with a chain-note entry and
/// logging continues on a new chain from the last record on disk. Its <see cref="AuditMaintenanceActor"/> child
/// runs retention and verifies the whole directory in the background (after the open and daily); each break is
/// noted once: not again when a note in the log already records it.</para>
/// </summary>
public sealed class AuditWriterActor : ReceiveActor, IWithTimers
{
    private const string RetryTimer = "audit-retry";

    private readonly AuditOptions _options;
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
    private string? _refusalPublished;
    private readonly HashSet<ChainBreakKey> _noted = [];
    private IActorRef _maintenance = ActorRefs.Nobody;
    private AuditVerificationInfo? _verification;

    /// <summary>Timers (set by Akka).</summary>
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Creates the actor's props.</summary>
    public static Props Props(AuditOptions options)
    {
        options.Validate();
        return Akka.Actor.Props.Create(() => new AuditWriterActor(options));
    }

    /// <summary>Use <see cref="Props(AuditOptions)"/>.</summary>
    public AuditWriterActor(AuditOptions options)
    {
        _options = options;
        _clock = options.Clock ?? TimeProvider.System;
        Receive<Append>(HandleAppend);
        Receive<Opened>(HandleOpened);
        Receive<OpenFailed>(HandleOpenFailed);
        Receive<AuditDiskReplies.BatchWritten>(HandleBatchWritten);
        Receive<AuditDiskReplies.BatchFailed>(HandleBatchFailed);
        Receive<RetryTick>(_ => HandleRetry());
        Receive<GetAuditHealth>(_ => Sender.Tell(Health()));
        Receive<RunRetention>(m => _maintenance.Forward(m)); // the maintenance child answers the sender
        Receive<AuditMaintenanceActor.Verified>(HandleVerified);
    }

    /// <inheritdoc />
    protected override void PreStart()
    {
        _maintenance = Context.ActorOf(AuditMaintenanceActor.Props(_options, _clock), "maintenance");
        StartOpen();
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
        _disk?.Complete(); // batches already submitted are still written; the loop then closes the file
        if (Waiting > 0)
            _log.Error("Audit writer stopped with {Count} entries not confirmed on disk", Waiting);
    }

    private int Waiting => _queue.Count + _inFlight.Count;

    private AuditHealth Health() => new(_status, Waiting, _lastError, _written, _startupBreak, _verification);

    // ------------------------------------------------------------------ open

    private void StartOpen()
    {
        _opening = true;
        var o = _options;
        AuditFileWriter.OpenAsync(o.Directory, _clock, o.FileSystem, o.UseIndex, _cts.Token)
            .PipeTo(Self, success: r => new Opened(r.Writer, r.Recovery), failure: ex => new OpenFailed(ex));
    }

    private void HandleOpened(Opened msg)
    {
        _opening = false;
        _disk = new AuditDiskLoop(msg.Writer, Self, _options.MaxBatch);
        var r = msg.Recovery;
        _chain = new AuditChain(r.Head.Span);
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
                _queue.AddFirst(new Pending(AuditEntry.ChainNote(_clock.GetUtcNow(), issue), null));
            }
            _noted.Add(ChainBreakKey.Of(issue));
        }
        if (_status == AuditHealthStatus.Starting || (_queue.Count == 0 && _status != AuditHealthStatus.Healthy))
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
            case AuditHealthStatus.Degraded:
                if (Waiting >= _options.RingCapacity)
                {
                    msg.ReplyTo.Tell(new AuditFailed(id, $"audit ring buffer full ({_options.RingCapacity} entries)"));
                    return;
                }
                Enqueue(new Pending(msg.Draft, null));
                msg.ReplyTo.Tell(new AuditBuffered(id, Waiting));
                return;
            default:
                if (Waiting >= _options.RingCapacity)
                {
                    msg.ReplyTo.Tell(new AuditFailed(id, $"audit writer overloaded ({_options.RingCapacity} entries waiting)"));
                    return;
                }
                Enqueue(new Pending(msg.Draft, msg.ReplyTo));
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
            p.Sealed = _chain.Seal(p.Draft);
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
            p.Sealed ??= _chain.Seal(p.Draft);
            var sequence = _nextSequence++;
            _inFlight.Enqueue((sequence, p));
            _disk.Submit(new AuditDiskEntry(sequence, _epoch, p.Sealed, p.ReplyTo));
            submitted++;
        }
    }

    private void HandleBatchWritten(AuditDiskReplies.BatchWritten msg)
    {
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

    // What HandleAppend would answer a new entry now, for the pipeline to read before it executes a call:
    // halted, or the ring (queue) full, refuse; anything else accepts (degraded buffers in the ring).
    private void PublishAvailability()
    {
        var refusal = _status == AuditHealthStatus.Halted ? $"audit log unavailable (fail_mode halt): {_lastError}"
            : Waiting >= _options.RingCapacity ? $"audit ring buffer full ({_options.RingCapacity} entries waiting)"
            : null;
        if (refusal == _refusalPublished) return;
        _refusalPublished = refusal;
        _options.Availability.Update(refusal);
    }

    private void HandleRetry()
    {
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
            Enqueue(new Pending(AuditEntry.ChainNote(now, issue, atStartup: false), null));
            noted++;
        }
        if (noted == 0) return;
        _log.Error("Audit verification found {Count} new chain break(s); first: {Issue}; chain notes appended", noted, msg.Unnoted[0]);
        HealthAlert("critical", $"audit chain broken: {noted} break(s) found by the background verification; first: {msg.Unnoted[0]}");
        TryStartBatch(force: false);
        PublishAvailability();
    }

    // Failures, recovery and breaks reach operators as health_alert events (kruxos watch).
    private void HealthAlert(string severity, string message) =>
        Context.System.EventStream.Publish(SupervisionEvent.Create(SupervisionEventTypes.HealthAlert, _clock.GetUtcNow(), null, null,
            new { service = "audit", severity, message }));

    // ------------------------------------------------------------------ internal messages

    private sealed class Pending(AuditEntry draft, IActorRef? replyTo)
    {
        public AuditEntry Draft { get; } = draft;
        public IActorRef? ReplyTo { get; set; } = replyTo;
        public SealedAuditRecord? Sealed { get; set; }
    }

    private sealed record Opened(AuditFileWriter Writer, AuditRecovery Recovery) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private sealed record OpenFailed(Exception Cause) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private sealed class RetryTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly RetryTick Instance = new();
        private RetryTick() { }
    }
}
