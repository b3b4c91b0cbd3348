using KruxOS.Core.Agents;
using KruxOS.Core.Identity;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Approvals;

/// <summary>The surface a decision arrived on.</summary>
public enum DecisionSurface
{
    /// <summary>The loopback User API (<c>POST /api/approvals/{id}/approve|reject</c>), authenticated by a user token.</summary>
    UserApi,
    /// <summary>The owner-only control socket (<c>kruxos approve</c>), authenticated by the peer's uid (<c>SO_PEERCRED</c>).</summary>
    ControlSocket,
    /// <summary>The web dashboard: a signed-in operator session, or an approval link made at the control socket.</summary>
    Dashboard,
}

/// <summary>What the decider authenticated with.</summary>
public enum DeciderCredential
{
    /// <summary>A <c>krx_user_…</c> user token.</summary>
    UserToken,
    /// <summary>A short-lived <c>krx_sess_…</c> credential minted over the auth socket for a user token (always a client credential).</summary>
    SessionCredential,
    /// <summary>The uid of a control-socket peer (root or the gateway's owner).</summary>
    PeerUid,
    /// <summary>A signed single-use approval link (<c>kruxos approve link</c>), made by a control-socket peer, whose name it carries.</summary>
    ApprovalLink,
}

/// <summary>Wire names of <see cref="DecisionSurface"/> and <see cref="DeciderCredential"/> (audit, events, JSON views).</summary>
public static class DeciderWire
{
    /// <summary><c>user_api</c>, <c>control_socket</c> or <c>dashboard</c>.</summary>
    public static string ToWire(this DecisionSurface surface) => surface switch
    {
        DecisionSurface.UserApi => "user_api",
        DecisionSurface.Dashboard => "dashboard",
        _ => "control_socket",
    };

    /// <summary><c>user_token</c>, <c>session_credential</c>, <c>approval_link</c> or <c>peer_uid</c>.</summary>
    public static string ToWire(this DeciderCredential credential) => credential switch
    {
        DeciderCredential.UserToken => "user_token",
        DeciderCredential.SessionCredential => "session_credential",
        DeciderCredential.ApprovalLink => "approval_link",
        _ => "peer_uid",
    };
}

/// <summary>
/// Who decides an approval, as the surface authenticated them: carried by every decision command and recorded on the
/// resolving event and in the audit log. The separation-of-duties rule (<see cref="ApprovalSeparation"/>) is decided
/// on it.
/// </summary>
/// <param name="Name">For a user credential the user token's label; for the control socket <c>root</c> or <c>uid-N</c>.</param>
/// <param name="Role">The credential's role: only <see cref="CredentialRole.Operator"/> may decide.</param>
/// <param name="Surface">Where the decision arrived.</param>
/// <param name="Credential">What the decider authenticated with.</param>
/// <param name="UserTokenId">The user token behind a user credential (the token itself, or the one a minted credential stands for).</param>
[WireName("approval.decider.v1")]
public sealed record ApprovalDecider(string Name, CredentialRole Role, DecisionSurface Surface, DeciderCredential Credential, string? UserTokenId = null)
    : IKruxMessage
{
    /// <summary>The operator at the control socket, identified by the peer's uid.</summary>
    public static ApprovalDecider ControlSocket(uint uid) =>
        new(uid == 0 ? "root" : $"uid-{uid}", CredentialRole.Operator, DecisionSurface.ControlSocket, DeciderCredential.PeerUid);

    /// <summary>A user token on the User API (its own role) or a credential minted for it (always <see cref="CredentialRole.Client"/>).</summary>
    public static ApprovalDecider UserApi(UserTokenRecord token, bool minted)
    {
        ArgumentNullException.ThrowIfNull(token);
        return new(token.Label, minted ? CredentialRole.Client : token.Role, DecisionSurface.UserApi,
            minted ? DeciderCredential.SessionCredential : DeciderCredential.UserToken, token.Id);
    }

    /// <summary>
    /// A signed-in dashboard session of an operator user token: the token's label and role, attributed like the User API's
    /// (<c>user:&lt;label&gt;</c>), on the dashboard surface.
    /// </summary>
    public static ApprovalDecider DashboardSession(UserTokenRecord token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return new(token.Label, token.Role, DecisionSurface.Dashboard, DeciderCredential.UserToken, token.Id);
    }

    /// <summary>An approval link made by the control-socket operator <paramref name="issuedBy"/> (<c>root</c> or <c>uid-N</c>).</summary>
    public static ApprovalDecider ApprovalLink(string issuedBy) =>
        new(issuedBy, CredentialRole.Operator, DecisionSurface.Dashboard, DeciderCredential.ApprovalLink);

    /// <summary>
    /// The <c>decided_by</c> text: <c>user:&lt;label&gt;</c> for a user credential, <c>cli:root</c> / <c>cli:uid-N</c> for the control
    /// socket, <c>link:root</c> / <c>link:uid-N</c> for an approval link that operator made.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string DecidedBy => Credential switch
    {
        DeciderCredential.PeerUid => "cli:" + Name,
        DeciderCredential.ApprovalLink => "link:" + Name,
        _ => "user:" + Name,
    };

    /// <summary>The principal a user credential acts as when it makes calls (null for the control socket and its links, which never make calls).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Principal? AsPrincipal => Credential is DeciderCredential.PeerUid or DeciderCredential.ApprovalLink ? null : Principal.ForUser(Name);
}

/// <summary>
/// Separation of duties for approvals, as a pure rule every decision surface goes through (it is applied inside
/// <see cref="ApprovalStateExtensions.ProcessCommand"/>, so no surface can skip it):
/// <list type="number">
/// <item>only an operator credential decides — a client credential (what <c>mcp-bridge</c> and <c>cli-hook</c> hold,
/// every minted <c>krx_sess_</c> credential) can never approve or reject anything;</item>
/// <item>the principal that requested a call never decides it — nor does any credential standing for that principal:
/// a user credential is compared as the user principal it calls as (its label), and as its user token's own session.</item>
/// </list>
/// </summary>
public static class ApprovalSeparation
{
    /// <summary>Null when <paramref name="decider"/> may decide <paramref name="request"/>; otherwise why not.</summary>
    public static string? Refusal(ApprovalRequest request, ApprovalDecider decider)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(decider);
        if (decider.Role != CredentialRole.Operator)
            return $"{decider.DecidedBy} holds a client credential, which cannot decide approvals; decide with an operator token "
                + "('kruxos user-token create <label> --role operator') or 'kruxos approve' on the gateway's host";
        if (decider.AsPrincipal is { } principal && principal == request.Principal)
            return $"separation of duties: {request.Principal} requested this call and cannot decide it; another operator must";
        if (decider.UserTokenId is { } tokenId && request.Agent == AgentName.UserContext(tokenId))
            return $"separation of duties: this call was requested with {decider.DecidedBy}'s own token and cannot be decided with it; another operator must";
        return null;
    }
}
