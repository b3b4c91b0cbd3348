using System.Collections.Concurrent;
using System.Security.Cryptography;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Admin;
using KruxOS.Core.Approvals;
using KruxOS.Core.Dashboard;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Dashboard;

/// <summary>A link made for one approval.</summary>
/// <param name="Token">The signed token (the URL's last segment).</param>
/// <param name="Expires">When it stops opening anything.</param>
public sealed record IssuedApprovalLink(string Token, DateTimeOffset Expires);

/// <summary>
/// Signed, single-use, short-lived approval links (<c>kruxos approve link &lt;id&gt;</c>, ADR 0046). Only the control socket's
/// operator makes them; a link opens exactly one pending approval for decision on the dashboard — no other page, no API,
/// no other approval — until its expiry or its first decision, whichever comes first. The signing key is random per
/// process and never leaves memory, so a restart also ends every link. The decision is recorded as the link's maker's
/// (<c>link:root</c>), through <see cref="ApprovalAdmin"/> like every other decision.
/// </summary>
public sealed class ApprovalLinks(ApprovalAdmin approvals, DashboardSettings settings, TimeProvider clock)
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    // Links issued and not yet spent, by link id → expiry. Spending removes the entry; a link whose id is absent is used up.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _unspent = new(StringComparer.Ordinal);

    /// <summary>Issues a link for a pending approval, as <paramref name="issuedBy"/> (the control socket's operator).</summary>
    public async Task<AdminResult<IssuedApprovalLink>> IssueAsync(string? id, string issuedBy, CancellationToken ct)
    {
        var shown = await approvals.ShowAsync(id, ct).ConfigureAwait(false);
        if (!shown.IsOk) return shown.Error!;
        var state = shown.Value!.State;
        if (state.Status != ApprovalStatus.Pending)
            return new AdminError(AdminErrorKind.Conflict, "Conflict", $"approval '{id}' is {state.Status.ToWire()}, not pending: nothing to decide")
                { ReportsStatus = true, Status = state.Status.ToWire() };
        var now = clock.GetUtcNow();
        Sweep(now);
        var expires = now + settings.ApprovalLinkLifetime;
        // Never beyond the approval's own hold: a link to a request that can no longer be decided is pointless.
        if (state.Request!.Deadline < expires) expires = state.Request.Deadline;
        var linkId = DashboardSessions.NewSecret()[..22];
        _unspent[linkId] = expires;
        return new IssuedApprovalLink(ApprovalLinkToken.Create(_key, new ApprovalLinkClaims(state.Request.Id, linkId, expires, issuedBy)), expires);
    }

    /// <summary>The claims of a link that is signed by this node, not expired and not used; or why not.</summary>
    public ApprovalLinkClaims? Open(string? token, out string refusal)
    {
        var claims = ApprovalLinkToken.Verify(_key, token, clock.GetUtcNow(), out var why);
        if (claims is null)
        {
            refusal = why == ApprovalLinkRefusal.Expired ? "This approval link has expired." : "This is not a valid approval link.";
            return null;
        }
        if (!_unspent.ContainsKey(claims.LinkId))
        {
            refusal = "This approval link has already been used.";
            return null;
        }
        refusal = "";
        return claims;
    }

    /// <summary>
    /// Decides the link's approval once: the link is spent before the decision is sent, whatever its outcome, so no
    /// second request can use it (two racing requests: one spends it, the other is refused).
    /// </summary>
    public async Task<AdminResult<ApprovalView>> DecideAsync(ApprovalLinkClaims claims, bool approve, string reason, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(claims);
        if (!_unspent.TryRemove(claims.LinkId, out _)) return new AdminError(AdminErrorKind.Conflict, UsedCode, "This approval link has already been used.");
        return await approvals.DecideAsync(claims.ApprovalId.Value, approve, ApprovalDecider.ApprovalLink(claims.IssuedBy), reason, ct).ConfigureAwait(false);
    }

    /// <summary>The error code of a link that was already used.</summary>
    public const string UsedCode = "link_used";

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (id, expires) in _unspent)
            if (expires <= now) _unspent.TryRemove(id, out _);
    }
}
