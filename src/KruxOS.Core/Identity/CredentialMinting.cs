using System.Collections.Immutable;

namespace KruxOS.Core.Identity;

/// <summary>What the auth socket decided for one request.</summary>
public enum MintOutcome
{
    /// <summary>Mint a short-lived credential for the label's active user token.</summary>
    Mint,
    /// <summary>The peer's uid may not use the auth socket.</summary>
    Forbidden,
    /// <summary>
    /// The label exists but cannot be used: its user token is revoked, it is an operator token (never minted for:
    /// a minted credential is always a client credential, ADR 0021), or minting is switched off.
    /// </summary>
    Locked,
    /// <summary>No user token has this label.</summary>
    Missing,
    /// <summary>The request is malformed (bad label).</summary>
    Invalid,
}

/// <summary>The decision and, for <see cref="MintOutcome.Mint"/>, the user token the credential stands for.</summary>
public sealed record MintDecision(MintOutcome Outcome, string Message, UserTokenRecord? UserToken = null);

/// <summary>Who may mint: the gateway's own uid, root, and any uid the operator lists.</summary>
public sealed record MintPolicy(bool Enabled, uint OwnUid, ImmutableHashSet<uint> AllowedUids)
{
    /// <summary>True when <paramref name="peerUid"/> may use the auth socket.</summary>
    public bool AllowsUid(uint peerUid) => peerUid == 0 || peerUid == OwnUid || AllowedUids.Contains(peerUid);
}

/// <summary>
/// The auth socket's decision as a pure function: uid first (a refused peer learns nothing about labels),
/// then the label. The checks fail closed: anything but an active client token under an allowed uid is refused.
/// Every minted credential has the <see cref="CredentialRole.Client"/> role whatever it is minted for, and operator
/// tokens are not minted for at all: any program running as an allowed uid — the AI client's own shell included —
/// can ask the socket, so what it hands out must never be able to decide an approval.
/// </summary>
public static class CredentialMinting
{
    /// <summary>Longest accepted label (the identity registry's own limit).</summary>
    public const int MaxLabelLength = 100;

    /// <summary>Decides one mint request.</summary>
    public static MintDecision Decide(IdentityState identities, MintPolicy policy, uint peerUid, string? label)
    {
        if (!policy.AllowsUid(peerUid))
            return new(MintOutcome.Forbidden, $"uid {peerUid} may not use the auth socket (allowed: the gateway's own uid, root, and Gateway:AuthSocketUids)");
        if (string.IsNullOrWhiteSpace(label) || label.Length > MaxLabelLength || label.Any(char.IsControl))
            return new(MintOutcome.Invalid, $"label must be 1-{MaxLabelLength} printable characters");

        UserTokenRecord? active = null, revoked = null;
        foreach (var t in identities.UserTokens.Values)
        {
            if (t.Label != label) continue;
            if (t.Status == UserTokenStatus.Active) active = t;
            else revoked ??= t;
        }
        if (active is null && revoked is null)
            return new(MintOutcome.Missing, $"no user token is labelled '{label}' (create one with 'kruxos user-token create {label}')");
        if (active is null)
            return new(MintOutcome.Locked, $"the user token labelled '{label}' is revoked (create a new one with 'kruxos user-token create {label}')");
        if (active.Role != CredentialRole.Client)
            return new(MintOutcome.Locked, $"the user token labelled '{label}' is an operator token; the auth socket mints only for client tokens "
                + "(AI clients get client credentials; create one with 'kruxos user-token create <label>')");
        if (!policy.Enabled)
            return new(MintOutcome.Locked, "credential minting is switched off on this gateway (Gateway:MintCredentials = false)");
        return new(MintOutcome.Mint, "ok", active);
    }
}
