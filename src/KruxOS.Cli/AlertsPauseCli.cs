using System.CommandLine;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;

namespace KruxOS.Cli;

/// <summary><c>kruxos alerts [list|ack &lt;id&gt;]</c> and <c>kruxos pause|resume &lt;agent&gt;</c>, over the control socket.</summary>
public static class AlertsPauseCli
{
    /// <summary>The commands to add to the root.</summary>
    public static IEnumerable<Command> Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var status = new Option<string>("--status") { Description = "pending, acknowledged or all", DefaultValueFactory = _ => "all" };
        status.AcceptOnlyFromAmong("pending", "acknowledged", "all");
        var limit = new Option<int>("--limit") { Description = "Most alerts shown (1-500)", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List alerts, newest first") { status, limit, json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, ControlProtocol.Methods.AlertList,
            new JsonObject { ["status"] = p.GetValue(status), ["limit"] = p.GetValue(limit) }, p.GetValue(json), RenderAlerts, ct));
        var id = new Argument<string>("id") { Description = "The alert id (alrt-...)" };
        var ack = new Command("ack", "Acknowledge an alert") { id, json };
        ack.SetAction((p, ct) => Call(client, stdout, stderr, ControlProtocol.Methods.AlertAck, new JsonObject { ["id"] = p.GetValue(id) }, p.GetValue(json),
            r => r!["acknowledged"]!.GetValue<bool>() ? $"Acknowledged {Str(r, "alert_id")}.\n" : $"{Str(r, "alert_id")} was already acknowledged.\n", ct));
        var alerts = new Command("alerts", "Show and acknowledge alerts (agents' and the gateway's own)") { list, ack, json };
        alerts.SetAction((p, ct) => Call(client, stdout, stderr, ControlProtocol.Methods.AlertList, new JsonObject { ["status"] = "all" },
            p.GetValue(json), RenderAlerts, ct));
        yield return alerts;

        foreach (var (name, method, help, verb) in new[]
                 {
                     ("pause", ControlProtocol.Methods.Pause, "Pause an agent: its calls fail with SessionPaused (connections stay open) and its scheduled jobs stop", "Paused"),
                     ("resume", ControlProtocol.Methods.Resume, "Resume a paused agent", "Resumed"),
                 })
        {
            var agent = new Argument<string>("agent") { Description = "The agent" };
            var command = new Command(name, help) { agent, json };
            command.SetAction((p, ct) => Call(client, stdout, stderr, method, new JsonObject { ["name"] = p.GetValue(agent) }, p.GetValue(json),
                r => r!["changed"]!.GetValue<bool>() ? $"{verb} agent '{Str(r, "agent")}'.\n" : $"Agent '{Str(r, "agent")}' was already {(r["paused"]!.GetValue<bool>() ? "paused" : "running")}.\n", ct));
            yield return command;
        }
    }

    private static string RenderAlerts(JsonNode? r)
    {
        var rows = r!["alerts"]!.AsArray();
        if (rows.Count == 0) return "No alerts.\n";
        var text = new System.Text.StringBuilder();
        foreach (var a in rows)
            // Messages come from agents: control characters were refused when the alert was raised; keep one line each.
            text.Append($"{Str(a, "alert_id")}  {Str(a, "severity"),-8} {Str(a, "status"),-12} x{Str(a, "count"),-4} {Str(a, "last_seen_at")}  {Str(a, "source")}: {Str(a, "message").ReplaceLineEndings(" ")}\n");
        text.Append($"{rows.Count} of {Str(r, "total")} alert(s).\n");
        return text.ToString();
    }

    private static string Str(JsonNode? node, string key) => CliCalls.Str(node, key);

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct) =>
        CliCalls.CallAsync(client, stdout, stderr, method, parameters, asJson, render, indented: false, ct);
}
