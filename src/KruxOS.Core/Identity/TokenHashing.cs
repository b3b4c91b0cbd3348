using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Identity;

/// <summary>
/// Token formats and hashing. Only SHA-256 hashes of tokens are ever stored; comparisons happen
/// on hashes with a fixed-time comparison.
/// </summary>
public static partial class TokenHashing
{
    /// <summary>Prefix of user tokens.</summary>
    public const string UserTokenPrefix = "krx_user_";

    /// <summary>Prefix of the short-lived credentials minted by the auth socket.</summary>
    public const string SessionTokenPrefix = "krx_sess_";

    /// <summary>A new short-lived credential: <c>krx_sess_</c> + 32 CSPRNG bytes, base64url without padding.</summary>
    public static string NewSessionToken() =>
        SessionTokenPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>True for a well-formed short-lived credential.</summary>
    public static bool IsSessionTokenShape(string? token) =>
        token is { Length: > 20 and < 200 } && token.StartsWith(SessionTokenPrefix, StringComparison.Ordinal) && SessionShape().IsMatch(token);

    /// <summary>A new agent token: 32 CSPRNG bytes as 64 lower-case hex characters.</summary>
    public static string NewAgentToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>A new user token: <c>krx_user_</c> + 32 CSPRNG bytes, base64url without padding.</summary>
    public static string NewUserToken() =>
        UserTokenPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>True for a well-formed agent token (64 lower-case hex).</summary>
    public static bool IsAgentTokenShape(string? token) => token is { Length: 64 } && AgentShape().IsMatch(token);

    /// <summary>True for a well-formed user token.</summary>
    public static bool IsUserTokenShape(string? token) =>
        token is { Length: > 20 and < 200 } && token.StartsWith(UserTokenPrefix, StringComparison.Ordinal) && UserShape().IsMatch(token);

    /// <summary>Lower-case hex SHA-256 of the token's UTF-8 bytes.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Fixed-time comparison of two hex hashes.</summary>
    public static bool HashesEqual(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));

    /// <summary>
    /// True when a command-line argument carries something that looks like a credential
    /// (a user token, a minted session credential, or a 64-hex agent token). Used by programs that refuse tokens on argv.
    /// </summary>
    public static bool LooksLikeCredential(string arg) =>
        arg.Contains(UserTokenPrefix, StringComparison.Ordinal) || arg.Contains(SessionTokenPrefix, StringComparison.Ordinal) || AgentInText().IsMatch(arg);

    [GeneratedRegex("^[0-9a-f]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex AgentShape();

    [GeneratedRegex("^krx_user_[A-Za-z0-9_-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex UserShape();

    [GeneratedRegex("^krx_sess_[A-Za-z0-9_-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex SessionShape();

    [GeneratedRegex("(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", RegexOptions.CultureInvariant)]
    private static partial Regex AgentInText();
}
