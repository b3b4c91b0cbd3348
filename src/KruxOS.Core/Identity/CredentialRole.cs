namespace KruxOS.Core.Identity;

/// <summary>
/// What a user credential may do (ADR 0021). The two roles are disjoint on purpose: the credential that makes a
/// capability call can never decide an approval, and the credential that decides approvals never makes calls, so
/// the AI client a client credential lives in cannot approve what it asked for.
/// </summary>
public enum CredentialRole
{
    /// <summary>
    /// Used by the AI clients' programs (<c>mcp-bridge</c>, <c>cli-hook</c>) and scripts: makes capability calls (MCP,
    /// <c>/rpc</c>, <c>/api/hook/decide</c>) and reads the User API; never decides an approval. The default of every
    /// user token, including every token created before roles existed, and the only role a credential minted over the
    /// auth socket ever has.
    /// </summary>
    Client,

    /// <summary>
    /// A human operator's credential: decides approvals and reads the User API; refused on every call surface, so it
    /// is never the credential an AI client holds. Only created explicitly (<c>kruxos user-token create L --role operator</c>).
    /// </summary>
    Operator,
}

/// <summary>Wire names of <see cref="CredentialRole"/>.</summary>
public static class CredentialRoles
{
    /// <summary><c>client</c> or <c>operator</c>.</summary>
    public static string ToWire(this CredentialRole role) => role == CredentialRole.Operator ? "operator" : "client";

    /// <summary>Parses <c>client</c> or <c>operator</c> (exactly; nothing else is a role).</summary>
    public static bool TryParse(string? text, out CredentialRole role)
    {
        switch (text)
        {
            case "client":
                role = CredentialRole.Client;
                return true;
            case "operator":
                role = CredentialRole.Operator;
                return true;
            default:
                role = default;
                return false;
        }
    }
}
