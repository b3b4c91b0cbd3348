using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KruxOS.Core.Approvals;

namespace KruxOS.Core.Dashboard;

/// <summary>What an approval link names: one approval, one link id (for single use), an expiry and who made it.</summary>
/// <param name="ApprovalId">The approval the link opens; it can decide nothing else.</param>
/// <param name="LinkId">Random id of this link, spent by its first decision.</param>
/// <param name="Expires">After this the link opens nothing.</param>
/// <param name="IssuedBy">Who made the link (the control socket's operator, <c>root</c> or <c>uid-N</c>): decisions are recorded as theirs.</param>
public sealed record ApprovalLinkClaims(ApprovalId ApprovalId, string LinkId, DateTimeOffset Expires, string IssuedBy);

/// <summary>Why a link was refused.</summary>
public enum ApprovalLinkRefusal
{
    /// <summary>Not a link this node signed (malformed, altered, or signed by another key, e.g. before a restart).</summary>
    Invalid,
    /// <summary>Signed, but past its expiry.</summary>
    Expired,
}

/// <summary>
/// The signed, short-lived approval link token (<c>kruxos approve link</c>, ADR 0046): <c>v1.&lt;claims&gt;.&lt;mac&gt;</c>, both
/// base64url, the MAC an HMAC-SHA256 over the version and claims under a key only this node holds. Pure: the key and the
/// clock are given. Single use is the node's bookkeeping, not the token's.
/// </summary>
public static class ApprovalLinkToken
{
    private const string Version = "v1";

    /// <summary>The longest token accepted before any parsing (a URL path segment).</summary>
    public const int MaxLength = 512;

    /// <summary>Signs <paramref name="claims"/> with <paramref name="key"/>.</summary>
    public static string Create(ReadOnlySpan<byte> key, ApprovalLinkClaims claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        if (claims.LinkId.Contains('|', StringComparison.Ordinal) || claims.IssuedBy.Contains('|', StringComparison.Ordinal))
            throw new ArgumentException("link id and issuer must not contain '|'", nameof(claims));
        var body = string.Join('|', claims.ApprovalId.Value, claims.LinkId, claims.Expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), claims.IssuedBy);
        var encoded = Base64Url(Encoding.UTF8.GetBytes(body));
        return $"{Version}.{encoded}.{Base64Url(Mac(key, encoded))}";
    }

    /// <summary>The claims of a token this key signed and that has not expired at <paramref name="now"/>, or why not.</summary>
    public static ApprovalLinkClaims? Verify(ReadOnlySpan<byte> key, string? token, DateTimeOffset now, out ApprovalLinkRefusal refusal)
    {
        refusal = ApprovalLinkRefusal.Invalid;
        if (string.IsNullOrEmpty(token) || token.Length > MaxLength) return null;
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[0] != Version) return null;
        var mac = FromBase64Url(parts[2]);
        if (mac is null || !CryptographicOperations.FixedTimeEquals(mac, Mac(key, parts[1]))) return null;
        // Only a token this node signed is parsed further.
        var bytes = FromBase64Url(parts[1]);
        if (bytes is null) return null;
        var fields = Encoding.UTF8.GetString(bytes).Split('|');
        if (fields.Length != 4 || !ApprovalId.TryParse(fields[0], out var id) || fields[1].Length == 0
            || !long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var exp)) return null;
        var expires = DateTimeOffset.FromUnixTimeSeconds(exp);
        if (now >= expires)
        {
            refusal = ApprovalLinkRefusal.Expired;
            return null;
        }
        return new ApprovalLinkClaims(id, fields[1], expires, fields[3]);
    }

    private static byte[] Mac(ReadOnlySpan<byte> key, string encodedClaims) =>
        HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(Version + "." + encodedClaims));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[]? FromBase64Url(string text)
    {
        if (text.Length == 0 || text.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))) return null;
        var s = text.Replace('-', '+').Replace('_', '/');
        s += (s.Length % 4) switch { 2 => "==", 3 => "=", 0 => "", _ => "!" };
        try { return Convert.FromBase64String(s); }
        catch (FormatException) { return null; }
    }
}
