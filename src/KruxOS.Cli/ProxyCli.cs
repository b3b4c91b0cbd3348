using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Cli.Setup;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>
/// <c>kruxos proxy status|writes|cancel|retry|discard|rollback</c> and <c>kruxos connect|disconnect &lt;service&gt;</c> over the
/// control socket. A connect secret (a Slack bot token, a Google OAuth client secret) is read from standard input or from
/// <c>KRUXOS_&lt;SERVICE&gt;_TOKEN</c>, never from the command line; an OAuth connect prints the URL to open and waits until
/// the service is connected (or <c>--timeout-secs</c> passes).
/// </summary>
public static class ProxyCli
{
    /// <summary>The commands to add to the root.</summary>
    public static IEnumerable<Command> Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json, SetupConsole? console)
    {
        var proxy = new Command("proxy", "The Service Proxy: connected services, buffered writes and dead letters");
        var status = new Command("status", "Each service's connection, last sync, replica entries and writes") { json };
        status.SetAction((p, ct) => Call(client, stdout, stderr, M.ProxyStatus, new JsonObject(), p.GetValue(json), RenderStatus, ct));
        proxy.Subcommands.Add(status);

        var filter = new Option<string>("--status") { Description = "pending (default), buffered, executing, dead_lettered, done, cancelled, discarded or all", DefaultValueFactory = _ => "pending" };
        filter.AcceptOnlyFromAmong("pending", "buffered", "executing", "dead_lettered", "done", "cancelled", "discarded", "all");
        var service = new Option<string?>("--service") { Description = "Only this service's writes" };
        var writes = new Command("writes", "List writes, newest first (pending by default)") { filter, service, json };
        writes.SetAction((p, ct) => Call(client, stdout, stderr, M.ProxyWrites, new JsonObject { ["status"] = p.GetValue(filter), ["service"] = p.GetValue(service) },
            p.GetValue(json), RenderWrites, ct));
        proxy.Subcommands.Add(writes);

        foreach (var (name, method, help, verb) in new[]
                 {
                     ("cancel", M.ProxyCancel, "Cancel a buffered write inside its window: it is never sent", "Cancelled"),
                     ("retry", M.ProxyRetry, "Run a dead-lettered write again (it is looked up at the provider first)", "Requeued"),
                     ("discard", M.ProxyDiscard, "Give up a dead-lettered write for good", "Discarded"),
                     ("rollback", M.ProxyRollback, "Undo an executed write with its rollback point (untrash, reverse labels, chat.delete), once, within its retention", "Rolled back"),
                 })
        {
            var id = new Argument<string>("write_id") { Description = "The write (wr-...)" };
            var command = new Command(name, help) { id, json };
            command.SetAction((p, ct) => Call(client, stdout, stderr, method, new JsonObject { ["id"] = p.GetValue(id) }, p.GetValue(json),
                r => $"{verb} {Str(r, "write_id")} ({Str(r, "operation")}, {Str(r, "status")}).\n", ct));
            proxy.Subcommands.Add(command);
        }
        yield return proxy;

        var connectService = new Argument<string>("service") { Description = "gmail, slack, …" };
        var clientId = new Option<string?>("--client-id") { Description = "OAuth client id (Gmail)" };
        var redirect = new Option<string?>("--redirect-uri") { Description = "OAuth redirect URI (default: the dashboard's /api/oauth/<service>/callback)" };
        var dashboard = new Option<string?>("--dashboard-url") { Description = "The dashboard origin the redirect goes to" };
        var secretStdin = new Option<bool>("--secret-stdin") { Description = "Read the token or client secret from the first line of standard input" };
        var timeout = new Option<int>("--timeout-secs") { Description = "How long to wait for an OAuth authorization", DefaultValueFactory = _ => 300 };
        var connect = new Command("connect", "Connect a service (Slack: bot token on stdin or KRUXOS_SLACK_TOKEN; Gmail: OAuth in the browser)")
        {
            connectService, clientId, redirect, dashboard, secretStdin, timeout, json,
        };
        connect.SetAction(async (p, ct) =>
        {
            var name = p.GetValue(connectService) ?? "";
            var settings = new JsonObject();
            if (p.GetValue(clientId) is { } cid) settings["client_id"] = cid;
            if (p.GetValue(redirect) is { } ru) settings["redirect_uri"] = ru;
            if (p.GetValue(dashboard) is { } du) settings["dashboard_url"] = du;
            var secret = await ReadSecretAsync(name, p.GetValue(secretStdin), console).ConfigureAwait(false);
            var parameters = new JsonObject { ["service"] = name, ["settings"] = settings, ["secret"] = secret };
            var r = await client.CallAsync(M.ProxyConnect, parameters, ct).ConfigureAwait(false);
            if (!r.Ok)
            {
                await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
                return CliApp.Refused;
            }
            if (Str(r.Result, "status") != "pending")
            {
                await stdout.WriteAsync(p.GetValue(json) ? r.Result?.ToJsonString() + "\n" : $"Connected {name}: {Str(r.Result, "message")}\n").ConfigureAwait(false);
                return 0;
            }
            await stdout.WriteAsync($"Open this URL to authorize the gateway:\n  {Str(r.Result, "authorize_url")}\nWaiting for the authorization…\n").ConfigureAwait(false);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Clamp(p.GetValue(timeout), 1, 3600));
            while (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
                var s = await client.CallAsync(M.ProxyStatus, new JsonObject(), ct).ConfigureAwait(false);
                var row = s.Result?["services"]?.AsArray().FirstOrDefault(x => Str(x, "name") == name);
                if (row is not null && Str(row, "status") is "connected" or "error")
                {
                    await stdout.WriteAsync($"Connected {name} ({Str(row, "account")}).\n").ConfigureAwait(false);
                    return 0;
                }
            }
            await stderr.WriteLineAsync($"error: {name} was not authorized within the timeout; run 'kruxos connect {name}' again").ConfigureAwait(false);
            return CliApp.Refused;
        });
        yield return connect;

        var disconnectService = new Argument<string>("service") { Description = "gmail, slack, …" };
        var disconnect = new Command("disconnect", "Disconnect a service: cancel its buffered writes, revoke the token at the provider and in the vault, purge the replica")
        {
            disconnectService, json,
        };
        disconnect.SetAction((p, ct) => Call(client, stdout, stderr, M.ProxyDisconnect, new JsonObject { ["service"] = p.GetValue(disconnectService) }, p.GetValue(json),
            r => $"Disconnected {Str(r, "service")}: {Str(r, "message")}.\n", ct));
        yield return disconnect;
    }

    // Standard input when asked (or when it is a pipe), else KRUXOS_<SERVICE>_TOKEN; never a flag's value.
    private static async Task<string> ReadSecretAsync(string service, bool fromStdin, SetupConsole? console)
    {
        var io = console ?? SetupConsole.Standard();
        if (fromStdin || !io.InIsTerminal) return (await io.In.ReadLineAsync().ConfigureAwait(false))?.Trim() ?? "";
        var env = "KRUXOS_" + new string([.. service.ToUpperInvariant().Where(char.IsAsciiLetterOrDigit)]) + "_TOKEN";
        return Environment.GetEnvironmentVariable(env)?.Trim() ?? "";
    }

    private static string RenderStatus(JsonNode? r)
    {
        var rows = r!["services"]!.AsArray();
        if (rows.Count == 0) return "No service adapter is registered.\n";
        var text = new StringBuilder();
        foreach (var s in rows)
            text.Append($"{Str(s, "name"),-8} {Str(s, "status"),-16} {Str(s, "account"),-28} last sync {(Str(s, "last_sync") is { Length: > 0 } t ? t : "never")}  "
                + $"replica {Str(s, "replica_entries")}  buffered {Str(s, "buffered_writes")}  executing {Str(s, "executing_writes")}  "
                + $"dead letters {Str(s, "dead_letters")}  rollback points {Str(s, "rollback_points")}"
                + (Str(s, "last_sync_error") is { Length: > 0 } e ? $"\n         sync error: {e.ReplaceLineEndings(" ")}" : "") + "\n");
        return text.ToString();
    }

    private static string RenderWrites(JsonNode? r)
    {
        var rows = r!["writes"]!.AsArray();
        if (rows.Count == 0) return "No writes.\n";
        var text = new StringBuilder();
        foreach (var w in rows)
            // Descriptions come from agents' arguments: keep one line each.
            text.Append($"{Str(w, "write_id")}  {Str(w, "status"),-13} {Str(w, "operation"),-14} {Str(w, "agent"),-12} until {Str(w, "buffer_until")}  "
                + $"{Str(w, "description").ReplaceLineEndings(" ")}"
                + (Str(w, "last_error") is { Length: > 0 } e ? $"  [{Str(w, "attempts")} attempt(s): {e.ReplaceLineEndings(" ")}]" : "") + "\n");
        text.Append($"{rows.Count} write(s).\n");
        return text.ToString();
    }

    private static string Str(JsonNode? node, string key) => CliCalls.Str(node, key);

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct) =>
        CliCalls.CallAsync(client, stdout, stderr, method, parameters, asJson, render, indented: false, ct);
}
