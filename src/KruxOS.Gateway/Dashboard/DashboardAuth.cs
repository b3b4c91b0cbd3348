using KruxOS.Core;
using KruxOS.Core.Dashboard;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using KruxOS.Actors.Identity;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Endpoints;

namespace KruxOS.Gateway.Dashboard;

/// <summary>Who a dashboard request is from.</summary>
/// <param name="Token">The user token (a signed-in session's, or the bearer's).</param>
/// <param name="Session">The signed-in session, for a cookie; null for a bearer token.</param>
public sealed record DashboardCaller(UserTokenRecord Token, DashboardSession? Session)
{
    /// <summary>Whether the caller may change anything (create agents, decide): only operator credentials.</summary>
    public bool IsOperator => Token.Role == CredentialRole.Operator;
}

/// <summary>
/// Authentication of the dashboard: the session cookie (only operator tokens sign in), or <c>Authorization: Bearer
/// krx_user_…</c> for scripts (spec §4.1; either role for views, operator for changes). A session is only as good as its
/// token: a token revoked since sign-in ends the session at its next request. Every state change must come from the
/// dashboard's own origin, and a cookie-authenticated one must also carry the session's anti-forgery token
/// (<c>X-CSRF-Token</c> header, or the <c>_csrf</c> form field).
/// </summary>
public sealed class DashboardAuth(DashboardSessions sessions, IdentityDirectory identities, Authenticator authenticator)
{
    /// <summary>The header carrying the anti-forgery token on API calls.</summary>
    public const string CsrfHeader = "X-CSRF-Token";

    /// <summary>The form field carrying the anti-forgery token on form posts.</summary>
    public const string CsrfField = "_csrf";

    /// <summary>
    /// The header a page's periodic background refresh sends (<c>1</c>): such a request is served but does not count as the
    /// operator's activity, so a page left open still signs out after the idle timeout.
    /// </summary>
    public const string BackgroundHeader = "X-KruxOS-Background";

    private const string ItemKey = "kruxos.dashboard.caller";

    /// <summary>The caller of a request, once <see cref="AuthenticateAsync"/> succeeded.</summary>
    public static DashboardCaller Caller(HttpContext http) => (DashboardCaller)http.Items[ItemKey]!;

    /// <summary>The session behind the request's cookie whose token is still an active operator token, or null.</summary>
    public DashboardCaller? FromCookie(HttpContext http)
    {
        var cookie = http.Request.Cookies[DashboardSessions.CookieName];
        var session = sessions.Resolve(cookie, touch: http.Request.Headers[BackgroundHeader].ToString() != "1");
        if (session is null) return null;
        if (!identities.Current.UserTokens.TryGetValue(session.TokenId, out var token) || token.Status != UserTokenStatus.Active || token.Role != CredentialRole.Operator)
        {
            sessions.End(cookie);
            return null;
        }
        return new DashboardCaller(token, session);
    }

    /// <summary>
    /// Authenticates an API request: cookie first, else a bearer user token. Null with a written error (401/403/429/503)
    /// when neither works.
    /// </summary>
    public async Task<DashboardCaller?> AuthenticateAsync(HttpContext http)
    {
        var caller = FromCookie(http);
        if (caller is null && Authenticator.BearerToken(http) is { Length: > 0 } && http.Request.Headers.Authorization.Count > 0)
        {
            var auth = authenticator.Authenticate(http, AuthSurface.UserApi);
            if (!auth.Succeeded)
            {
                await HttpErrors.WriteAsync(http, auth.StatusCode, auth.Error!).ConfigureAwait(false);
                return null;
            }
            if (auth.Caller!.UserToken is not { } token || auth.Caller.Minted)
            {
                await HttpErrors.WriteAsync(http, StatusCodes.Status403Forbidden,
                    StructuredError.Create("auth.user_token_required", "The dashboard API accepts user tokens (krx_user_…) and signed-in sessions only.")
                        .WithRecovery("use_user_token", "Create one with 'kruxos user-token create <label> --role operator'.")).ConfigureAwait(false);
                return null;
            }
            caller = new DashboardCaller(token, null);
        }
        if (caller is null)
        {
            await HttpErrors.WriteAsync(http, StatusCodes.Status401Unauthorized,
                StructuredError.Create("auth.sign_in_required", "Sign in to the dashboard, or send Authorization: Bearer krx_user_…")
                    .WithRecovery("sign_in", "Open /signin and sign in with an operator user token.")).ConfigureAwait(false);
            return null;
        }
        http.Items[ItemKey] = caller;
        return caller;
    }

    /// <summary>
    /// Null when a state-changing request may proceed; otherwise the refusal. The <c>Origin</c> must be the dashboard's own
    /// (a bearer request without one — a script, not a browser — is let through); a cookie request must also present the
    /// session's anti-forgery token.
    /// </summary>
    public static StructuredError? CheckStateChange(HttpContext http, DashboardCaller caller, string? presentedCsrf)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var origin = http.Request.Headers.Origin.ToString();
        var host = http.Request.Host.Value;
        if (caller.Session is null)
        {
            if (origin.Length > 0 && !DashboardRules.IsSameOrigin(origin, host)) return ForeignOrigin(origin);
            return null;
        }
        if (!DashboardRules.IsSameOrigin(origin, host)) return ForeignOrigin(origin);
        if (!DashboardRules.TokensMatch(caller.Session.CsrfToken, presentedCsrf))
            return StructuredError.Create("request.csrf_failed", "This change did not carry the session's anti-forgery token; it was refused.")
                .WithRecovery("reload", "Reload the dashboard page and try again.");
        return null;
    }

    private static StructuredError ForeignOrigin(string origin) =>
        StructuredError.Create("request.origin_refused", "Changes are accepted only from the dashboard's own pages (Origin mismatch).")
            .WithRecovery("use_dashboard", "Open the dashboard by the address you signed in at.")
            .WithContext("origin", origin.Length > 100 ? origin[..100] : origin);
}
