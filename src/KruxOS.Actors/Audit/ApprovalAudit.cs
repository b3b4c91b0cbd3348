using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Actors.Audit;

/// <summary>
/// Pure mapping of an approval's resolution to its <c>approval_resolution</c> audit entry, linked to the held
/// call's <c>pending</c> entry by <c>approval_request_id</c> (docs/audit-format.md).
/// </summary>
public static class ApprovalAudit
{
    /// <summary>
    /// The entry for <paramref name="resolved"/>, the event that just resolved the approval (<c>approved</c>,
    /// <c>rejected</c>, <c>timed_out</c> or <c>expired</c>), given the state after it; null for any other event.
    /// </summary>
    public static AuditEntry? Resolution(ApprovalState state, IApprovalEvent resolved)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Request is not { } r || !CapabilityName.TryParse(r.Capability, out var capability)) return null;
        var (decision, by, reason) = resolved switch
        {
            ApprovalEvents.ApprovalGranted g => ("approved", g.DecidedBy, g.Reason),
            ApprovalEvents.ApprovalRejected j => ("rejected", j.DecidedBy, j.Reason),
            ApprovalEvents.ApprovalTimedOut => ("timed_out", "gateway", "no decision before the deadline"),
            ApprovalEvents.ApprovalExpired x => ("expired", "gateway", x.Reason),
            _ => ((string?)null, "", ""),
        };
        if (decision is null) return null;
        // Deciders are named "user:<label>", "cli:root" or "dashboard"; the entry names them as user principals.
        var decidedBy = Principal.ForUser(by.StartsWith("user:", StringComparison.Ordinal) ? by["user:".Length..] : by);
        return AuditEntry.ApprovalResolution(resolved.At, decidedBy, r.Principal, r.SessionId, capability, r.Id.Value, decision,
            string.IsNullOrEmpty(reason) ? null : InputSanitizer.RedactTokens(reason));
    }
}
