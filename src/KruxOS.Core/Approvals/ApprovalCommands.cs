using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Approvals;

/// <summary>Marker for commands decided by <see cref="ApprovalStateExtensions.ProcessCommand"/>.</summary>
public interface IApprovalCommand : IWithApprovalId, IKruxMessage;

/// <summary>Commands of one approval. Every command carries the time it was issued; the state function never reads the clock.</summary>
public static class ApprovalCommands
{
    /// <summary>Open the approval (idempotent when the same request is sent again).</summary>
    [WireName("approval.request-approval.v1")]
    public sealed record RequestApproval(ApprovalRequest Request) : IApprovalCommand
    {
        /// <inheritdoc />
        public ApprovalId ApprovalId => Request.Id;
    }

    /// <summary>
    /// A human decision. An approval always becomes a single-use grant valid until <paramref name="GrantUntil"/> (the approval
    /// actor fills it in); it is spent only when a call <em>claims</em> it (<see cref="ClaimGrant"/>), never by the decision
    /// itself, so a waiter that can no longer claim (its node died) leaves the grant to the call that re-attaches (ADR 0058).
    /// The decider must pass <see cref="ApprovalSeparation"/> (an operator credential, not the requester's own).
    /// </summary>
    /// <param name="ApprovalId">The approval.</param>
    /// <param name="Approve">True to approve, false to reject.</param>
    /// <param name="Decider">Who, as the surface authenticated them.</param>
    /// <param name="Reason">Why (may be empty).</param>
    /// <param name="At">When the decision was made.</param>
    /// <param name="GrantUntil">End of the grant window of an approval.</param>
    [WireName("approval.decide.v3")]
    public sealed record Decide(ApprovalId ApprovalId, bool Approve, ApprovalDecider Decider, string Reason, DateTimeOffset At,
        DateTimeOffset? GrantUntil = null) : IApprovalCommand;

    /// <summary>The hold deadline may have passed (timer or deadline sweep); refused when it has not.</summary>
    [WireName("approval.time-out.v1")]
    public sealed record TimeOut(ApprovalId ApprovalId, DateTimeOffset At) : IApprovalCommand;

    /// <summary>
    /// A call claims the grant to run under it: the first claim of the identical call (same agent, capability and argument
    /// hash) inside the window spends it and records <paramref name="Claimant"/>; the same claimant claiming again (its answer
    /// was lost, it held again) is told it holds the claim; any other claimant is refused, so one grant runs one call.
    /// </summary>
    /// <param name="ApprovalId">The approval.</param>
    /// <param name="Claimant">The claiming waiter's identity, including its incarnation (an actor's full path with its uid).</param>
    /// <param name="Agent">The claiming call's agent.</param>
    /// <param name="Capability">The claiming call's capability.</param>
    /// <param name="ArgumentsHash">The claiming call's argument hash.</param>
    /// <param name="Waiting">The claimant was holding its call on the approval (a held call), not an identical call arriving later.</param>
    /// <param name="At">When the claim arrived.</param>
    [WireName("approval.claim-grant.v1")]
    public sealed record ClaimGrant(ApprovalId ApprovalId, string Claimant, AgentName Agent, string Capability, string ArgumentsHash, bool Waiting,
        DateTimeOffset At) : IApprovalCommand;

    /// <summary>The grant window may have elapsed without the grant being used.</summary>
    [WireName("approval.lapse-grant.v1")]
    public sealed record LapseGrant(ApprovalId ApprovalId, DateTimeOffset At) : IApprovalCommand;

    /// <summary>Invalidate a pending request (e.g. its agent was revoked): it becomes <c>expired</c>.</summary>
    [WireName("approval.invalidate.v1")]
    public sealed record Invalidate(ApprovalId ApprovalId, string Reason, DateTimeOffset At) : IApprovalCommand;
}

/// <summary>How a command was decided.</summary>
public enum ApprovalResultCode
{
    /// <summary>Accepted (events persisted, or an idempotent repeat).</summary>
    Ok,
    /// <summary>No such approval (HTTP 404).</summary>
    NotFound,
    /// <summary>The approval is no longer in a state that allows this (HTTP 409 with the current status).</summary>
    Conflict,
    /// <summary>The command is malformed or premature (HTTP 400).</summary>
    Invalid,
    /// <summary>The decider may not decide this approval: a client credential, or the requester itself (HTTP 403).</summary>
    Forbidden,
}

/// <summary>The reply to a command: the code, the approval's status afterwards, and a message.</summary>
[WireName("approval.result.v1")]
public sealed record ApprovalResult(ApprovalResultCode Code, ApprovalStatus? Status, string Message) : IKruxMessage
{
    /// <summary>True for <see cref="ApprovalResultCode.Ok"/>.</summary>
    public bool IsOk => Code == ApprovalResultCode.Ok;

    /// <summary>The HTTP status this result maps to.</summary>
    public int HttpStatus => Code switch
    {
        ApprovalResultCode.Ok => 200,
        ApprovalResultCode.NotFound => 404,
        ApprovalResultCode.Conflict => 409,
        ApprovalResultCode.Forbidden => 403,
        _ => 400,
    };
}
