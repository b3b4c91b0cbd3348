using Akka.Actor;
using Akka.Event;
using KruxOS.Core.Audit;

namespace KruxOS.Actors.Audit;

/// <summary>What one answer of the audit writer (or the deadline) meant for the entries an actor waits on.</summary>
public enum AuditAckKind
{
    /// <summary>An entry is durable: fsynced (<see cref="AuditReplies.AuditAppended"/>) or held in the degrade ring (<see cref="AuditReplies.AuditBuffered"/>).</summary>
    Durable,

    /// <summary>The writer refused an entry (<see cref="AuditReplies.AuditFailed"/>).</summary>
    Failed,

    /// <summary>The deadline passed with entries unanswered; they count as settled and nothing more is awaited.</summary>
    TimedOut,

    /// <summary>An answer about an entry not (or no longer) awaited: a late reply after the deadline. Nothing changed.</summary>
    Stale,
}

/// <summary>One acknowledgement, as <see cref="AuditAcknowledgements.TryHandle"/> read it.</summary>
/// <param name="Kind">What the answer meant.</param>
/// <param name="Reason">The writer's reason, for <see cref="AuditAckKind.Failed"/>.</param>
/// <param name="AllSettled">True when no appended entry is still unanswered.</param>
public readonly record struct AuditAck(AuditAckKind Kind, string? Reason, bool AllSettled);

/// <summary>
/// The audit acknowledgements of one audited actor (a tool run, an approval; later any entity whose records must be
/// durable before it acts): the entries it appended and has not heard about, the first refusal, and a deadline kept
/// with the actor's own timers. It decides nothing about the outcome: each actor keeps its own policy (fail at once,
/// remember the first failure, wait until all are settled) and reads every answer through <see cref="TryHandle"/>.
/// Used only on its actor's thread.
/// </summary>
public sealed class AuditAcknowledgements(IActorRef writer, ITimerScheduler timers, string timerKey, TimeSpan timeout)
{
    private readonly HashSet<Guid> _pending = [];

    /// <summary>Entries appended and not yet answered.</summary>
    public int Pending => _pending.Count;

    /// <summary>The first reason the writer gave for refusing an entry, if it refused one.</summary>
    public string? FirstFailure { get; private set; }

    /// <summary>Sends each entry to the writer, answers to <paramref name="self"/>, and remembers it as unanswered.</summary>
    public void Append(IEnumerable<AuditEntry> entries, IActorRef self)
    {
        foreach (var entry in entries)
        {
            _pending.Add(entry.Id);
            writer.Tell(new AuditCommands.Append(entry, self));
        }
    }

    /// <summary>Starts (or restarts) the deadline: when it passes, <see cref="TryHandle"/> reads it as <see cref="AuditAckKind.TimedOut"/>.</summary>
    public void ArmDeadline() => timers.StartSingleTimer(timerKey, new DeadlinePassed(timerKey), timeout);

    /// <summary>Stops the deadline (every entry answered, or the actor has answered its caller anyway).</summary>
    public void CancelDeadline() => timers.Cancel(timerKey);

    /// <summary>
    /// Reads <paramref name="message"/> when it is an answer of the writer or this deadline (true), and updates what is
    /// pending; any other message is not ours (false). A refusal is remembered as <see cref="FirstFailure"/> whenever it
    /// arrives, even before the actor waits for its last entries.
    /// </summary>
    public bool TryHandle(object message, out AuditAck ack)
    {
        switch (message)
        {
            case AuditReplies.AuditAppended m:
                ack = Answered(m.Id, null);
                return true;
            case AuditReplies.AuditBuffered m:
                // Degrade mode: the entry waits in the ring, which is as durable as the writer can make it now.
                ack = Answered(m.Id, null);
                return true;
            case AuditReplies.AuditFailed m:
                ack = Answered(m.Id, m.Reason);
                return true;
            case DeadlinePassed d when d.Key == timerKey:
                _pending.Clear();
                ack = new AuditAck(AuditAckKind.TimedOut, null, true);
                return true;
            default:
                ack = default;
                return false;
        }
    }

    private AuditAck Answered(Guid id, string? failure)
    {
        if (!_pending.Remove(id)) return new AuditAck(AuditAckKind.Stale, failure, _pending.Count == 0);
        if (failure is null) return new AuditAck(AuditAckKind.Durable, null, _pending.Count == 0);
        FirstFailure ??= failure;
        return new AuditAck(AuditAckKind.Failed, failure, _pending.Count == 0);
    }

    /// <summary>The deadline's timer message, told only to the actor that armed it.</summary>
    private sealed record DeadlinePassed(string Key) : INoSerializationVerificationNeeded, IDeadLetterSuppression;
}
