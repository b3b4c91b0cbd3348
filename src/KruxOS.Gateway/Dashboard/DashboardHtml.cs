using System.Net;
using System.Text;

namespace KruxOS.Gateway.Dashboard;

/// <summary>The dashboard's server-rendered HTML: the page shell, the sign-in page and the approval-link page. Every value is HTML-encoded.</summary>
public static class DashboardHtml
{
    /// <summary>HTML-encodes text.</summary>
    public static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>A complete document.</summary>
    public static string Document(string title, string body, string pageId, string? csrf = null, IEnumerable<string>? scripts = null)
    {
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
          .Append("<meta name=\"referrer\" content=\"same-origin\">");
        if (csrf is not null) sb.Append("<meta name=\"csrf-token\" content=\"").Append(E(csrf)).Append("\">");
        sb.Append("<title>").Append(E(title)).Append(" · KruxOS</title>")
          .Append("<link rel=\"stylesheet\" href=\"/assets/dashboard.css\"></head>")
          .Append("<body data-page=\"").Append(E(pageId)).Append("\">")
          .Append(body);
        foreach (var s in scripts ?? []) sb.Append("<script src=\"/assets/").Append(E(s)).Append("\"></script>");
        sb.Append("</body></html>");
        return sb.ToString();
    }

    /// <summary>A signed-in page: navigation, who is signed in, sign-out, the per-node notice, and the page's empty <c>main</c>.</summary>
    public static string Shell(DashboardPage page, DashboardCaller caller, bool clustered, string? routeValue)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(caller);
        var csrf = caller.Session!.CsrfToken;
        var sb = new StringBuilder("<header class=\"top\"><a class=\"brand\" href=\"/overview\">KruxOS</a><nav>");
        foreach (var p in DashboardPages.All.Where(p => p.InNavigation))
        {
            var current = p.Path == page.Path || (page.Path.StartsWith(p.Path + "/", StringComparison.Ordinal));
            sb.Append("<a href=\"").Append(E(p.Path)).Append('"').Append(current ? " aria-current=\"page\"" : "").Append('>').Append(E(p.Title)).Append("</a>");
        }
        sb.Append("</nav><form class=\"signout\" method=\"post\" action=\"/signout\"><span class=\"who\">")
          .Append(E(caller.Token.Label)).Append("</span><input type=\"hidden\" name=\"_csrf\" value=\"").Append(E(csrf))
          .Append("\"><button type=\"submit\">Sign out</button></form></header>");
        if (clustered && page.PerNodeList)
            sb.Append("<p class=\"notice\" id=\"per-node\">This page shows this node's audit chain: each node keeps its own. Query or verify every node's with <code>kruxos audit query --cluster</code> and <code>kruxos audit verify --cluster</code>.</p>");
        sb.Append("<main id=\"main\"");
        if (routeValue is not null) sb.Append(" data-route=\"").Append(E(routeValue)).Append('"');
        sb.Append("><h1>").Append(E(page.Title)).Append("</h1><div id=\"content\"><p class=\"muted\">Loading…</p></div></main>");
        return Document(page.Title, sb.ToString(), page.Script.Replace(".js", "", StringComparison.Ordinal), csrf, ["dashboard.js", page.Script]);
    }

    /// <summary>The sign-in page (with its pre-session anti-forgery value and, after a failure, the message).</summary>
    public static string SignIn(string csrf, string next, string? message) => Document("Sign in",
        "<main class=\"signin\"><h1>KruxOS dashboard</h1>"
        + (message is null ? "" : $"<p class=\"error\" role=\"alert\" id=\"signin-error\">{E(message)}</p>")
        + "<form method=\"post\" action=\"/signin\" autocomplete=\"off\">"
        + $"<input type=\"hidden\" name=\"_csrf\" value=\"{E(csrf)}\"><input type=\"hidden\" name=\"next\" value=\"{E(next)}\">"
        + "<label for=\"token\">Operator user token</label>"
        + "<input id=\"token\" name=\"token\" type=\"password\" placeholder=\"krx_user_…\" required spellcheck=\"false\" autocapitalize=\"off\">"
        + "<button type=\"submit\" id=\"signin\">Sign in</button></form>"
        + "<p class=\"muted\">Create one on the gateway's host: <code>kruxos user-token create &lt;label&gt; --role operator</code></p></main>", "signin");

    /// <summary>A plain message page (approval link used, expired, decided).</summary>
    public static string Message(string title, string message, string id = "message") => Document(title,
        $"<main class=\"link\"><h1>{E(title)}</h1><p id=\"{E(id)}\">{E(message)}</p></main>", "message");
}
