using System.Collections.Concurrent;
using KruxOS.Core.Identity;

namespace KruxOS.Gateway.Auth;

/// <summary>A minted credential as the gateway keeps it: the user token it stands for and when it expires.</summary>
public sealed record SessionCredential(string UserTokenId, DateTimeOffset ExpiresAt);

/// <summary>
/// The short-lived credentials minted by the auth socket. Held in memory only (a restart invalidates
/// them, and the bridge mints a new one for every connection anyway), keyed by SHA-256: the raw value
/// exists only in the answer written to the socket.
/// </summary>
public sealed class SessionCredentialStore(TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, SessionCredential> _byHash = new(StringComparer.Ordinal);

    /// <summary>Mints a credential for a user token, valid for <paramref name="lifetime"/>.</summary>
    public (string Token, DateTimeOffset ExpiresAt) Mint(string userTokenId, TimeSpan lifetime)
    {
        Sweep();
        var token = TokenHashing.NewSessionToken();
        var expires = clock.GetUtcNow() + lifetime;
        _byHash[TokenHashing.Hash(token)] = new SessionCredential(userTokenId, expires);
        return (token, expires);
    }

    /// <summary>The credential behind a presented token, or null when unknown or expired.</summary>
    public SessionCredential? Resolve(string token)
    {
        if (!_byHash.TryGetValue(TokenHashing.Hash(token), out var c)) return null;
        return c.ExpiresAt > clock.GetUtcNow() ? c : null;
    }

    /// <summary>Number of credentials not yet swept (expired ones included until the next mint).</summary>
    public int Count => _byHash.Count;

    private void Sweep()
    {
        var now = clock.GetUtcNow();
        foreach (var (hash, c) in _byHash)
            if (c.ExpiresAt <= now) _byHash.TryRemove(hash, out _);
    }
}
