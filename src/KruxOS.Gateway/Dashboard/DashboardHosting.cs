using System.Collections.Frozen;
using System.Net;
using System.Reflection;
using System.Text;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Approvals;
using KruxOS.Core.Dashboard;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Hosting;
using Microsoft.AspNetCore.Connections.Features;

namespace KruxOS.Gateway.Dashboard;

/// <summary>Registration, transport rules and routes of the web dashboard (docs/dashboard.md, ADR 0045, ADR 0046).</summary>
public static class DashboardHosting
{
    /// <summary>The Content-Security-Policy of every dashboard response: only the gateway's own scripts and styles, no inline code, no frames.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>The pre-sign-in anti-forgery cookie (double submit with the form's hidden field).</summary>
    public const string SignInCookie = "__Host-kruxos_signin";

    /// <summary>Registers the dashboard's services.</summary>
    public static IServiceCollection AddDashboard(this IServiceCollection services, GatewaySettings gateway)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        services.AddSingleton(gateway.Dashboard);
        services.AddSingleton(sp => new DashboardSessions(gateway.Dashboard, TimeProvider.System));
        services.AddSingleton(_ => new SignInThrottle(TimeProvider.System));
        services.AddSingleton<DashboardAuth>();
        services.AddSingleton(sp => new DashboardAudit(sp.GetRequiredService<Akka.Hosting.IRequiredActor<KruxOS.Actors.Audit.AuditWriter>>(), TimeProvider.System));
        services.AddSingleton(sp => new ApprovalLinks(sp.GetRequiredService<ApprovalAdmin>(), gateway.Dashboard, TimeProvider.System));
        services.AddSingleton<ApprovalPreview>();
        services.AddSingleton<DashboardActivity>();
        services.AddHostedService(sp => sp.GetRequiredService<DashboardActivity>());
        return services;
    }

    /// <summary>
    /// On the dashboard listener: a plain-text request is answered 308 to the same path over https:// and nothing else is
    /// served on it (its Host was already checked by the host filter, so the redirect names only a host this node serves);
    /// every HTTPS answer carries HSTS, the CSP and the other browser hardening headers.
    /// </summary>
    public static IApplicationBuilder UseDashboardTransport(this IApplicationBuilder app) =>
        app.Use(async (http, next) =>
        {
            if (Listeners.Of(http) != Listener.Dashboard)
            {
                await next(http).ConfigureAwait(false);
                return;
            }
            if (http.Features.Get<ITlsHandshakeFeature>() is null)
            {
                http.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
                http.Response.Headers.Location = "https://" + http.Request.Host.Value + http.Request.PathBase + http.Request.Path + http.Request.QueryString;
                http.Response.Headers.CacheControl = "no-store";
                return;
            }
            var h = http.Response.Headers;
            h.StrictTransportSecurity = "max-age=31536000";
            h.ContentSecurityPolicy = ContentSecurityPolicy;
            h.XContentTypeOptions = "nosniff";
            h.XFrameOptions = "DENY";
            // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on form posts, which the origin check refuses.
            h["Referrer-Policy"] = "same-origin";
            h["Cross-Origin-Opener-Policy"] = "same-origin";
            h["Cross-Origin-Resource-Policy"] = "same-origin";
            h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()";
            await next(http).ConfigureAwait(false);
        });

    /// <summary>Maps the pages, sign-in, approval links, assets and the API on the dashboard listener.</summary>
    public static void MapDashboard(this WebApplication app)
    {
        app.MapGet("/", () => Results.Redirect("/approvals")).On(Listener.Dashboard);
        app.MapGet("/signin", SignInPage).On(Listener.Dashboard);
        app.MapPost("/signin", SignInAsync).On(Listener.Dashboard);
        app.MapPost("/signout", SignOutAsync).On(Listener.Dashboard);
        app.MapGet("/assets/{name}", Asset).On(Listener.Dashboard);
        foreach (var page in DashboardPages.All)
            app.MapGet(page.Path, (HttpContext http, DashboardAuth auth, KruxOS.Actors.Hosting.KruxOsSettings settings) => Page(http, auth, settings, page)).On(Listener.Dashboard);
        app.MapGet("/link/{token}", LinkPageAsync).On(Listener.Dashboard);
        app.MapPost("/link/{token}", LinkDecideAsync).On(Listener.Dashboard);
        app.MapDashboardOAuth();
        app.MapDashboardApi();
    }

    private static IResult Html(string html, int status = StatusCodes.Status200OK) =>
        Results.Text(html, "text/html; charset=utf-8", Encoding.UTF8, status);

    private static void NoStore(HttpContext http) => http.Response.Headers.CacheControl = "no-store";

    private static IResult Page(HttpContext http, DashboardAuth auth, KruxOS.Actors.Hosting.KruxOsSettings settings, DashboardPage page)
    {
        NoStore(http);
        var caller = auth.FromCookie(http);
        if (caller is null)
            return Results.Redirect("/signin?next=" + Uri.EscapeDataString(http.Request.Path.Value ?? "/"), permanent: false);
        var route = http.Request.RouteValues.Values.FirstOrDefault() as string;
        return Html(DashboardHtml.Shell(page, caller, settings.UseClustering, route));
    }

    private static IResult SignInPage(HttpContext http, string? next) => RenderSignIn(http, next, null, StatusCodes.Status200OK);

    private static IResult RenderSignIn(HttpContext http, string? next, string? message, int status)
    {
        NoStore(http);
        var csrf = DashboardSessions.NewSecret();
        http.Response.Cookies.Append(SignInCookie, csrf, new CookieOptions
        {
            HttpOnly = true, Secure = true, SameSite = SameSiteMode.Strict, Path = "/", MaxAge = TimeSpan.FromMinutes(30), IsEssential = true,
        });
        return Html(DashboardHtml.SignIn(csrf, SafeNext(next), message), status);
    }

    /// <summary>Where to go after sign-in: a dashboard page path only (never another site, never a scheme-relative URL).</summary>
    public static string SafeNext(string? next)
    {
        if (string.IsNullOrEmpty(next) || next.Length > 200 || next[0] != '/' || next.StartsWith("//", StringComparison.Ordinal) || next.Contains('\\', StringComparison.Ordinal))
            return "/approvals";
        var path = next.Split('?', '#')[0];
        return DashboardPages.All.Any(p => p.Path == path || (p.Path.EndsWith("/{name}", StringComparison.Ordinal) && path.StartsWith(p.Path[..^"{name}".Length], StringComparison.Ordinal)
                   && path.Length > p.Path.Length - "{name}".Length && !path[(p.Path.Length - "{name}".Length)..].Contains('/', StringComparison.Ordinal)))
            && path.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '-' or '_' or '.')
            ? path : "/approvals";
    }

    private static async Task<IResult> SignInAsync(HttpContext http, DashboardSessions sessions, SignInThrottle throttle, DashboardAudit audit, Authenticator authenticator)
    {
        NoStore(http);
        var address = http.Connection.RemoteIpAddress ?? IPAddress.None;
        if (!DashboardRules.IsSameOrigin(http.Request.Headers.Origin.ToString(), http.Request.Host.Value))
            return Html(DashboardHtml.Message("Refused", "Sign-in is accepted only from the dashboard's own sign-in page (Origin mismatch)."), StatusCodes.Status403Forbidden);
        if (!http.Request.HasFormContentType || http.Request.ContentLength is null or > 8 * 1024)
            return Html(DashboardHtml.Message("Refused", "Sign in with the form on /signin."), StatusCodes.Status400BadRequest);
        var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
        var next = form["next"].ToString();
        if (!DashboardRules.TokensMatch(http.Request.Cookies[SignInCookie], form["_csrf"].ToString()))
            return RenderSignIn(http, next, "The sign-in form expired; try again.", StatusCodes.Status403Forbidden);
        if (throttle.IsLimited(address, out var retryAfter))
        {
            await audit.SignInAsync(null, address.ToString(), false, "throttled: too many failed sign-ins from this address", http.RequestAborted).ConfigureAwait(false);
            http.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return RenderSignIn(http, next, $"Too many failed sign-ins; try again in {retryAfter} s.", StatusCodes.Status429TooManyRequests);
        }
        var token = form["token"].ToString().Trim();
        var outcome = TokenHashing.IsUserTokenShape(token) ? authenticator.Resolve(token, null, AuthSurface.UserApi) : null;
        string? failure = outcome switch
        {
            null => "not a user token",
            { Succeeded: false, StatusCode: StatusCodes.Status503ServiceUnavailable } => null,
            { Succeeded: false } => "unknown or revoked token",
            { Caller: { UserToken: null } or { Minted: true } } => "not a user token",
            { Caller.Role: not CredentialRole.Operator } => "a client token (only operator tokens sign in)",
            _ => null,
        };
        if (outcome is { Succeeded: false, StatusCode: StatusCodes.Status503ServiceUnavailable })
            return RenderSignIn(http, next, "The gateway is still starting; try again in a moment.", StatusCodes.Status503ServiceUnavailable);
        if (failure is not null)
        {
            throttle.Failed(address);
            // The label of a valid client token is known; nothing of an unknown token is recorded.
            var label = outcome?.Caller?.UserToken?.Label;
            await audit.SignInAsync(label, address.ToString(), false, "sign-in refused: " + failure, http.RequestAborted).ConfigureAwait(false);
            return RenderSignIn(http, next, failure.StartsWith("a client", StringComparison.Ordinal)
                ? "That is a client token: only operator tokens sign in to the dashboard." : "Sign-in failed: that token is not a valid operator token.", StatusCodes.Status401Unauthorized);
        }
        var user = outcome!.Caller!.UserToken!;
        // Audited before the session exists: a sign-in the audit log cannot record does not happen.
        if (!await audit.SignInAsync(user.Label, address.ToString(), true, "signed in", http.RequestAborted).ConfigureAwait(false))
            return RenderSignIn(http, next, "The audit log cannot record a sign-in right now; try again shortly.", StatusCodes.Status503ServiceUnavailable);
        // Rotation: whatever session the browser had ends; the new one gets a new id.
        sessions.End(http.Request.Cookies[DashboardSessions.CookieName]);
        var (cookie, _) = sessions.Open(user.Id, user.Label);
        http.Response.Cookies.Delete(SignInCookie, new CookieOptions { Secure = true, Path = "/", SameSite = SameSiteMode.Strict, HttpOnly = true });
        http.Response.Cookies.Append(DashboardSessions.CookieName, cookie, new CookieOptions
        {
            HttpOnly = true, Secure = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true,
        });
        return Results.Redirect(SafeNext(next), permanent: false);
    }

    private static async Task<IResult> SignOutAsync(HttpContext http, DashboardAuth auth, DashboardSessions sessions, DashboardAudit audit)
    {
        NoStore(http);
        var caller = auth.FromCookie(http);
        if (caller is null) return Results.Redirect("/signin");
        if (!http.Request.HasFormContentType || http.Request.ContentLength is null or > 8 * 1024)
            return Html(DashboardHtml.Message("Refused", "Sign out with the dashboard's button."), StatusCodes.Status400BadRequest);
        var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
        if (DashboardAuth.CheckStateChange(http, caller, form[DashboardAuth.CsrfField].ToString()) is { } refused)
            return Html(DashboardHtml.Message("Refused", refused.Message), StatusCodes.Status403Forbidden);
        sessions.End(http.Request.Cookies[DashboardSessions.CookieName]);
        http.Response.Cookies.Delete(DashboardSessions.CookieName, new CookieOptions { Secure = true, Path = "/", SameSite = SameSiteMode.Strict, HttpOnly = true });
        await audit.SignOutAsync(caller.Token.Label, (http.Connection.RemoteIpAddress ?? IPAddress.None).ToString(), http.RequestAborted).ConfigureAwait(false);
        return Results.Redirect("/signin");
    }

    private static async Task<IResult> LinkPageAsync(HttpContext http, string token, ApprovalLinks links, ApprovalAdmin approvals, ApprovalPreview preview)
    {
        NoStore(http);
        var claims = links.Open(token, out var refusal);
        if (claims is null) return Html(DashboardHtml.Message("Approval link", refusal, "link-refused"), StatusCodes.Status410Gone);
        var shown = await approvals.ShowAsync(claims.ApprovalId.Value, http.RequestAborted).ConfigureAwait(false);
        if (!shown.IsOk) return Html(DashboardHtml.Message("Approval link", shown.Error!.Message, "link-refused"), StatusCodes.Status404NotFound);
        var effect = await preview.PreviewAsync(shown.Value!, http.RequestAborted).ConfigureAwait(false);
        return Html(ApprovalLinkHtml.Page(shown.Value!, effect, token));
    }

    private static async Task<IResult> LinkDecideAsync(HttpContext http, string token, ApprovalLinks links)
    {
        NoStore(http);
        if (!DashboardRules.IsSameOrigin(http.Request.Headers.Origin.ToString(), http.Request.Host.Value))
            return Html(DashboardHtml.Message("Refused", "Decisions are accepted only from the approval link's own page (Origin mismatch).", "link-refused"), StatusCodes.Status403Forbidden);
        var claims = links.Open(token, out var refusal);
        if (claims is null) return Html(DashboardHtml.Message("Approval link", refusal, "link-refused"), StatusCodes.Status410Gone);
        if (!http.Request.HasFormContentType || http.Request.ContentLength is null or > 8 * 1024)
            return Html(DashboardHtml.Message("Refused", "Decide with the buttons on the approval link's page.", "link-refused"), StatusCodes.Status400BadRequest);
        var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
        var decision = form["decision"].ToString();
        if (decision is not ("approve" or "reject"))
            return Html(DashboardHtml.Message("Refused", "Choose approve or reject.", "link-refused"), StatusCodes.Status400BadRequest);
        var reason = form["reason"].ToString();
        if (decision == "reject" && string.IsNullOrWhiteSpace(reason)) reason = Endpoints.UserApiEndpoints.DefaultRejectReason;
        var result = await links.DecideAsync(claims, decision == "approve", reason, http.RequestAborted).ConfigureAwait(false);
        if (!result.IsOk && result.Error!.Code == ApprovalLinks.UsedCode)
            return Html(DashboardHtml.Message("Approval link", result.Error.Message, "link-refused"), StatusCodes.Status410Gone);
        if (!result.IsOk)
            return Html(DashboardHtml.Message("Not decided", result.Error!.Message + (result.Error.Status is { } s ? $" (status: {s})" : ""), "link-result"),
                Admin.AdminHttp.StatusOf(result.Error.Kind));
        var state = result.Value!.State;
        return Html(DashboardHtml.Message(state.Status == ApprovalStatus.Rejected ? "Rejected" : "Approved",
            $"{state.Request!.Capability} for {state.Request.Agent.Value}: {state.Status.ToWire()}. This link cannot be used again.", "link-result"));
    }

    // The embedded assets: Dashboard/Assets/*, served by name only.
    private static readonly FrozenDictionary<string, (byte[] Bytes, string Type)> Assets = LoadAssets();

    private static FrozenDictionary<string, (byte[], string)> LoadAssets()
    {
        var assembly = typeof(DashboardHosting).Assembly;
        const string prefix = "KruxOS.Gateway.Dashboard.Assets.";
        var result = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var file = name[prefix.Length..];
            var type = file.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript; charset=utf-8"
                : file.EndsWith(".css", StringComparison.Ordinal) ? "text/css; charset=utf-8" : "application/octet-stream";
            result[file] = (buffer.ToArray(), type);
        }
        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static IResult Asset(HttpContext http, string name)
    {
        if (!Assets.TryGetValue(name, out var asset)) return Results.NotFound();
        http.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(asset.Bytes, asset.Type);
    }
}
