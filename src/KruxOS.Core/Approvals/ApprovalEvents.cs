using KruxOS.Core.Serialization;

namespace KruxOS.Core.Approvals;

/// <summary>Marker for persisted approval events. Every event carries the time it was decided.</summary>
public interface IApprovalEvent : IWithApprovalId, IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>Persisted approval events (never deleted: each approval's history is part of the audit story).</summary>
public static class ApprovalEvents
{
    /// <summary>The request was queued.</summary>
    [WireName("approval.requested.v1")]
    public sealed record ApprovalRequested(ApprovalRequest Request) : IApprovalEvent
    {
        /// <inheritdoc />
        public ApprovalId ApprovalId => Request.Id;

        /// <inheritdoc />
        public DateTimeOffset At => Request.RequestedAt;
    }

    /// <summary>
    /// A human approved the call whose arguments hash to <paramref name="ArgumentsHash"/>; a grant when <paramref name="GrantUntil"/> is set.
    /// <paramref name="Decider"/> (who, with which credential, role and surface) is null on events written before it existed.
    /// </summary>
    [WireName("approval.granted.v1")]
    public sealed record ApprovalGranted(ApprovalId ApprovalId, string DecidedBy, string Reason, string ArgumentsHash, DateTimeOffset? GrantUntil, DateTimeOffset At,
        ApprovalDecider? Decider = null) : IApprovalEvent;

    /// <summary>A human rejected the call (<paramref name="Decider"/> as on <see cref="ApprovalGranted"/>).</summary>
    [WireName("approval.rejected.v1")]
    public sealed record ApprovalRejected(ApprovalId ApprovalId, string DecidedBy, string Reason, string ArgumentsHash, DateTimeOffset At,
        ApprovalDecider? Decider = null) : IApprovalEvent;

    /// <summary>Nobody decided before the deadline (never consent).</summary>
    [WireName("approval.timed-out.v1")]
    public sealed record ApprovalTimedOut(ApprovalId ApprovalId, DateTimeOffset At) : IApprovalEvent;

    /// <summary>The request was invalidated, or an unused grant's window elapsed.</summary>
    [WireName("approval.expired.v1")]
    public sealed record ApprovalExpired(ApprovalId ApprovalId, string Reason, DateTimeOffset At) : IApprovalEvent;

    /// <summary>
    /// The approval was spent by one execution (a held call, or an identical retry using the grant), claimed by
    /// <paramref name="Claimant"/> (null on events written before claims existed).
    /// </summary>
    [WireName("approval.grant-consumed.v1")]
    public sealed record GrantConsumed(ApprovalId ApprovalId, bool ByHeldCall, DateTimeOffset At, string? Claimant = null) : IApprovalEvent;
}
