using KruxOS.Core.Identity;

namespace KruxOS.Bridge;

/// <summary>A credential for one connection attempt, or the exit code that explains why there is none.</summary>
public sealed record CredentialResult(string? Token, int ExitCode, string Detail)
{
    public static CredentialResult Of(string token) => new(token, ExitCodes.Ok, "");
}

/// <summary>Where the bridge gets the credential it presents on each connection.</summary>
public interface ICredentialSource
{
    /// <summary>A short description for the log (never the credential).</summary>
    string Describe { get; }

    /// <summary>The credential for the next connection attempt.</summary>
    Task<CredentialResult> GetAsync(CancellationToken ct);
}

/// <summary>A token from the environment, the same for every connection.</summary>
public sealed class FixedCredential(string token, string description) : ICredentialSource
{
    public string Describe => description;

    public Task<CredentialResult> GetAsync(CancellationToken ct) => Task.FromResult(CredentialResult.Of(token));
}

/// <summary>
/// Mints a fresh short-lived credential from the gateway's auth socket for every connection attempt: the
/// gateway checks this process's uid (<c>SO_PEERCRED</c>) and the label, so no long-lived token has to
/// live in any client config. Refusals map to exit codes 3 (locked), 4 (missing) and 5 (unavailable).
/// </summary>
public sealed class AuthSocketCredential(string socketPath, string label) : ICredentialSource
{
    /// <summary>Where the bridge looks when <c>KRUXOS_AUTH_SOCKET</c> is unset (the appliance's path).</summary>
    public const string DefaultPath = AuthSocketClient.DefaultPath;

    /// <summary>Longest one exchange with the socket may take.</summary>
    public static readonly TimeSpan Timeout = AuthSocketClient.DefaultTimeout;

    public string Describe => $"auth socket {socketPath}, label {label}";

    public async Task<CredentialResult> GetAsync(CancellationToken ct) =>
        Map(await AuthSocketClient.MintAsync(socketPath, label, Timeout, ct).ConfigureAwait(false), socketPath);

    /// <summary>Maps the socket's answer to a credential or an exit code.</summary>
    public static CredentialResult Map(AuthSocketProtocol.Answer answer, string socketPath)
    {
        if (answer.Token is { } token) return CredentialResult.Of(token);
        var code = answer.ErrorType switch
        {
            AuthSocketProtocol.ErrorTypes.Locked => ExitCodes.CredentialSourceLocked,
            AuthSocketProtocol.ErrorTypes.Missing => ExitCodes.CredentialMissing,
            _ => ExitCodes.CredentialSourceUnavailable,
        };
        return new(null, code, answer.Answered ? $"the auth socket {socketPath} refused ({answer.ErrorType}): {answer.Message}" : answer.Message);
    }
}
