namespace KruxOS.CliHook;

/// <summary>
/// The hook's process exit codes (docs/cli-hook.md). A decision — allow or deny — is always exit 0 with the
/// answer in the client's format. Both clients treat exit 2 as "block the tool, show stderr to the model",
/// so every failure that cannot be answered in the client's format ends with 2; the installed launcher
/// also turns any other non-zero code into 2, so a crash or a missing runtime never lets a tool through.
/// </summary>
public static class ExitCodes
{
    /// <summary>Answered (allow or deny on stdout), or <c>--help</c>.</summary>
    public const int Answered = 0;

    /// <summary>The hook's own argv carries a credential; or no answer could be written in the client's format (blocks the tool).</summary>
    public const int Blocked = 2;

    /// <summary>
    /// The auth socket will not mint for the label: its user token is revoked or an operator token, or minting is
    /// switched off. A deny is written as well.
    /// </summary>
    public const int CredentialSourceLocked = 3;

    /// <summary>No <c>KRUXOS_USER_TOKEN</c>, and no user token has the label. A deny is written as well.</summary>
    public const int CredentialMissing = 4;

    /// <summary>
    /// No <c>KRUXOS_USER_TOKEN</c>, and the auth socket is absent, refuses this uid, does not answer in time, or answers
    /// garbage. A deny is written as well.
    /// </summary>
    public const int CredentialSourceUnavailable = 5;
}
