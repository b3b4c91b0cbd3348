using System.Globalization;
using System.Text.Json.Nodes;
using KruxOS.Actors.Alerts;
using KruxOS.Core.Alerts;
using KruxOS.Core.Approvals;
using KruxOS.Gateway.Admin;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The alerts of the dashboard: <c>GET /api/alerts[?status=pending|acknowledged|all&amp;limit=]</c> (every source, newest
/// first), <c>GET /api/alerts/summary</c> (what the badge and the critical banner on every page show) for either role, and
/// <c>POST /api/alerts/{id}/acknowledge</c> for operators, recorded as <c>user:&lt;label&gt;</c>. Alert messages are
/// written by agents: the pages insert them as text only.
/// </summary>
public static class DashboardAlertsApi
{
    /// <summary>How many pending critical alerts the summary carries for the banner.</summary>
    public const int BannerAlerts = 3;

    /// <summary>Maps the routes on the dashboard's authenticated <c>/api</c> group.</summary>
    public static void MapDashboardAlerts(this RouteGroupBuilder api)
    {
        api.MapGet("/alerts", async (HttpContext http, AlertAdmin alerts) =>
        {
            var q = http.Request.Query;
            int? limit = null;
            if (q["limit"].ToString() is { Length: > 0 } text)
            {
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    return Results.Json(new { error_type = "InvalidInput", message = "limit must be a whole number" }, statusCode: StatusCodes.Status400BadRequest);
                limit = n;
            }
            var status = q["status"].ToString() is { Length: > 0 } s ? s : null;
            return AdminHttp.Answer(await alerts.ListAsync(status, limit, http.RequestAborted).ConfigureAwait(false), AdminJson.Alerts);
        });
        api.MapGet("/alerts/summary", SummaryAsync);
        api.MapPost("/alerts/{id}/acknowledge", async (HttpContext http, AlertAdmin alerts, string id) =>
        {
            var by = ApprovalDecider.DashboardSession(DashboardAuth.Caller(http).Token).DecidedBy;
            return AdminHttp.Answer(await alerts.AcknowledgeAsync(id, by, http.RequestAborted).ConfigureAwait(false), AdminJson.AlertAcknowledged);
        });
    }

    // The counts are the store's own; the banner's messages are the newest pending critical alerts among the newest 500 pending.
    private static async Task<IResult> SummaryAsync(HttpContext http, AlertAdmin alerts)
    {
        var counts = await alerts.PendingAsync(http.RequestAborted).ConfigureAwait(false);
        if (counts is null)
            return Results.Json(new { error_type = "Unavailable", message = "the alert store did not answer in time" }, statusCode: StatusCodes.Status503ServiceUnavailable);
        var critical = new JsonArray();
        if (counts.Critical > 0)
        {
            var pending = await alerts.ListAsync("pending", AlertLimits.Default.MaxListLimit, http.RequestAborted).ConfigureAwait(false);
            if (!pending.IsOk) return AdminHttp.Error(pending.Error!);
            var listed = AdminJson.Alerts(new AlertReplies.ListResult(
                [.. pending.Value!.Alerts.Where(a => a.Severity == AlertSeverity.Critical).Take(BannerAlerts)], counts.Critical));
            critical = listed["alerts"]!.AsArray();
            listed.Remove("alerts");
        }
        return AdminHttp.Json(new JsonObject { ["pending"] = counts.Pending, ["critical"] = counts.Critical, ["critical_alerts"] = critical });
    }
}
