using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Approvals;
using static KruxOS.Gateway.Dashboard.DashboardHtml;

namespace KruxOS.Gateway.Dashboard;

/// <summary>The approval link's page: one request, what approving it will do, approve / reject (laid out for a phone). No script.</summary>
public static class ApprovalLinkHtml
{
    /// <summary>The page for <paramref name="view"/> with its <paramref name="effect"/> preview.</summary>
    public static string Page(ApprovalView view, JsonObject effect, string token)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(effect);
        var r = view.State.Request!;
        var sb = new StringBuilder("<main class=\"link\"><h1>Approval request</h1><dl class=\"facts\">");
        void Fact(string name, string? value) => sb.Append("<dt>").Append(E(name)).Append("</dt><dd>").Append(E(value)).Append("</dd>");
        Fact("Request", r.Id.Value);
        Fact("Status", view.State.Status.ToWire());
        Fact("Agent", r.Agent.Value);
        Fact("Client", r.Client.Name ?? r.Client.Initiating);
        Fact("Capability", r.Capability);
        Fact("Why held", r.Reason);
        Fact("Rule", r.Rule);
        Fact("Deadline", r.Deadline.ToString("u"));
        sb.Append("</dl><h2>What approving will do</h2><p class=\"effect\" id=\"effect\">").Append(E(effect["summary"]?.GetValue<string>())).Append("</p>");
        if (effect["diff"] is JsonObject diff)
        {
            if (diff["available"]?.GetValue<bool>() == true)
            {
                sb.Append("<pre class=\"diff\" id=\"diff\">");
                foreach (var line in diff["lines"]!.AsArray())
                {
                    var kind = line![0]!.GetValue<string>();
                    var cls = kind switch { "+" => "add", "-" => "del", "@" => "hunk", _ => "ctx" };
                    sb.Append("<span class=\"").Append(cls).Append("\">").Append(E(kind is "@" or "h" ? "" : kind)).Append(E(line[1]!.GetValue<string>())).Append("</span>\n");
                }
                sb.Append("</pre>");
            }
            else sb.Append("<p class=\"muted\">").Append(E(diff["note"]?.GetValue<string>())).Append("</p>");
        }
        sb.Append("<h2>Arguments</h2><pre class=\"args\">").Append(E(JsonNode.Parse(r.Arguments.GetRawText())!.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })))
          .Append("</pre>");
        var action = "/link/" + Uri.EscapeDataString(token);
        sb.Append("<form method=\"post\" class=\"decide\" action=\"").Append(E(action)).Append("\">")
          .Append("<button type=\"submit\" name=\"decision\" value=\"approve\" id=\"link-approve\" class=\"approve\">Approve</button></form>")
          .Append("<form method=\"post\" class=\"decide\" action=\"").Append(E(action)).Append("\">")
          .Append("<label for=\"reason\">Reason (for a rejection)</label><input id=\"reason\" name=\"reason\" maxlength=\"1000\">")
          .Append("<button type=\"submit\" name=\"decision\" value=\"reject\" id=\"link-reject\" class=\"reject\">Reject</button></form>")
          .Append("<p class=\"muted\">This link works once, for this request only.</p></main>");
        return Document("Approval request", sb.ToString(), "link");
    }
}
