using System.Collections.Concurrent;
using System.Security.Cryptography;
using KruxOS.Core.Dashboard;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The dashboard's signed-in sessions, kept server-side in memory (ADR 0045): the browser holds only a random 256-bit id
/// in an HttpOnly, Secure, SameSite=Strict <c>__Host-</c> cookie, and the node keeps the SHA-256 of that id, so neither a
/// memory dump of the table nor a log line can be replayed as a cookie. A session is valid for its idle timeout after its
/// last request and never beyond its absolute lifetime; sign-in always opens a new one (the id is rotated) and ends the
/// one the browser presented. A restart ends every session (sign in again).
/// </summary>
public sealed class DashboardSessions(DashboardSettings settings, TimeProvider clock)
{
    /// <summary>The session cookie (the <c>__Host-</c> prefix makes the browser refuse it without Secure, with a Domain, or off path /).</summary>
    public const string CookieName = "__Host-kruxos_session";

    /// <summary>The most sessions kept; the least recently used is ended first beyond it.</summary>
    public const int MaxSessions = 1000;

    private readonly ConcurrentDictionary<string, DashboardSession> _sessions = new(StringComparer.Ordinal);

    /// <summary>Sessions open now (expired ones are removed as they are met).</summary>
    public int Count => _sessions.Count;

    /// <summary>Opens a session for an operator token: returns the cookie value (shown to the browser once) and the session.</summary>
    public (string Cookie, DashboardSession Session) Open(string tokenId, string label)
    {
        var cookie = NewSecret();
        var now = clock.GetUtcNow();
        var session = new DashboardSession(tokenId, label, NewSecret(), now, now);
        _sessions[Key(cookie)] = session;
        if (_sessions.Count > MaxSessions) Sweep(now);
        return (cookie, session);
    }

    /// <summary>
    /// The valid session behind a cookie value, its last use moved to now unless <paramref name="touch"/> is false (a page's
    /// background refresh, which must not keep an unattended browser signed in); null (and removed) when unknown, idle or expired.
    /// </summary>
    public DashboardSession? Resolve(string? cookie, bool touch = true)
    {
        if (string.IsNullOrEmpty(cookie) || cookie.Length > 128) return null;
        var key = Key(cookie);
        if (!_sessions.TryGetValue(key, out var session)) return null;
        var now = clock.GetUtcNow();
        if (DashboardRules.Check(session, now, settings.SessionIdleTimeout, settings.SessionLifetime) != SessionVerdict.Valid)
        {
            _sessions.TryRemove(key, out _);
            return null;
        }
        if (!touch) return session;
        var touched = session with { LastSeen = now };
        _sessions.TryUpdate(key, touched, session);
        return touched;
    }

    /// <summary>Ends the session behind a cookie value (sign-out, or the old session at a new sign-in).</summary>
    public bool End(string? cookie) => !string.IsNullOrEmpty(cookie) && cookie.Length <= 128 && _sessions.TryRemove(Key(cookie), out _);

    /// <summary>Ends every session of a user token (it was revoked).</summary>
    public int EndAllOf(string tokenId)
    {
        var ended = 0;
        foreach (var (key, s) in _sessions)
            if (s.TokenId == tokenId && _sessions.TryRemove(key, out _)) ended++;
        return ended;
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, s) in _sessions)
            if (DashboardRules.Check(s, now, settings.SessionIdleTimeout, settings.SessionLifetime) != SessionVerdict.Valid) _sessions.TryRemove(key, out _);
        while (_sessions.Count > MaxSessions)
        {
            var oldest = _sessions.MinBy(kv => kv.Value.LastSeen);
            _sessions.TryRemove(oldest.Key, out _);
        }
    }

    /// <summary>A fresh 256-bit secret, base64url.</summary>
    public static string NewSecret() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Key(string cookie) => Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(cookie)));
}
