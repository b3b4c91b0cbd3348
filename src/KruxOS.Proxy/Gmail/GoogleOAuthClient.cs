using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.OAuth;

namespace KruxOS.Proxy.Gmail;

/// <summary>Tokens from a token-endpoint answer (prints without them).</summary>
public sealed record TokenGrant(string AccessToken, string? RefreshToken, DateTimeOffset ExpiresAt, ImmutableArray<string> Scopes)
{
    /// <inheritdoc />
    public override string ToString() => $"TokenGrant(expires {ExpiresAt:O}, {Scopes.Length} scopes, refresh {(RefreshToken is null ? "no" : "yes")})";
}

/// <summary>A token request's outcome: the grant, or the failure class and reason (never a token).</summary>
public sealed record TokenResult(TokenGrant? Grant, GoogleStatus Status, string? Reason)
{
    /// <summary>True when granted.</summary>
    public bool Ok => Grant is not null;
}

/// <summary>
/// Google's OAuth 2.0 endpoints: authorization-code exchange with the PKCE verifier, refresh, and revocation. Client
/// credentials go in the form body (<c>client_secret_post</c>), tokens only in bodies — never in a URL, where proxies and
/// logs would keep them.
/// </summary>
public sealed class GoogleOAuthClient(HttpClient http, GmailOptions options, TimeProvider clock)
{
    /// <summary>Exchanges an authorization code (RFC 6749 §4.1.3 + RFC 7636 §4.5).</summary>
    public Task<TokenResult> ExchangeCodeAsync(string code, string verifier, Uri redirectUri, string clientId, string clientSecret, CancellationToken ct) =>
        TokenAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["code_verifier"] = verifier,
            ["redirect_uri"] = redirectUri.AbsoluteUri, ["client_id"] = clientId, ["client_secret"] = clientSecret,
        }, ct);

    /// <summary>Obtains a new access token from a refresh token (RFC 6749 §6).</summary>
    public Task<TokenResult> RefreshAsync(string refreshToken, string clientId, string clientSecret, CancellationToken ct) =>
        TokenAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken, ["client_id"] = clientId, ["client_secret"] = clientSecret,
        }, ct);

    /// <summary>Revokes a token (revoking the refresh token ends the whole grant).</summary>
    public async Task<GoogleResponse> RevokeAsync(string token, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, options.RevokeEndpoint)
        {
            Content = new FormUrlEncodedContent([new("token", token)]),
        };
        return await GoogleHttp.SendAsync(http, request, options.RequestTimeout, ct).ConfigureAwait(false);
    }

    private async Task<TokenResult> TokenAsync(Dictionary<string, string> form, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, options.TokenEndpoint) { Content = new FormUrlEncodedContent(form) };
        var response = await GoogleHttp.SendAsync(http, request, options.RequestTimeout, ct).ConfigureAwait(false);
        if (!response.Ok)
        {
            // invalid_grant and friends come back as 400/401: a refresh that will never work again is permanent
            var status = response.Status == GoogleStatus.Unauthorized ? GoogleStatus.Permanent : response.Status;
            return new TokenResult(null, status, response.Reason);
        }
        var body = response.Body;
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("access_token", out var at) || at.ValueKind != JsonValueKind.String
            || string.IsNullOrEmpty(at.GetString()) || at.GetString()!.Length > 4096)
            return new TokenResult(null, GoogleStatus.Permanent, "the token endpoint's answer has no access_token");
        if (body.TryGetProperty("token_type", out var tt) && !string.Equals(tt.GetString(), "Bearer", StringComparison.OrdinalIgnoreCase))
            return new TokenResult(null, GoogleStatus.Permanent, "the token endpoint issued a token that is not a bearer token");
        long? expiresIn = body.TryGetProperty("expires_in", out var ei) && ei.ValueKind == JsonValueKind.Number && ei.TryGetInt64(out var s) ? s : null;
        string? refresh = body.TryGetProperty("refresh_token", out var rt) && rt.ValueKind == JsonValueKind.String && rt.GetString() is { Length: > 0 and <= 4096 } r ? r : null;
        var scopes = OAuthScopes.Parse(body.TryGetProperty("scope", out var sc) && sc.ValueKind == JsonValueKind.String ? sc.GetString() : null);
        return new TokenResult(new TokenGrant(at.GetString()!, refresh, TokenLifetime.ExpiryFrom(expiresIn, clock.GetUtcNow()), scopes), GoogleStatus.Ok, null);
    }
}
