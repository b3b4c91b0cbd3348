using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Identity;

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
        var (decision, by, reason, decider) = resolved switch
        {
            ApprovalEvents.ApprovalGranted g => ("approved", g.DecidedBy, g.Reason, g.Decider),
            ApprovalEvents.ApprovalRejected j => ("rejected", j.DecidedBy, j.Reason, j.Decider),
            ApprovalEvents.ApprovalTimedOut => ("timed_out", "gateway", "no decision before the deadline", null),
            ApprovalEvents.ApprovalExpired x => ("expired", "gateway", x.Reason, null),
            _ => ((string?)null, "", "", (ApprovalDecider?)null),
        };
        if (decision is null) return null;
        // Deciders are named "user:<label>", "cli:root" / "cli:uid-N" or "dashboard"; the entry names them as user principals.
        var decidedBy = Principal.ForUser(by.StartsWith("user:", StringComparison.Ordinal) ? by["user:".Length..] : by);
        return AuditEntry.ApprovalResolution(resolved.At, decidedBy, r.Principal, r.SessionId, capability, r.Id.Value, decision,
            string.IsNullOrEmpty(reason) ? null : InputSanitizer.RedactTokens(reason), decider is null ? null : DeciderDetails(decider));
    }

    /// <summary>
    /// <c>metadata.details</c> of a human resolution: <c>{"decider": {"name", "credential_type", "role", "surface", "user_token_id"}}</c> —
    /// who decided, with which kind of credential (<c>user_token</c>, <c>session_credential</c>, <c>peer_uid</c>), its role
    /// and the surface (<c>user_api</c>, <c>control_socket</c>). Never a token: the user token is named by its id.
    /// </summary>
    public static JsonElement DeciderDetails(ApprovalDecider decider)
    {
        ArgumentNullException.ThrowIfNull(decider);
        var o = new JsonObject
        {
            ["name"] = decider.Name,
            ["credential_type"] = decider.Credential.ToWire(),
            ["role"] = decider.Role.ToWire(),
            ["surface"] = decider.Surface.ToWire(),
            ["user_token_id"] = decider.UserTokenId,
        };
        return JsonSerializer.SerializeToElement(new JsonObject { ["decider"] = o });
    }
}
