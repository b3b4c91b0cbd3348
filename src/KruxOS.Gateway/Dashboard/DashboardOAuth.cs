using System.Text;
using KruxOS.Core.OAuth;
using KruxOS.Gateway.Hosting;
using KruxOS.Proxy.Gmail;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The browser half of <c>kruxos connect gmail</c> (ADR 0048): <c>GET /api/oauth/gmail/start?ticket=…</c> binds a new
/// authorization (state + PKCE verifier) to the signed-in operator's session and redirects to Google;
/// <c>GET /api/oauth/gmail/callback?code=…&amp;state=…</c> accepts the answer only for that same session, once.
/// <para>
/// The session cookie is <c>SameSite=Strict</c>, so the browser does not send it on Google's cross-site redirect. Instead
/// of relaxing the cookie, a request without it gets a page that navigates to the same URL again from our own origin
/// (a same-site navigation, which carries the cookie); a request that still has no session is refused without
/// touching the pending authorization.
/// </para>
/// </summary>
public static class DashboardOAuth
{
    private const string HopParameter = "kx_hop";

    /// <summary>Maps the two routes on the dashboard listener (outside the API group: they answer browsers with pages).</summary>
    public static void MapDashboardOAuth(this WebApplication app)
    {
        app.MapGet(GmailConnector.StartPath, (HttpContext http, DashboardAuth auth, GmailConnector connector) =>
        {
            NoStore(http);
            if (SessionOrHop(http, auth) is not { } binding) return Reload(http);
            var step = connector.Start(http.Request.Query["ticket"].FirstOrDefault(), binding);
            return step.Status == ConnectStepStatus.Ok ? Results.Redirect(step.Redirect!.AbsoluteUri) : Page("Gmail not connected", step.Message, 400);
        }).On(Listener.Dashboard);
        app.MapGet(GmailConnector.CallbackPath, async (HttpContext http, DashboardAuth auth, GmailConnector connector) =>
        {
            NoStore(http);
            if (SessionOrHop(http, auth) is not { } binding) return Reload(http);
            var q = http.Request.Query;
            var step = await connector.FinishAsync(One(q["state"]), One(q["code"]), One(q["error"]), binding, http.RequestAborted).ConfigureAwait(false);
            return step.Status switch
            {
                ConnectStepStatus.Ok => Page("Gmail connected", step.Message + ". The first sync starts now; see /proxy.", 200),
                ConnectStepStatus.Refused => Page("Gmail not connected", step.Message, 403),
                _ => Page("Gmail not connected", step.Message, 502),
            };
        }).On(Listener.Dashboard);
    }

    // The session binding, or null when the request carries no operator session (the caller then answers with a reload
    // page on the first hop, or a sign-in page after it).
    private static string? SessionOrHop(HttpContext http, DashboardAuth auth) =>
        auth.FromCookie(http) is { Session: { } session } ? OAuthFlows.BindingOf(session.CsrfToken) : null;

    private static IResult Reload(HttpContext http)
    {
        if (http.Request.Query.ContainsKey(HopParameter))
            return Page("Sign in first", "Sign in to the dashboard in this browser with an operator token, then run 'kruxos connect gmail' again and open the new link.", 401);
        var target = http.Request.Path + http.Request.QueryString.Add(HopParameter, "1").ToUriComponent();
        var html = new StringBuilder()
            .Append("<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">")
            .Append("<meta http-equiv=\"refresh\" content=\"0;url=").Append(DashboardHtml.E(target)).Append("\"><title>Connecting…</title></head>")
            .Append("<body><p>Connecting… <a href=\"").Append(DashboardHtml.E(target)).Append("\">continue</a></p></body></html>");
        return Results.Text(html.ToString(), "text/html; charset=utf-8", Encoding.UTF8, StatusCodes.Status200OK);
    }

    private static IResult Page(string title, string message, int status) =>
        Results.Text(DashboardHtml.Message(title, message), "text/html; charset=utf-8", Encoding.UTF8, status);

    private static string? One(Microsoft.Extensions.Primitives.StringValues v) => v.Count == 1 ? v[0] : null;

    private static void NoStore(HttpContext http)
    {
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["Referrer-Policy"] = "no-referrer";
    }
}
