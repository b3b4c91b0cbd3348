using KruxOS.Core.Audit;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Core.Approvals;

/// <summary>What a held call does when its approval releases it.</summary>
public enum HoldOutcomeKind
{
    /// <summary>It spent the approval: it runs.</summary>
    Execute,

    /// <summary>The approval it tried to join closed (or was never recorded) before it joined: its session assigns another.</summary>
    Rejoin,

    /// <summary>It fails without running, with <see cref="HoldOutcome.Error"/>.</summary>
    Fail,
}

/// <summary>How a held call was bound to its approval, as far as the release decision needs to know.</summary>
/// <param name="Capability">The call's capability label (dotted name).</param>
/// <param name="Approval">The approval it waits on.</param>
/// <param name="IsNew">The call's own session created this approval for it.</param>
/// <param name="Reattach">A call re-attached to exactly this approval (a keyed call after a restart, or a call naming it, ADR 0058).</param>
/// <param name="PendingAudited">The call's <c>pending</c> entry was appended (it was held, not merely joining).</param>
/// <param name="IdempotencyKey">The call's idempotency key, if it has one.</param>
public readonly record struct HeldCall(string Capability, ApprovalId Approval, bool IsNew, bool Reattach, bool PendingAudited, string? IdempotencyKey);

/// <summary>
/// The release of a held call, decided: run, ask the session for another approval, or fail — with the decision
/// recorded on the call's audit entry (<c>metadata.approval_decision</c>) and the status that entry gets.
/// </summary>
public readonly record struct HoldOutcome(HoldOutcomeKind Kind, string? Decision, AuditStatus Status, StructuredError? Error)
{
    /// <summary>
    /// Decides the release of <paramref name="call"/>: <paramref name="execute"/> (this call spent the approval) runs it;
    /// a call that only tried to join an approval which turned out closed (or never recorded) rejoins; anything else
    /// fails closed, with the error that names why (rejected, timed out, spent before a restart, or not usable).
    /// </summary>
    public static HoldOutcome Of(HeldCall call, bool execute, ApprovalState state, string message)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (execute) return new HoldOutcome(HoldOutcomeKind.Execute, "approved", AuditStatus.Success, null);
        if (!call.IsNew && !call.Reattach && !call.PendingAudited
            && (state.IsNew || state.Status is ApprovalStatus.Consumed or ApprovalStatus.Expired or ApprovalStatus.TimedOut or ApprovalStatus.Rejected))
            return new HoldOutcome(HoldOutcomeKind.Rejoin, null, AuditStatus.Pending, null);
        // Re-attached to an approval that was never recorded (its request was lost with a killed node, or the id named no
        // approval): nothing can have run under it, so the session assigns the call one as for a new call.
        if (call.Reattach && state.IsNew) return new HoldOutcome(HoldOutcomeKind.Rejoin, null, AuditStatus.Pending, null);
        var id = call.Approval.Value;
        var error = state.Status switch
        {
            ApprovalStatus.Rejected => Errors.Errors.ApprovalRejected(call.Capability, id, state.Decision?.Reason ?? "", state.Decision?.DecidedBy ?? "an operator"),
            ApprovalStatus.TimedOut => Errors.Errors.ApprovalTimedOut(call.Capability, id),
            // Re-attached after a restart to an approval already spent: that was this call, cut off before its outcome was recorded.
            ApprovalStatus.Consumed when call.Reattach && call.IdempotencyKey is { } key => IdempotencyKeys.OutcomeUnknown(key, call.Capability).WithContext("request_id", id),
            _ => Errors.Errors.ApprovalNotUsable(call.Capability, id, state.Status.ToWire(), message),
        };
        var decision = state.Status.ToWire();
        // Same status as the approval's resolution entry (timed_out and expired are errors, rejected is denied).
        return new HoldOutcome(HoldOutcomeKind.Fail, decision, AuditWire.StatusOfApprovalDecision(decision) ?? AuditStatus.Denied, error);
    }
}
