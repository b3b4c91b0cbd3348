using KruxOS.Core.OAuth;
using KruxOS.Core.Proxy;
using System.Security.Cryptography;

namespace KruxOS.Proxy.Gmail;

/// <summary>An access token for one request, or why there is none.</summary>
public sealed record AccessToken(string? Token, GoogleStatus Status, string? Reason)
{
    /// <summary>True when a token is at hand.</summary>
    public bool Ok => Token is not null;

    /// <inheritdoc />
    public override string ToString() => Ok ? "AccessToken(present)" : $"AccessToken(none: {Status}, {Reason})";
}

/// <summary>
/// The Gmail credential's lifecycle on this node: lends an access token for a request (refreshing it first when it
/// expires within 5 minutes), refreshes on a schedule (<see cref="RefreshIfDueAsync"/>, every 60 s) and marks the vault
/// entry as needing attention — which raises the alert — when the refresh grant is refused. Every read of the vault entry
/// is an audited credential use; refreshes are serialised so two requests never spend the refresh token twice.
/// </summary>
/// <remarks>The credential store is resolved on first use: it depends on the registered adapters, which depend on this, so
/// taking it at construction would be a dependency cycle.</remarks>
public sealed class GmailTokens(Func<IServiceCredentials> credentialStore, GoogleOAuthClient oauth, GmailOptions options, TimeProvider clock)
{
    private IServiceCredentials credentials => credentialStore();

    /// <summary>The service.</summary>
    public static readonly ServiceName Service = ServiceName.Parse("gmail");

    private readonly SemaphoreSlim _refresh = new(1, 1);

    /// <summary>Reads the stored credential for <paramref name="use"/>; null with a reason when refused or unreadable.</summary>
    public async Task<(GmailCredential? Credential, string? Reason)> ReadAsync(CredentialUse use, CancellationToken ct)
    {
        using var lease = await credentials.OpenAsync(use, ct).ConfigureAwait(false);
        if (!lease.Granted) return (null, lease.Error?.ErrorType ?? "refused");
        var credential = lease.Use(0, static (bytes, _) => GmailCredential.Parse(bytes));
        return credential is null ? (null, "the stored Gmail credential is unreadable; reconnect with 'kruxos connect gmail'") : (credential, null);
    }

    /// <summary>
    /// An access token for a request to the API host, described by <paramref name="use"/> (its host is replaced by the API's).
    /// <paramref name="forceRefresh"/> after the API answered 401 to a token we believed valid.
    /// </summary>
    public async Task<AccessToken> AccessAsync(CredentialUse use, bool forceRefresh, CancellationToken ct)
    {
        var (credential, reason) = await ReadAsync(use with { Host = options.ApiBase.Host.ToLowerInvariant() }, ct).ConfigureAwait(false);
        if (credential is null) return new AccessToken(null, GoogleStatus.Transient, reason);
        if (!forceRefresh && !TokenLifetime.RefreshDue(credential.ExpiresAt, clock.GetUtcNow())) return new AccessToken(credential.AccessToken, GoogleStatus.Ok, null);
        var refreshed = await RefreshAsync(credential.AccessToken, ct).ConfigureAwait(false);
        return refreshed;
    }

    /// <summary>The scheduled check: refreshes the stored token when it expires within the margin. Does nothing when not connected.</summary>
    public async Task<AccessToken?> RefreshIfDueAsync(CancellationToken ct)
    {
        var status = credentials.Status(Service);
        if (status.State != CredentialState.Live) return null;
        var (credential, _) = await ReadAsync(new CredentialUse(Service, options.TokenEndpoint.Host.ToLowerInvariant(), "refresh"), ct).ConfigureAwait(false);
        if (credential is null || !TokenLifetime.RefreshDue(credential.ExpiresAt, clock.GetUtcNow())) return null;
        return await RefreshAsync(credential.AccessToken, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Refreshes unless another caller already did since <paramref name="staleAccessToken"/> was read (then its result is
    /// used). A refused refresh grant flags the entry (needs attention + alert); a transient failure does not.
    /// </summary>
    private async Task<AccessToken> RefreshAsync(string staleAccessToken, CancellationToken ct)
    {
        await _refresh.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var (current, reason) = await ReadAsync(new CredentialUse(Service, options.TokenEndpoint.Host.ToLowerInvariant(), "refresh"), ct).ConfigureAwait(false);
            if (current is null) return new AccessToken(null, GoogleStatus.Transient, reason);
            if (!FixedEquals(current.AccessToken, staleAccessToken) && !TokenLifetime.RefreshDue(current.ExpiresAt, clock.GetUtcNow()))
                return new AccessToken(current.AccessToken, GoogleStatus.Ok, null);
            if (string.IsNullOrEmpty(current.RefreshToken))
            {
                await credentials.FlagAsync(Service, "the Gmail access token expired and no refresh token was granted; reconnect with 'kruxos connect gmail'", ct).ConfigureAwait(false);
                return new AccessToken(null, GoogleStatus.Permanent, "no refresh token");
            }
            var result = await oauth.RefreshAsync(current.RefreshToken, current.ClientId, current.ClientSecret, ct).ConfigureAwait(false);
            if (!result.Ok)
            {
                if (result.Status == GoogleStatus.Permanent)
                    await credentials.FlagAsync(Service, "Gmail token refresh refused (" + result.Reason + "); reconnect with 'kruxos connect gmail'", ct).ConfigureAwait(false);
                return new AccessToken(null, result.Status, "token refresh failed: " + result.Reason);
            }
            var grant = result.Grant!;
            var next = current with
            {
                AccessToken = grant.AccessToken,
                RefreshToken = grant.RefreshToken ?? current.RefreshToken,
                ExpiresAt = grant.ExpiresAt,
                Scopes = grant.Scopes.IsDefaultOrEmpty ? current.Scopes : grant.Scopes,
            };
            var bytes = next.ToBytes();
            try
            {
                var stored = await credentials.StoreAsync(Service, bytes, "refreshed", ct).ConfigureAwait(false);
                if (!stored.Ok) return new AccessToken(null, GoogleStatus.Transient, "could not store the refreshed token: " + stored.Message);
            }
            finally { CryptographicOperations.ZeroMemory(bytes); }
            return new AccessToken(grant.AccessToken, GoogleStatus.Ok, null);
        }
        finally { _refresh.Release(); }
    }

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));
}
