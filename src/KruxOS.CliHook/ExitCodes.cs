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

    /// <summary>The local credential source is locked (reserved for the vault source).</summary>
    public const int CredentialSourceLocked = 3;

    /// <summary><c>KRUXOS_USER_TOKEN</c> is not set.</summary>
    public const int CredentialMissing = 4;
}
