using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Audit;

/// <summary>Registry key of the node's audit trail actor (the "audit" seam of the pipeline).</summary>
public sealed class AuditTrail;

/// <summary>Outcome recorded for a call.</summary>
public enum CallStatus { Success, Denied, Error, Pending }

/// <summary>
/// Everything the pipeline knows about a finished (or held) call, handed to the audit seam. A call that
/// needed approval is recorded twice: <see cref="CallStatus.Pending"/> when the approval is requested or
/// joined, and its resolution, both carrying <c>ApprovalRequestId</c>; the resolution also carries the
/// decision (<c>approved</c>, <c>rejected</c>, <c>timed_out</c>, <c>expired</c>, <c>consumed</c>).
/// </summary>
public sealed record CallRecord(
    DateTimeOffset At,
    Principal Principal,
    AgentName Agent,
    string SessionId,
    string Capability,
    JsonElement Arguments,
    ClientInfo Client,
    CallStatus Status,
    Tier? Tier,
    string? Rule,
    string? PolicyRevision,
    StructuredError? Error,
    long DurationMicros,
    string? ApprovalRequestId = null,
    string? ApprovalDecision = null);

/// <summary>Messages of the audit seam.</summary>
public static class AuditTrailMessages
{
    /// <summary>Record a call; <see cref="Recorded"/> or <see cref="RecordFailed"/> goes to <paramref name="ReplyTo"/> once durable.</summary>
    public sealed record Record(CallRecord Entry, IActorRef ReplyTo);

    /// <summary>The record is durable.</summary>
    public sealed record Recorded(string EntryId);

    /// <summary>The record could not be made durable; the call must fail closed.</summary>
    public sealed record RecordFailed(string Reason);
}

/// <summary>
/// The audit seam's implementation until the hash-chained audit log is wired in: it writes one
/// structured log line per call (never arguments, so no secret can leak) and acknowledges at once.
/// </summary>
public sealed class LogAuditTrailActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _sequence;

    public LogAuditTrailActor()
    {
        Receive<AuditTrailMessages.Record>(Handle);
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new LogAuditTrailActor());

    private void Handle(AuditTrailMessages.Record msg)
    {
        var e = msg.Entry;
        var id = $"aud-{++_sequence}";
        _log.Info("audit {0} {1} session={2} capability={3} status={4} tier={5} rule={6} error={7} duration_us={8} approval={9} decision={10}",
            [id, e.Principal, e.SessionId, e.Capability, e.Status, e.Tier?.ToWire() ?? "-", e.Rule ?? "-", e.Error?.ErrorType ?? "-", e.DurationMicros,
             e.ApprovalRequestId ?? "-", e.ApprovalDecision ?? "-"]);
        msg.ReplyTo.Tell(new AuditTrailMessages.Recorded(id));
    }
}
