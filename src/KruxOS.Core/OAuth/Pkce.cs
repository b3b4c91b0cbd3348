using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace KruxOS.Core.OAuth;

/// <summary>
/// Proof Key for Code Exchange (RFC 7636) with the <c>S256</c> method only: <c>plain</c> would put the verifier itself in
/// the browser's URL, which is what PKCE exists to avoid. Pure functions over caller-supplied entropy plus one
/// convenience that draws it from the OS.
/// </summary>
public static class Pkce
{
    /// <summary>The only challenge method we send or accept.</summary>
    public const string Method = "S256";

    /// <summary>Shortest verifier RFC 7636 allows.</summary>
    public const int MinVerifierLength = 43;

    /// <summary>Longest verifier RFC 7636 allows.</summary>
    public const int MaxVerifierLength = 128;

    /// <summary>Entropy of a verifier we create: 32 bytes, i.e. 43 base64url characters (the RFC's recommendation).</summary>
    public const int EntropyBytes = 32;

    /// <summary>A new verifier from the OS random source.</summary>
    public static string NewVerifier()
    {
        Span<byte> entropy = stackalloc byte[EntropyBytes];
        RandomNumberGenerator.Fill(entropy);
        return VerifierFrom(entropy);
    }

    /// <summary>The verifier for the given entropy (at least 32 bytes): its base64url text without padding.</summary>
    public static string VerifierFrom(ReadOnlySpan<byte> entropy)
    {
        if (entropy.Length < EntropyBytes)
            throw new ArgumentException($"a PKCE verifier needs at least {EntropyBytes} bytes of entropy", nameof(entropy));
        var verifier = Base64Url.EncodeToString(entropy);
        return verifier.Length <= MaxVerifierLength ? verifier : verifier[..MaxVerifierLength];
    }

    /// <summary>True when <paramref name="verifier"/> has the RFC 7636 shape: 43–128 characters of <c>[A-Za-z0-9-._~]</c>.</summary>
    public static bool IsWellFormedVerifier(string? verifier)
    {
        if (verifier is null || verifier.Length is < MinVerifierLength or > MaxVerifierLength) return false;
        foreach (var c in verifier)
            if (!IsUnreserved(c)) return false;
        return true;
    }

    /// <summary>The S256 challenge of a well-formed verifier: base64url(SHA-256(ASCII(verifier))) without padding.</summary>
    public static string ChallengeFor(string verifier)
    {
        if (!IsWellFormedVerifier(verifier))
            throw new ArgumentException("not a well-formed PKCE verifier", nameof(verifier));
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.ASCII.GetBytes(verifier), hash);
        return Base64Url.EncodeToString(hash);
    }

    /// <summary>
    /// The server-side check: the method is S256, the verifier is well formed and its challenge equals the one stored
    /// with the code (compared in constant time).
    /// </summary>
    public static bool Verify(string? method, string? challenge, string? verifier)
    {
        if (!string.Equals(method, Method, StringComparison.Ordinal) || challenge is null || !IsWellFormedVerifier(verifier))
            return false;
        var expected = Encoding.ASCII.GetBytes(ChallengeFor(verifier!));
        var given = Encoding.ASCII.GetBytes(challenge);
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    private static bool IsUnreserved(char c) =>
        c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.' or '_' or '~';
}
