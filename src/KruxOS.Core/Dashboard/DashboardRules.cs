using System.Security.Cryptography;
using System.Text;

namespace KruxOS.Core.Dashboard;

/// <summary>A signed-in dashboard session as the node keeps it (in memory; the cookie carries only a random id).</summary>
/// <param name="TokenId">The operator user token the session was opened with.</param>
/// <param name="Label">That token's label: decisions made in the session are attributed to it.</param>
/// <param name="CsrfToken">The session's anti-forgery token, sent back on every state change.</param>
/// <param name="CreatedAt">When the session was opened (sign-in); the absolute expiry counts from here.</param>
/// <param name="LastSeen">The session's last request; the idle expiry counts from here.</param>
public sealed record DashboardSession(string TokenId, string Label, string CsrfToken, DateTimeOffset CreatedAt, DateTimeOffset LastSeen);

/// <summary>Why a session is no longer valid.</summary>
public enum SessionVerdict
{
    /// <summary>The session may be used.</summary>
    Valid,
    /// <summary>No request for longer than the idle timeout.</summary>
    Idle,
    /// <summary>Older than the absolute lifetime.</summary>
    Expired,
}

/// <summary>
/// The dashboard's browser-facing decisions, pure: session expiry, the same-origin rule for state changes, and the
/// comparison of anti-forgery tokens (docs/dashboard.md, ADR 0045).
/// </summary>
public static class DashboardRules
{
    /// <summary>Whether <paramref name="session"/> may still be used at <paramref name="now"/>.</summary>
    public static SessionVerdict Check(DashboardSession session, DateTimeOffset now, TimeSpan idleTimeout, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (now - session.CreatedAt >= lifetime || now < session.CreatedAt - TimeSpan.FromMinutes(5)) return SessionVerdict.Expired;
        if (now - session.LastSeen >= idleTimeout) return SessionVerdict.Idle;
        return SessionVerdict.Valid;
    }

    /// <summary>
    /// Whether a state-changing request comes from the dashboard's own pages: its <c>Origin</c> must be exactly
    /// <c>https://</c> + the request's <c>Host</c> (which the host filter has already checked is a name this node serves).
    /// A missing <c>Origin</c>, <c>null</c> (sandboxed frames, some redirects), another scheme, host or port are refused.
    /// </summary>
    public static bool IsSameOrigin(string? origin, string? hostHeader)
    {
        if (string.IsNullOrEmpty(origin) || string.IsNullOrEmpty(hostHeader)) return false;
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var o) || o.Scheme != "https" || o.AbsolutePath != "/" || o.Query.Length > 0
            || o.UserInfo.Length > 0 || o.Fragment.Length > 0
            || origin.EndsWith('/')) return false;
        if (!Uri.TryCreate("https://" + hostHeader, UriKind.Absolute, out var h) || h.AbsolutePath != "/") return false;
        return string.Equals(o.IdnHost, h.IdnHost, StringComparison.OrdinalIgnoreCase) && o.Port == h.Port;
    }

    /// <summary>Compares an anti-forgery token in constant time; an empty or missing one never matches.</summary>
    public static bool TokensMatch(string? expected, string? presented)
    {
        if (string.IsNullOrEmpty(expected) || string.IsNullOrEmpty(presented)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(presented));
    }
}
