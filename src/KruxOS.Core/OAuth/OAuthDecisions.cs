using System.Collections.Immutable;
using System.Text;

namespace KruxOS.Core.OAuth;

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
