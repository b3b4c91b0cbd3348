using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KruxOS.Core.OAuth;

/// <summary>
/// The tokens of one connected account as stored in the vault (one managed secret, <c>service/&lt;adapter&gt;/oauth</c>).
/// The record prints without its tokens; its JSON form exists only to be sealed into the vault.
/// </summary>
/// <param name="AccessToken">The bearer token for API calls.</param>
/// <param name="RefreshToken">The long-lived token that obtains new access tokens (may be empty if the provider gave none).</param>
/// <param name="ExpiresAt">When the access token stops working.</param>
/// <param name="Scopes">The scopes the provider granted.</param>
/// <param name="Account">The account the tokens belong to (e.g. the Gmail address), once known.</param>
public sealed record OAuthTokens(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("refresh_token")] string RefreshToken,
    [property: JsonPropertyName("expires_at")] DateTimeOffset ExpiresAt,
    [property: JsonPropertyName("scopes")] ImmutableArray<string> Scopes,
    [property: JsonPropertyName("account")] string? Account)
{
    /// <summary>Largest serialized form accepted back from the vault.</summary>
    public const int MaxSerializedBytes = 16 * 1024;

    /// <summary>Never prints a token.</summary>
    public override string ToString() => $"OAuthTokens(account {Account ?? "?"}, expires {ExpiresAt:O}, {Scopes.Length} scopes)";

    /// <summary>The UTF-8 JSON form sealed into the vault.</summary>
    public byte[] ToVaultValue() => JsonSerializer.SerializeToUtf8Bytes(this, OAuthJson.Options);

    /// <summary>Reads the vault form back; null when it is not a well-formed token record (never throws on bad bytes).</summary>
    public static OAuthTokens? FromVaultValue(ReadOnlySpan<byte> value)
    {
        if (value.Length is 0 or > MaxSerializedBytes) return null;
        try
        {
            var tokens = JsonSerializer.Deserialize<OAuthTokens>(value, OAuthJson.Options);
            return tokens is null || string.IsNullOrEmpty(tokens.AccessToken) || tokens.RefreshToken is null || tokens.Scopes.IsDefault
                ? null : tokens;
        }
        catch (JsonException) { return null; }
    }
}

/// <summary>Pure token-lifetime decisions (spec §10.4: refresh every 60 s whatever expires within 5 min).</summary>
public static class TokenLifetime
{
    /// <summary>How often the refresher looks.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(60);

    /// <summary>Tokens expiring within this margin are refreshed.</summary>
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);

    /// <summary>Longest lifetime believed from a provider's <c>expires_in</c> (a larger value is clamped, so a hostile
    /// or broken server cannot make us keep a token past a day without looking).</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(1);

    /// <summary>True when the token should be refreshed now.</summary>
    public static bool RefreshDue(DateTimeOffset expiresAt, DateTimeOffset now, TimeSpan? margin = null) =>
        expiresAt - now <= (margin ?? RefreshMargin);

    /// <summary>The expiry for an <c>expires_in</c> (seconds) received at <paramref name="now"/>: non-positive or absent
    /// means "already due", huge values are clamped to <see cref="MaxLifetime"/>.</summary>
    public static DateTimeOffset ExpiryFrom(long? expiresInSeconds, DateTimeOffset now) =>
        expiresInSeconds is null or <= 0 ? now
        : now + (expiresInSeconds.Value >= MaxLifetime.TotalSeconds ? MaxLifetime : TimeSpan.FromSeconds(expiresInSeconds.Value));
}

/// <summary>Scope checks on what a provider granted.</summary>
public static class OAuthScopes
{
    /// <summary>Splits a space-separated <c>scope</c> field (RFC 6749 §3.3) into distinct scopes.</summary>
    public static ImmutableArray<string> Parse(string? scope) =>
        string.IsNullOrWhiteSpace(scope) ? []
        : [.. scope.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal)];

    /// <summary>The required scopes the grant lacks (empty when complete). A user may untick scopes on the consent screen.</summary>
    public static ImmutableArray<string> Missing(IEnumerable<string> required, IEnumerable<string> granted)
    {
        var have = granted.ToHashSet(StringComparer.Ordinal);
        return [.. required.Where(r => !have.Contains(r))];
    }
}

/// <summary>Builds the browser's authorization request (RFC 6749 §4.1.1 with RFC 7636 parameters).</summary>
public static class AuthorizationRequest
{
    /// <summary>
    /// The URL the operator's browser is sent to. <c>access_type=offline</c> and <c>prompt=consent</c> ask Google for a
    /// refresh token every time (it gives one only on first consent otherwise).
    /// </summary>
    public static Uri Build(Uri authorizeEndpoint, string clientId, Uri redirectUri, IEnumerable<string> scopes, string state, string challenge)
    {
        ArgumentNullException.ThrowIfNull(authorizeEndpoint);
        var query = new StringBuilder();
        void Add(string k, string v)
        {
            query.Append(query.Length == 0 ? "" : "&").Append(Uri.EscapeDataString(k)).Append('=').Append(Uri.EscapeDataString(v));
        }
        Add("response_type", "code");
        Add("client_id", clientId);
        Add("redirect_uri", redirectUri.AbsoluteUri);
        Add("scope", string.Join(' ', scopes));
        Add("state", state);
        Add("code_challenge", challenge);
        Add("code_challenge_method", Pkce.Method);
        Add("access_type", "offline");
        Add("prompt", "consent");
        var b = new UriBuilder(authorizeEndpoint);
        b.Query = string.IsNullOrEmpty(b.Query) ? query.ToString() : b.Query.TrimStart('?') + "&" + query;
        return b.Uri;
    }
}

/// <summary>JSON options for OAuth records.</summary>
internal static class OAuthJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { MaxDepth = 8 };
}
