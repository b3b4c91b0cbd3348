using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Event;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Actors.Telemetry;

namespace KruxOS.Actors.Audit;

/// <summary>
/// The audit writer's disk side, a group-commit loop: the <see cref="AuditWriterActor"/> submits each sealed
/// entry as soon as it has it; the loop takes everything submitted (up to the batch limit), writes it with
/// one append and one fsync, and takes the next lot the moment the fsync returns — the next batch
/// accumulates while one is on disk, with no round trip through the actor's mailbox in between.
/// <list type="bullet">
/// <item>Once a batch is durable the loop answers its requesters itself (<see cref="AuditReplies.AuditAppended"/>)
/// and then tells the actor; nobody is answered before the fsync of their batch returned.</item>
/// <item>Entries are written strictly in submission (chain) order. When a batch fails, every entry of the
/// same epoch read after it is skipped unwritten: the actor puts all of them back in order and resubmits
/// them in a later epoch, so the file never gets a later entry without an earlier one.</item>
/// </list>
/// Owns the <see cref="AuditFileWriter"/> and disposes it when the loop ends (after <see cref="Complete"/> or
/// <see cref="Abandon"/>). Its replies name the loop, so a restarted actor (same mailbox) can tell them from its own.
/// </summary>
internal sealed class AuditDiskLoop
{
    private readonly AuditFileWriter _writer;
    private readonly IActorRef _owner;
    private readonly int _maxBatch;
    private readonly Channel<AuditDiskEntry> _entries = Channel.CreateUnbounded<AuditDiskEntry>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Task _loop;
    private long _lastWritten = -1;
    private volatile bool _abandoned;

    public AuditDiskLoop(AuditFileWriter writer, IActorRef owner, int maxBatch)
    {
        _writer = writer;
        _owner = owner;
        _maxBatch = maxBatch;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Queues an entry behind those already submitted. Never blocks.</summary>
    public void Submit(AuditDiskEntry entry) => _entries.Writer.TryWrite(entry);

    /// <summary>Writes what was submitted, then ends the loop and closes the writer (does not wait).</summary>
    public void Complete() => _entries.Writer.TryComplete();

    /// <summary>
    /// Ends the loop without writing anything it has not started on: the batch being written (if any) finishes and
    /// its requesters are answered; every later entry is dropped unanswered (its owner hands it to the next writer).
    /// See <see cref="LastWrittenSequence"/> once <see cref="Completion"/> has ended.
    /// </summary>
    public void Abandon()
    {
        _abandoned = true;
        _entries.Writer.TryComplete();
    }

    /// <summary>The highest submission number made durable so far (-1 before the first). Entries are written in submission order.</summary>
    public long LastWrittenSequence => Interlocked.Read(ref _lastWritten);

    /// <summary>Ends when the loop has written what was submitted and closed the writer.</summary>
    public Task Completion => _loop;

    private async Task RunAsync()
    {
        var failedEpoch = long.MinValue;
        var batch = new List<AuditDiskEntry>();
        var records = new List<SealedAuditRecord>();
        var reader = _entries.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                if (_abandoned) break;
                while (batch.Count < _maxBatch && reader.TryRead(out var e))
                {
                    if (e.Epoch <= failedEpoch) continue; // an earlier entry of its epoch failed: the actor resubmits it
                    batch.Add(e);
                    records.Add(e.Record);
                }
                if (batch.Count == 0) continue;
                var commitStarted = Stopwatch.GetTimestamp();
                try
                {
                    var result = _writer.AppendBatch(records);
                    PipelineTelemetry.RecordAuditCommit(ok: true, batch.Count, commitStarted, Stopwatch.GetTimestamp());
                    Interlocked.Exchange(ref _lastWritten, batch[^1].Sequence);
                    foreach (var e in batch) e.ReplyTo?.Tell(new AuditReplies.AuditAppended(e.Record.Entry.Id, e.Record.Entry.EntryHash!));
                    _owner.Tell(new AuditDiskReplies.BatchWritten(this, batch[0].Sequence, batch.Count, result));
                }
                catch (Exception ex)
                {
                    PipelineTelemetry.RecordAuditCommit(ok: false, batch.Count, commitStarted, Stopwatch.GetTimestamp());
                    failedEpoch = batch[^1].Epoch;
                    _owner.Tell(new AuditDiskReplies.BatchFailed(this, batch[0].Sequence, ex));
                }
                batch.Clear();
                records = []; // the writer's indexer keeps the written list
            }
        }
        finally
        {
            _writer.Dispose();
        }
    }
}

/// <summary>A sealed entry for the disk loop.</summary>
/// <param name="Sequence">The actor's submission number (results name the first entry of their batch).</param>
/// <param name="Epoch">Bumped by the actor after each failure; a failure skips the rest of its epoch.</param>
/// <param name="Record">The sealed record.</param>
/// <param name="ReplyTo">Who to answer <see cref="AuditReplies.AuditAppended"/> after the fsync (null: already answered, e.g. buffered).</param>
internal sealed record AuditDiskEntry(long Sequence, long Epoch, SealedAuditRecord Record, IActorRef? ReplyTo);

/// <summary>What the disk loop tells the audit writer actor.</summary>
internal static class AuditDiskReplies
{
    /// <summary>The <paramref name="Count"/> entries from <paramref name="FirstSequence"/> on are durable and their requesters were answered.</summary>
    public sealed record BatchWritten(AuditDiskLoop Loop, long FirstSequence, int Count, AppendResult Result) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    /// <summary>The batch starting at <paramref name="FirstSequence"/> could not be made durable (the file is back at its previous length); later entries of its epoch were skipped.</summary>
    public sealed record BatchFailed(AuditDiskLoop Loop, long FirstSequence, Exception Cause) : INoSerializationVerificationNeeded, IDeadLetterSuppression;
}
