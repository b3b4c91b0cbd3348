using System.CommandLine;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using static KruxOS.Cli.Output;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>
/// The <c>kruxos</c> command line: gateway status and verification, agents, user tokens, live
/// sessions, the audit log (offline, see <see cref="AuditCli"/>) and policy configuration. Exit codes: 0 success, 1 the gateway refused the request, 2 bad usage, 3 gateway unreachable.
/// </summary>
public static class CliApp
{
    /// <summary>Exit code when the gateway refuses a request.</summary>
    public const int Refused = 1;

    /// <summary>Exit code for bad usage.</summary>
    public const int Usage = 2;

    /// <summary>Exit code when the gateway cannot be reached.</summary>
    public const int Unreachable = 3;

    /// <summary>Parses and runs a command line.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct) =>
        RunAsync(args, stdout, stderr, ControlClient.FromEnvironment(), ct);

    /// <summary>Parses and runs a command line against a given control socket (tests run several gateways in one process).</summary>
    internal static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, ControlClient client, CancellationToken ct,
        Setup.SetupConsole? console = null)
    {
        if (VaultCli.RefuseSecretsInArgv(args) is { } refusal)
        {
            await stderr.WriteLineAsync($"error: {refusal}").ConfigureAwait(false);
            return Usage;
        }
        var root = Build(client, stdout, stderr, console);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && args is ["vault" or "connect", ..])
        {
            // Parse errors quote the tokens they did not expect, which could be a secret typed in the wrong place.
            await stderr.WriteLineAsync("error: invalid 'kruxos vault' command line (see kruxos vault --help); values and passphrases are read from standard input")
                .ConfigureAwait(false);
            return Usage;
        }
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) await stderr.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return Usage;
        }
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false }, ct).ConfigureAwait(false);
        }
        catch (GatewayUnreachableException e)
        {
            await stderr.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return Unreachable;
        }
    }

    private static RootCommand Build(ControlClient client, TextWriter stdout, TextWriter stderr, Setup.SetupConsole? console)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var root = new RootCommand("kruxos — manage a KruxOS capability gateway");

        // status / verify
        var status = new Command("status", "Show the gateway's state") { json };
        status.SetAction((p, ct) => Call(client, stdout, stderr, M.Status, null, p.GetValue(json), RenderStatus, ct));
        root.Subcommands.Add(status);

        var cluster = new Command("cluster", "The cluster this gateway is a member of");
        var clusterStatus = new Command("status", "Members, roles, reachability, shard distribution and the journal lease") { json };
        clusterStatus.SetAction((p, ct) => Call(client, stdout, stderr, M.ClusterStatus, null, p.GetValue(json), RenderCluster, ct));
        cluster.Subcommands.Add(clusterStatus);
        root.Subcommands.Add(cluster);

        var verify = new Command("verify", "Check listeners, stores and capabilities (PASS/FAIL per check)") { json };
        verify.SetAction(async (p, ct) =>
        {
            var r = await client.CallAsync(M.Verify, null, ct).ConfigureAwait(false);
            if (!r.Ok) return await Fail(stderr, r).ConfigureAwait(false);
            if (p.GetValue(json)) await stdout.WriteLineAsync(Json(r.Result)).ConfigureAwait(false);
            else
                foreach (var c in r.Result!["checks"]!.AsArray())
                    await stdout.WriteLineAsync($"{(c!["pass"]!.GetValue<bool>() ? "PASS" : "FAIL")}  {Str(c, "name"),-24} {Str(c, "detail")}").ConfigureAwait(false);
            return r.Result!["passed"]!.GetValue<bool>() ? 0 : Refused;
        });
        root.Subcommands.Add(verify);

        root.Subcommands.Add(AgentCommands(client, stdout, stderr, json));

        var killAgent = new Argument<string>("agent") { Description = "Agent whose sessions to terminate" };
        var kill = new Command("kill", "Terminate an agent's live sessions and stop everything it runs (its token stays valid)") { killAgent, json };
        kill.SetAction((p, ct) => Call(client, stdout, stderr, M.Kill, new JsonObject { ["name"] = p.GetValue(killAgent) }, p.GetValue(json),
            r => $"Terminated {Str(r, "connections_closed")} session(s) of agent '{Str(r, "agent")}' and stopped {Str(r, "processes_stopped")} of its process(es).\n", ct));
        root.Subcommands.Add(kill);

        root.Subcommands.Add(UserTokenCommands(client, stdout, stderr, json));
        root.Subcommands.Add(AuditCli.Build(client, stdout, stderr));
        root.Subcommands.Add(ConfigCommands.Build(client, stdout, stderr, json));
        root.Subcommands.Add(CliConfig.CliConfigCommand.Build(client, stdout, stderr));
        root.Subcommands.Add(Setup.SetupCommand.Build(client, stdout, stderr, console));
        root.Subcommands.Add(AuthSocketCommands(client, stdout, stderr, json));
        root.Subcommands.Add(VaultCli.Build(client, stdout, stderr, json, console));
        foreach (var command in SandboxCli.Build(client, stdout, stderr, json)) root.Subcommands.Add(command);
        foreach (var command in AlertsPauseCli.Build(client, stdout, stderr, json)) root.Subcommands.Add(command);
        root.Subcommands.Add(BackupCli.Build(client, stdout, stderr, json, console));
        root.Subcommands.Add(StateCli.Build(client, stdout, stderr, json));
        foreach (var command in ProxyCli.Build(client, stdout, stderr, json, console)) root.Subcommands.Add(command);

        var watchAgent = new Option<string?>("--agent") { Description = "Only this agent's events" };
        var watchTypes = new Option<string?>("--type") { Description = "Comma-separated event types" };
        var watch = new Command("watch", "Stream live supervision events (Ctrl+C to stop)") { watchAgent, watchTypes };
        watch.SetAction(async (p, ct) =>
        {
            var parameters = new JsonObject();
            if (p.GetValue(watchAgent) is { } a) parameters["agent"] = a;
            if (p.GetValue(watchTypes) is { } t) parameters["types"] = t;
            await foreach (var line in client.StreamAsync(M.Watch, parameters, ct).ConfigureAwait(false))
                await stdout.WriteLineAsync(line).ConfigureAwait(false);
            return 0;
        });
        root.Subcommands.Add(watch);
        root.Subcommands.Add(ApproveCommands(client, stdout, stderr, json));
        return root;
    }

    private static Command ApproveCommands(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var approve = new Command("approve", "Decide calls waiting for human approval");
        var status = new Option<string?>("--status") { Description = "pending (default), approved, rejected, timed_out, expired, consumed or all" };
        var list = new Command("list", "List approval requests") { json, status };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.ApprovalList,
            p.GetValue(status) is { } s ? new JsonObject { ["status"] = s } : null, p.GetValue(json), r => Table(
            ["ID", "AGENT", "CLIENT", "CAPABILITY", "PARAMETERS", "REQUESTED", "AGE"],
            r!["approvals"]!.AsArray().Select(a => (IReadOnlyList<string>)[Str(a, "id"), Str(a, "agent"), Str(a, "initiating_client"), Str(a, "capability"),
                Clip(a!["arguments"]?.ToJsonString() ?? "{}", 60), When(a, "requested_at"), Age(a!["age_seconds"]!.GetValue<long>())])), ct));
        approve.Subcommands.Add(list);

        var showId = new Argument<string>("id") { Description = "Approval id (appr-…)" };
        var show = new Command("show", "Show one approval request") { showId, json };
        show.SetAction((p, ct) => Call(client, stdout, stderr, M.ApprovalShow, new JsonObject { ["id"] = p.GetValue(showId) }, p.GetValue(json), r =>
            string.Join("\n", r!.AsObject().Select(kv => $"{kv.Key + ":",-18}{(kv.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : kv.Value?.ToJsonString() ?? "-")}")) + "\n", ct));
        approve.Subcommands.Add(show);

        foreach (var (verb, method, help) in new[] { ("accept", M.ApprovalApprove, "Approve a request"), ("reject", M.ApprovalReject, "Reject a request") })
        {
            var id = new Argument<string>("id") { Description = "Approval id (appr-…)" };
            var reason = new Option<string?>("--reason") { Description = "Why (recorded in the audit log)" };
            var cmd = new Command(verb, help) { id, reason, json };
            cmd.SetAction((p, ct) => Call(client, stdout, stderr, method, new JsonObject { ["id"] = p.GetValue(id), ["reason"] = p.GetValue(reason) ?? "" },
                p.GetValue(json), r => $"Approval {Str(r, "id")} is now {Str(r, "status")}.\n", ct));
            approve.Subcommands.Add(cmd);
        }

        var linkId = new Argument<string>("id") { Description = "Approval id (appr-…)" };
        var linkHost = new Option<string?>("--host") { Description = "The name or address the phone reaches this node by (default: the node's local address)" };
        var link = new Command("link", "Print a signed, single-use, short-lived dashboard URL that opens this one request for decision") { linkId, linkHost, json };
        link.SetAction((p, ct) => Call(client, stdout, stderr, M.ApprovalLink,
            p.GetValue(linkHost) is { } h ? new JsonObject { ["id"] = p.GetValue(linkId), ["host"] = h } : new JsonObject { ["id"] = p.GetValue(linkId) },
            p.GetValue(json), r => $"{Str(r, "url")}\n(single use; expires {Str(r, "expires_at")})\n", ct));
        approve.Subcommands.Add(link);

        var watch = new Command("watch", "Show pending approvals live and decide them: keys a/r/j/k/q on a terminal; lines 'a|r [appr-id] [reason]' from a pipe");
        watch.SetAction((_, ct) => ApproveWatch.RunAsync(client, stdout, stderr, ct));
        approve.Subcommands.Add(watch);
        return approve;
    }

    private static string Clip(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static string Age(long seconds) => seconds switch
    {
        < 60 => $"{seconds}s",
        < 3600 => $"{seconds / 60}m",
        < 86400 => $"{seconds / 3600}h{seconds % 3600 / 60}m",
        _ => $"{seconds / 86400}d{seconds % 86400 / 3600}h",
    };

    private static Command AgentCommands(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var agent = new Command("agent", "Manage agent identities");

        var nameArg = new Argument<string?>("name") { Description = "Agent name", Arity = ArgumentArity.ZeroOrOne };
        var nameOpt = new Option<string?>("--name") { Description = "Agent name" };
        var purpose = new Option<string?>("--purpose") { Description = "What the agent is for" };
        var create = new Command("create", "Create an agent and print its token once") { nameArg, nameOpt, purpose, json };
        create.SetAction(async (p, ct) =>
        {
            var name = p.GetValue(nameOpt) ?? p.GetValue(nameArg);
            if (string.IsNullOrWhiteSpace(name))
            {
                await stderr.WriteLineAsync("error: give the agent's name (kruxos agent create <name> or --name <name>)").ConfigureAwait(false);
                return Usage;
            }
            return await Call(client, stdout, stderr, M.AgentCreate, new JsonObject { ["name"] = name, ["purpose"] = p.GetValue(purpose) ?? "" },
                p.GetValue(json), r => TokenIssued("Agent created successfully.", r), ct).ConfigureAwait(false);
        });
        agent.Subcommands.Add(create);

        var list = new Command("list", "List agents") { json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.AgentList, null, p.GetValue(json), r => Table(
            ["NAME", "STATUS", "LAST CONNECTED", "INVOCATIONS", "PURPOSE"],
            r!["agents"]!.AsArray().Select(a => (IReadOnlyList<string>)[Str(a, "name"), Str(a, "status"), When(a, "last_connected"), Str(a, "invocations"), Str(a, "purpose")])), ct));
        agent.Subcommands.Add(list);

        foreach (var (verb, method, help) in new[]
                 {
                     ("show", M.AgentShow, "Show one agent"),
                     ("rotate", M.AgentRotate, "Issue a new token; the old one stops working at once"),
                     ("revoke", M.AgentRevoke, "Revoke an agent: terminate its sessions and stop everything it runs"),
                     ("restore", M.AgentRestore, "Reactivate a revoked agent with a new token"),
                 })
        {
            var arg = new Argument<string>("name") { Description = "Agent name" };
            var cmd = new Command(verb, help) { arg, json };
            cmd.SetAction((p, ct) => Call(client, stdout, stderr, method, new JsonObject { ["name"] = p.GetValue(arg) }, p.GetValue(json), r => verb switch
            {
                "rotate" => TokenIssued("Agent token rotated; the previous token no longer works.", r),
                "restore" => TokenIssued("Agent restored with a new token; the previous token stays invalid.", r),
                "revoke" => $"Agent '{Str(r, "name")}' revoked; its sessions were terminated and everything it ran was stopped.\n",
                _ => string.Join("\n", r!.AsObject().Select(kv => $"{kv.Key + ":",-18}{(kv.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : kv.Value?.ToJsonString() ?? "-")}")) + "\n",
            }, ct));
            agent.Subcommands.Add(cmd);
        }
        return agent;
    }

    private static Command UserTokenCommands(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var tokens = new Command("user-token", "Manage user tokens (krx_user_…)");
        var labelArg = new Argument<string?>("label") { Description = "Token label", Arity = ArgumentArity.ZeroOrOne };
        var labelOpt = new Option<string?>("--label") { Description = "Token label" };
        var roleOpt = new Option<string>("--role")
        {
            Description = "client (default): makes calls (mcp-bridge, cli-hook), cannot decide approvals; operator: decides approvals, cannot make calls",
            DefaultValueFactory = _ => "client",
        };
        roleOpt.AcceptOnlyFromAmong("client", "operator");
        var create = new Command("create", "Create a user token and print it once") { labelArg, labelOpt, roleOpt, json };
        create.SetAction(async (p, ct) =>
        {
            var label = p.GetValue(labelOpt) ?? p.GetValue(labelArg);
            if (string.IsNullOrWhiteSpace(label))
            {
                await stderr.WriteLineAsync("error: give the token's label (kruxos user-token create <label>)").ConfigureAwait(false);
                return Usage;
            }
            return await Call(client, stdout, stderr, M.UserTokenCreate, new JsonObject { ["label"] = label, ["role"] = p.GetValue(roleOpt) }, p.GetValue(json),
                r => $"User token created.\nId:     {Str(r, "id")}\nLabel:  {Str(r, "label")}\nRole:   {Str(r, "role")}\nToken:  {Str(r, "token")}\nSave this token - it will not be shown again.\n", ct).ConfigureAwait(false);
        });
        tokens.Subcommands.Add(create);

        var list = new Command("list", "List user tokens (metadata only)") { json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.UserTokenList, null, p.GetValue(json), r => Table(
            ["ID", "LABEL", "ROLE", "STATUS", "CREATED", "LAST USED"],
            r!["tokens"]!.AsArray().Select(t => (IReadOnlyList<string>)[Str(t, "id"), Str(t, "label"), Str(t, "role"), Str(t, "status"), When(t, "created_at"),
                // the gateway remembers uses in memory only (since it started)
                t!["last_used_at"] is null ? "not since start" : When(t, "last_used_at")])), ct));
        tokens.Subcommands.Add(list);

        var idArg = new Argument<string>("id") { Description = "Token id (from user-token list)" };
        var revoke = new Command("revoke", "Revoke a user token") { idArg, json };
        revoke.SetAction((p, ct) => Call(client, stdout, stderr, M.UserTokenRevoke, new JsonObject { ["id"] = p.GetValue(idArg) }, p.GetValue(json),
            r => $"User token {Str(r, "id")} ('{Str(r, "label")}') revoked.\n", ct));
        tokens.Subcommands.Add(revoke);
        return tokens;
    }

    private static Command AuthSocketCommands(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var command = new Command("auth-socket", "Who besides root and the gateway's user may mint credentials on the auth socket (mcp-bridge, cli-hook)");
        static string Render(JsonNode? r) =>
            $"Socket:      {Str(r, "socket")} (mode {Str(r, "socket_mode")})\n" +
            $"Configured:  {Uids(r?["configured"])} (Gateway:AuthSocketUids)\n" +
            $"Granted:     {Uids(r?["granted"])} (kruxos setup / auth-socket allow; kept in the data directory)\n";
        var list = new Command("list", "List the allowed uids") { json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.AuthSocketList, null, p.GetValue(json), Render, ct));
        command.Subcommands.Add(list);
        foreach (var (verb, method, help) in new[]
                 {
                     ("allow", M.AuthSocketAllow, "Let a local user (name or uid) mint credentials; in force at once, kept across restarts"),
                     ("revoke", M.AuthSocketRevoke, "Withdraw a grant made with allow"),
                 })
        {
            var who = new Argument<string>("user") { Description = "User name or uid" };
            var cmd = new Command(verb, help) { who, json };
            cmd.SetAction(async (p, ct) =>
            {
                var user = await UnixUsers.FindAsync(p.GetValue(who)!, ct).ConfigureAwait(false);
                uint uid;
                if (user is not null) uid = user.Uid;
                else if (!uint.TryParse(p.GetValue(who), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uid))
                {
                    await stderr.WriteLineAsync($"error: no local user '{p.GetValue(who)}'").ConfigureAwait(false);
                    return Usage;
                }
                return await Call(client, stdout, stderr, method, new JsonObject { ["uid"] = uid }, p.GetValue(json), Render, ct).ConfigureAwait(false);
            });
            command.Subcommands.Add(cmd);
        }
        return command;
    }

    private static string Uids(JsonNode? array) =>
        array is JsonArray { Count: > 0 } a ? string.Join(", ", a.Select(u => u!.ToJsonString())) : "none";

    private static string TokenIssued(string headline, JsonNode? r) =>
        $"{headline}\nName:   {Str(r, "name")}\nToken:  {Str(r, "token")}\nSave this token - it will not be shown again.\n";

    private static string RenderStatus(JsonNode? r)
    {
        var gw = r!["gateway"];
        var agents = r["agents"];
        var lines = new List<string>
        {
            $"Gateway:        {Str(gw, "mcp")} (bind {Str(gw, "bind")}, port {Str(gw, "port")})",
            $"TLS:            CA {Str(r["tls"], "ca_certificate")} (SHA-256 {Str(r["tls"], "ca_sha256")}); {Str(r["tls"], "health")}",
            $"Health:         http://127.0.0.1:{Str(r, "health_port")}/health ({Str(r, "health")})",
            $"User API:       http://127.0.0.1:{Str(r, "user_api_port")}",
            $"Version:        {Str(r, "version")}, up {Str(r, "uptime_seconds")} s",
            $"Data directory: {Str(r, "data_dir")}",
            $"Policy:         {Str(r, "policy")}",
            $"Capabilities:   {Str(r, "capabilities")}",
            $"Agents:         {Str(agents, "total")} total, {Str(agents, "active")} active, {Str(agents, "revoked")} revoked",
            $"Sessions:       {Str(r, "active_sessions")} open, {Str(r, "total_invocations")} invocations since start",
            $"Approval queue: {Str(r["approval_queue"], "pending")} pending",
        };
        if (r["telemetry"] is { } t)
        {
            lines.Add($"Metrics:        {(t["metrics"] is null ? "off" : Str(t, "metrics"))}");
            lines.Add($"OTLP export:    {(t["otlp"] is { } o ? $"{Str(o, "endpoint")} ({Str(o, "protocol")})" : "off")}");
        }
        foreach (var s in r["services"]!.AsArray()) lines.Add($"  service {Str(s, "name"),-18} {Str(s, "status"),-9} {Str(s, "details")}");
        if (r["cluster"] is { } cluster) lines.Add(RenderCluster(cluster).TrimEnd('\n'));
        return string.Join("\n", lines) + "\n";
    }

    private static string RenderCluster(JsonNode? r)
    {
        if (r is null || r["enabled"]?.GetValue<bool>() != true) return "Cluster:        off (single node)\n";
        var lines = new List<string>
        {
            $"Cluster:        this node {Str(r, "self")} is {Str(r, "self_status")}; leader {Str(r, "leader")}; split brain: {Str(r, "split_brain_strategy")} after {Str(r, "downing_stable_after_seconds")} s",
            $"Journal lease:  {Str(r, "lease")}",
        };
        foreach (var m in r["members"]!.AsArray())
        {
            var marks = string.Join(",", new[] { m!["self"]!.GetValue<bool>() ? "self" : null, m["leader"]!.GetValue<bool>() ? "leader" : null, m["oldest"]!.GetValue<bool>() ? "oldest" : null }.OfType<string>());
            var roles = string.Join(",", m["roles"]!.AsArray().Select(x => x!.GetValue<string>()));
            lines.Add($"  member  {Str(m, "address"),-36} {Str(m, "status"),-9} {(m["reachable"]!.GetValue<bool>() ? "reachable" : "UNREACHABLE"),-11} roles {roles} {marks}");
        }
        foreach (var d in r["shards"]!.AsArray())
        {
            var byNode = d!["by_node"]!.AsObject().Select(kv => $"{kv.Key}={kv.Value}");
            lines.Add($"  shards  {Str(d, "type"),-14} {(d["error"] is { } e ? "unknown: " + e : string.Join("  ", byNode))}");
        }
        return string.Join("\n", lines) + "\n";
    }

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject? parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct) =>
        CliCalls.CallAsync(client, stdout, stderr, method, parameters, asJson, render, indented: true, ct);

    private static async Task<int> Fail(TextWriter stderr, ControlResponse r)
    {
        await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
        return Refused;
    }
}
