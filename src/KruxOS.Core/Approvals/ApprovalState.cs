using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using KruxOS.Core.Sessions;
using static KruxOS.Core.Approvals.ApprovalCommands;
using static KruxOS.Core.Approvals.ApprovalEvents;

namespace KruxOS.Core.Approvals;

/// <summary>
/// Lifecycle of an approval: <c>pending → approved | rejected | timed_out | expired</c>; an approval
/// is spent (<c>consumed</c>) by exactly one execution, the first call to claim it, and an unclaimed grant becomes
/// <c>expired</c> when its window elapses.
/// </summary>
public enum ApprovalStatus
{
    /// <summary>Queued, waiting for a human.</summary>
    Pending,
    /// <summary>Approved and not yet claimed: a single-use grant.</summary>
    Approved,
    /// <summary>Rejected by a human.</summary>
    Rejected,
    /// <summary>Nobody decided before the hold deadline.</summary>
    TimedOut,
    /// <summary>Invalidated while pending, or an unused grant whose window elapsed.</summary>
    Expired,
    /// <summary>Approved and spent by one execution (its claimant).</summary>
    Consumed,
}

/// <summary>Wire names of <see cref="ApprovalStatus"/>.</summary>
public static class ApprovalStatusExtensions
{
    /// <summary><c>pending</c>, <c>approved</c>, <c>rejected</c>, <c>timed_out</c>, <c>expired</c>, <c>consumed</c>.</summary>
    public static string ToWire(this ApprovalStatus s) => s switch
    {
        ApprovalStatus.Pending => "pending",
        ApprovalStatus.Approved => "approved",
        ApprovalStatus.Rejected => "rejected",
        ApprovalStatus.TimedOut => "timed_out",
        ApprovalStatus.Expired => "expired",
        _ => "consumed",
    };

    /// <summary>Parses a wire name.</summary>
    public static bool TryParse(string? text, out ApprovalStatus status)
    {
        foreach (var s in Enum.GetValues<ApprovalStatus>())
            if (s.ToWire() == text) { status = s; return true; }
        status = default;
        return false;
    }
}

/// <summary>What was asked: recorded once, when the approval is requested.</summary>
/// <param name="Id">The approval id (<c>request_id</c>).</param>
/// <param name="Principal">Who called.</param>
/// <param name="Agent">The agent whose session made the call.</param>
/// <param name="SessionId">The connection's session id.</param>
/// <param name="Capability">Dotted capability name.</param>
/// <param name="Arguments">The arguments with secrets redacted (<see cref="ApprovalArguments.Redact"/>).</param>
/// <param name="ArgumentsHash">Canonical hash of the unredacted arguments (<see cref="ApprovalArguments.Hash"/>).</param>
/// <param name="Rule">The policy rule that required approval.</param>
/// <param name="PolicyRevision">The policy revision that decided.</param>
/// <param name="Reason">The policy's reason.</param>
/// <param name="Client">The initiating client (MCP <c>clientInfo</c>).</param>
/// <param name="RequestedAt">When it was queued.</param>
/// <param name="Deadline">When it times out if nobody decides.</param>
[WireName("approval.request.v1")]
public sealed record ApprovalRequest(
    ApprovalId Id,
    Principal Principal,
    AgentName Agent,
    string SessionId,
    string Capability,
    JsonElement Arguments,
    string ArgumentsHash,
    string Rule,
    string PolicyRevision,
    string Reason,
    ClientInfo Client,
    DateTimeOffset RequestedAt,
    DateTimeOffset Deadline) : IKruxMessage
{
    /// <summary>Content equality (the arguments compared as canonical JSON).</summary>
    public bool Equals(ApprovalRequest? other) =>
        other is not null && Id == other.Id && Principal == other.Principal && Agent == other.Agent && SessionId == other.SessionId
        && Capability == other.Capability && ArgumentsHash == other.ArgumentsHash && Rule == other.Rule && PolicyRevision == other.PolicyRevision
        && Reason == other.Reason && Client == other.Client && RequestedAt == other.RequestedAt && Deadline == other.Deadline
        && ApprovalArguments.Canonical(Arguments) == ApprovalArguments.Canonical(other.Arguments);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Id, ArgumentsHash, RequestedAt);
}

/// <summary>Who decided, when, and why (<paramref name="Decider"/>: null for decisions recorded before it existed).</summary>
[WireName("approval.decision.v1")]
public sealed record ApprovalDecision(bool Approved, string DecidedBy, string Reason, DateTimeOffset At, ApprovalDecider? Decider = null) : IKruxMessage;

/// <summary>
/// The state of one approval. Changed only through <see cref="ApprovalStateExtensions.ProcessCommand"/> /
/// <see cref="ApprovalStateExtensions.Apply"/>. <see cref="Request"/> is null until the approval is requested.
/// <see cref="ClaimedBy"/> names the call that spent it (null before, and for approvals spent before claims existed).
/// </summary>
[WireName("approval.state.v1")]
public sealed record ApprovalState(
    ApprovalStatus Status,
    ApprovalRequest? Request,
    ApprovalDecision? Decision,
    DateTimeOffset? GrantUntil,
    DateTimeOffset? ClosedAt,
    string? ClosedReason,
    string? ClaimedBy = null) : IKruxMessage
{
    /// <summary>Not requested yet.</summary>
    public static readonly ApprovalState Empty = new(ApprovalStatus.Pending, null, null, null, null, null);

    /// <summary>True until the request is recorded.</summary>
    public bool IsNew => Request is null;

    /// <summary>True while a decision or a retry can still change the outcome (pending, or an unused grant).</summary>
    public bool IsOpen => !IsNew && Status is ApprovalStatus.Pending or ApprovalStatus.Approved;

    /// <summary>The next instant at which a timer must act: the hold deadline, or the grant's end.</summary>
    public DateTimeOffset? NextDeadline => IsNew ? null : Status switch
    {
        ApprovalStatus.Pending => Request!.Deadline,
        ApprovalStatus.Approved => GrantUntil,
        _ => null,
    };
}

/// <summary>The pure command and event functions of an approval.</summary>
public static class ApprovalStateExtensions
{
    /// <summary>Decides a command: the reply and the events to persist (none on refusal or idempotent repeat).</summary>
    public static (ApprovalResult Result, ImmutableArray<IApprovalEvent> Events) ProcessCommand(this ApprovalState state, IApprovalCommand command)
    {
        if (state.IsNew && command is not RequestApproval)
            return Refuse(ApprovalResultCode.NotFound, null, $"approval '{command.ApprovalId}' not found");
        switch (command)
        {
            case RequestApproval c:
                if (!state.IsNew)
                    return c.Request.Equals(state.Request)
                        ? (new ApprovalResult(ApprovalResultCode.Ok, state.Status, "already requested"), [])
                        : Refuse(ApprovalResultCode.Conflict, state.Status, $"approval '{c.ApprovalId}' already exists with another request");
                if (!ApprovalId.TryParse(c.Request.Id.Value, out _)) return Refuse(ApprovalResultCode.Invalid, null, "invalid approval id");
                if (c.Request.Deadline <= c.Request.RequestedAt) return Refuse(ApprovalResultCode.Invalid, null, "the deadline must be after the request");
                return Accept(state, new ApprovalRequested(c.Request));

            case Decide c:
                if (c.Decider is null || string.IsNullOrWhiteSpace(c.Decider.Name)) return Refuse(ApprovalResultCode.Invalid, state.Status, "the decider must be named");
                // Separation of duties comes before anything else: a decider who may not decide changes nothing (not even
                // a lapsed deadline) and learns nothing about the approval's state.
                if (ApprovalSeparation.Refusal(state.Request!, c.Decider) is { } forbidden) return Refuse(ApprovalResultCode.Forbidden, null, forbidden);
                if (state.Status != ApprovalStatus.Pending) return Late(state);
                if (c.At >= state.Request!.Deadline)
                    // The deadline passed before the timer fired: an expiry is never consent.
                    return (new ApprovalResult(ApprovalResultCode.Conflict, ApprovalStatus.TimedOut, $"approval '{c.ApprovalId}' timed out"),
                        [new ApprovalTimedOut(c.ApprovalId, c.At)]);
                var by = c.Decider.DecidedBy;
                if (!c.Approve)
                    return Accept(state, new ApprovalRejected(c.ApprovalId, by, c.Reason, state.Request.ArgumentsHash, c.At, c.Decider));
                // Accepting never spends the approval, even while a call holds on it: the grant is spent by the first call that
                // claims it, so a waiter that cannot claim any more (its node died) leaves it to the call that re-attaches.
                if (c.GrantUntil is not { } until || until <= c.At) return Refuse(ApprovalResultCode.Invalid, state.Status, "a grant needs a window");
                return Accept(state, new ApprovalGranted(c.ApprovalId, by, c.Reason, state.Request.ArgumentsHash, until, c.At, c.Decider));

            case TimeOut c:
                if (state.Status != ApprovalStatus.Pending) return Late(state);
                if (c.At < state.Request!.Deadline) return Refuse(ApprovalResultCode.Invalid, state.Status, "the deadline has not passed");
                return Accept(state, new ApprovalTimedOut(c.ApprovalId, c.At));

            case ClaimGrant c:
                if (string.IsNullOrWhiteSpace(c.Claimant)) return Refuse(ApprovalResultCode.Invalid, state.Status, "the claimant must be named");
                if (c.Agent != state.Request!.Agent || c.Capability != state.Request.Capability || c.ArgumentsHash != state.Request.ArgumentsHash)
                    return Refuse(ApprovalResultCode.Invalid, state.Status, "the grant is bound to another call");
                if (state.Status == ApprovalStatus.Consumed)
                    // One claim wins. Its claimant asking again (its answer was lost) still holds it; anyone else finds it used.
                    return state.ClaimedBy is { } winner && winner == c.Claimant
                        ? (new ApprovalResult(ApprovalResultCode.Ok, ApprovalStatus.Consumed, "claimed by this call"), [])
                        : Refuse(ApprovalResultCode.Conflict, ApprovalStatus.Consumed, $"approval '{c.ApprovalId}' was already used by another call");
                if (state.Status != ApprovalStatus.Approved) return Late(state);
                if (state.GrantUntil is not { } end || c.At >= end)
                    return (new ApprovalResult(ApprovalResultCode.Conflict, ApprovalStatus.Expired, $"the grant of '{c.ApprovalId}' has expired"),
                        [new ApprovalExpired(c.ApprovalId, "grant window elapsed", c.At)]);
                return Accept(state, new GrantConsumed(c.ApprovalId, c.Waiting, c.At, c.Claimant));

            case LapseGrant c:
                if (state.Status != ApprovalStatus.Approved) return Late(state);
                if (state.GrantUntil is { } gEnd && c.At < gEnd) return Refuse(ApprovalResultCode.Invalid, state.Status, "the grant window has not elapsed");
                return Accept(state, new ApprovalExpired(c.ApprovalId, "grant window elapsed", c.At));

            case Invalidate c:
                if (state.Status != ApprovalStatus.Pending) return Late(state);
                return Accept(state, new ApprovalExpired(c.ApprovalId, c.Reason, c.At));

            default:
                return Refuse(ApprovalResultCode.Invalid, state.Status, $"unknown command {command.GetType().Name}");
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock.</summary>
    public static ApprovalState Apply(this ApprovalState state, IApprovalEvent e) => e switch
    {
        ApprovalRequested r => ApprovalState.Empty with { Request = r.Request },
        ApprovalGranted g => state with
        {
            Status = ApprovalStatus.Approved,
            Decision = new ApprovalDecision(true, g.DecidedBy, g.Reason, g.At, g.Decider),
            GrantUntil = g.GrantUntil,
        },
        ApprovalRejected r => state with
        {
            Status = ApprovalStatus.Rejected,
            Decision = new ApprovalDecision(false, r.DecidedBy, r.Reason, r.At, r.Decider),
            ClosedAt = r.At,
        },
        ApprovalTimedOut t => state with { Status = ApprovalStatus.TimedOut, ClosedAt = t.At, ClosedReason = "no decision before the deadline" },
        ApprovalExpired x => state with { Status = ApprovalStatus.Expired, ClosedAt = x.At, ClosedReason = x.Reason },
        GrantConsumed c => state with { Status = ApprovalStatus.Consumed, ClosedAt = c.At, ClaimedBy = c.Claimant },
        _ => state,
    };

    /// <summary>Applies events in order.</summary>
    public static ApprovalState ApplyAll(this ApprovalState state, IEnumerable<IApprovalEvent> events) =>
        events.Aggregate(state, (s, e) => s.Apply(e));

    private static (ApprovalResult, ImmutableArray<IApprovalEvent>) Accept(ApprovalState state, params IApprovalEvent[] events)
    {
        var after = state.ApplyAll(events);
        return (new ApprovalResult(ApprovalResultCode.Ok, after.Status, after.Status.ToWire()), [.. events]);
    }

    private static (ApprovalResult, ImmutableArray<IApprovalEvent>) Late(ApprovalState state) =>
        Refuse(ApprovalResultCode.Conflict, state.Status, $"approval '{state.Request!.Id}' is already {state.Status.ToWire()}");

    private static (ApprovalResult, ImmutableArray<IApprovalEvent>) Refuse(ApprovalResultCode code, ApprovalStatus? status, string message) =>
        (new ApprovalResult(code, status, message), []);
}
