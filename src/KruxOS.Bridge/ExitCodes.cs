namespace KruxOS.Bridge;

/// <summary>
/// The bridge's process exit codes (docs/bridge.md). 2–5 are local preconditions, 10 and 11 are about
/// the gateway. Clients show them in their MCP server logs, so each one names a single cause.
/// </summary>
public static class ExitCodes
{
    /// <summary>Standard input closed (the client ended the session), or <c>--help</c>.</summary>
    public const int Ok = 0;

    /// <summary>Bad flags or configuration (unknown flag, malformed endpoint URL).</summary>
    public const int Usage = 1;

    /// <summary>The bridge's own argv carries something that looks like a credential.</summary>
    public const int CredentialInArgv = 2;

    /// <summary>The auth socket will not mint for the label: its user token is revoked, or minting is switched off.</summary>
    public const int CredentialSourceLocked = 3;

    /// <summary>No credential was found (agent token variable unset, or no user token has the label).</summary>
    public const int CredentialMissing = 4;

    /// <summary>The auth socket is unavailable: absent, refused, silent past its timeout, or this uid is not allowed.</summary>
    public const int CredentialSourceUnavailable = 5;

    /// <summary>The gateway refused the credential (HTTP 401/403/429 at the WebSocket upgrade).</summary>
    public const int AuthenticationRefused = 10;

    /// <summary>The gateway could not be reached (connection refused, DNS, TLS, not a WebSocket endpoint).</summary>
    public const int GatewayUnreachable = 11;
}
