using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Control;
using static KruxOS.Cli.Output;

namespace KruxOS.Cli;

/// <summary>
/// <c>kruxos audit query|tail|replay|stats|verify</c>. They read an audit directory directly — the live
/// one (<c>{KRUXOS_DATA_DIR or ~/.kruxos}/audit</c>) or a copy given with <c>--dir</c> — and never write
/// to it, so they are safe while the gateway writes and need no gateway. <c>verify</c> exits 0 only when
/// the chain is intact. <c>rotate</c> is the exception: it asks the running gateway (control socket) to
/// apply retention now, because only the writer may delete day files.
/// </summary>
public static class AuditCli
{
    /// <summary>Exit code of <c>verify</c> (and <c>stats</c>) when the chain is broken.</summary>
    public const int ChainBroken = 1;

    /// <summary>The default audit directory.</summary>
    public static string DefaultDirectory() => Path.Combine(
        Environment.GetEnvironmentVariable("KRUXOS_DATA_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kruxos"),
        "audit");

    /// <summary>Builds the <c>audit</c> command.</summary>
    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr)
    {
        var audit = new Command("audit", "Query and verify the audit log (offline; reads the audit directory); rotate it (gateway)");
        var dir = new Option<string?>("--dir") { Description = "Audit directory (default: $KRUXOS_DATA_DIR/audit or ~/.kruxos/audit)" };
        var format = new Option<string>("--format") { Description = "table or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var agent = new Option<string?>("--agent") { Description = "Only this agent's entries" };

        // query
        var capability = new Option<string?>("--capability") { Description = "Capability name or glob, e.g. filesystem.*" };
        var outcome = new Option<string?>("--outcome") { Description = "success, denied, error or pending; or how an approval ended: approved, rejected, timed_out, expired" };
        var last = new Option<string?>("--last") { Description = "A window ending now: 30m, 1h, 24h, 7d" };
        var from = new Option<string?>("--from") { Description = "Start time (RFC 3339, inclusive), or a date YYYY-MM-DD (from its start)" };
        var to = new Option<string?>("--to") { Description = "End time (RFC 3339, exclusive), or a date YYYY-MM-DD (that whole day included)" };
        var limit = new Option<int>("--limit") { Description = "Entries per page (1-1000)", DefaultValueFactory = _ => 50 };
        var cluster = new Option<bool>("--cluster") { Description = "Every cluster node's chain, through the running gateway (each node reads its own; merged newest first)" };
        var query = new Command("query", "Find audit entries, newest first") { agent, capability, outcome, last, from, to, limit, format, dir, cluster };
        query.SetAction(async (p, ct) =>
        {
            if (p.GetValue(cluster))
            {
                if (p.GetValue(dir) is not null) return await Usage(stderr, "--cluster reads every node's chain through the gateway; it takes no --dir").ConfigureAwait(false);
                var parameters = new JsonObject { ["agent"] = p.GetValue(agent), ["capability"] = p.GetValue(capability), ["outcome"] = p.GetValue(outcome),
                    ["last"] = p.GetValue(last), ["from"] = p.GetValue(from), ["to"] = p.GetValue(to), ["limit"] = p.GetValue(limit) };
                return await ClusterCall(client, ControlProtocol.Methods.AuditClusterQuery, parameters, p.GetValue(format) == "json", RenderClusterPage, _ => 0,
                    stdout, stderr, ct).ConfigureAwait(false);
            }
            var q = new AuditQuery { Agent = p.GetValue(agent), Limit = p.GetValue(limit) };
            if (p.GetValue(capability) is { } cap)
            {
                if (!AuditQuery.IsValidCapabilityGlob(cap)) return await Usage(stderr, $"'{cap}' is not a capability name or glob").ConfigureAwait(false);
                q = q with { Capability = cap };
            }
            if (p.GetValue(outcome) is { } o && !q.TryWithOutcome(o, out q))
                return await Usage(stderr, $"unknown outcome '{o}': expected {AuditQuery.Outcomes}").ConfigureAwait(false);
            if (p.GetValue(last) is { } l)
            {
                if (!AuditQuery.TryParseWindow(l, out var w)) return await Usage(stderr, $"'{l}' is not a window such as 1h, 24h or 7d").ConfigureAwait(false);
                q = q with { Last = w };
            }
            if (p.GetValue(from) is { } f)
            {
                if (!AuditQuery.TryParseBound(f, upper: false, out var t)) return await Usage(stderr, $"--from '{f}' is not a timestamp or a date").ConfigureAwait(false);
                q = q with { From = t };
            }
            if (p.GetValue(to) is { } tt)
            {
                if (!AuditQuery.TryParseBound(tt, upper: true, out var t)) return await Usage(stderr, $"--to '{tt}' is not a timestamp or a date").ConfigureAwait(false);
                q = q with { To = t };
            }
            if (q.Limit is < 1 or > AuditQuery.MaxLimit) return await Usage(stderr, $"--limit must be from 1 to {AuditQuery.MaxLimit}").ConfigureAwait(false);
            if (await Open(p.GetValue(dir), stderr).ConfigureAwait(false) is not { } reader) return CliApp.Refused;
            var page = await reader.QueryAsync(q, ct).ConfigureAwait(false);
            await WritePage(stdout, page, p.GetValue(format) == "json", showTotal: true).ConfigureAwait(false);
            return 0;
        });
        audit.Subcommands.Add(query);

        // tail
        var count = new Option<int>("-n", "--count") { Description = "How many entries", DefaultValueFactory = _ => 20 };
        var tail = new Command("tail", "The newest entries, oldest first") { agent, count, format, dir };
        tail.SetAction(async (p, ct) =>
        {
            var n = p.GetValue(count);
            if (n is < 1 or > AuditQuery.MaxLimit) return await Usage(stderr, $"-n must be from 1 to {AuditQuery.MaxLimit}").ConfigureAwait(false);
            if (await Open(p.GetValue(dir), stderr).ConfigureAwait(false) is not { } reader) return CliApp.Refused;
            var page = await reader.TailAsync(p.GetValue(agent), n, ct).ConfigureAwait(false);
            await WritePage(stdout, page, p.GetValue(format) == "json", showTotal: false).ConfigureAwait(false);
            return 0;
        });
        audit.Subcommands.Add(tail);

        // replay
        var session = new Argument<string>("session") { Description = "Session id (sess-…)" };
        var replay = new Command("replay", "Every entry of one session, in order") { session, format, dir };
        replay.SetAction(async (p, ct) =>
        {
            if (await Open(p.GetValue(dir), stderr).ConfigureAwait(false) is not { } reader) return CliApp.Refused;
            var all = new List<AuditRecordView>();
            long total;
            do
            {
                var page = await reader.ReplayAsync(p.GetValue(session)!, all.Count, ct).ConfigureAwait(false);
                all.AddRange(page.Entries);
                total = page.Total;
                if (page.Entries.Count == 0) break;
            }
            while (all.Count < total);
            if (all.Count == 0)
            {
                await stderr.WriteLineAsync($"error: no audit entries for session '{p.GetValue(session)}'").ConfigureAwait(false);
                return CliApp.Refused;
            }
            await WritePage(stdout, new AuditPage(all, total, all.Count, 0), p.GetValue(format) == "json", showTotal: false).ConfigureAwait(false);
            return 0;
        });
        audit.Subcommands.Add(replay);

        // stats
        var statsLast = new Option<string?>("--last") { Description = "A window ending now: 1h, 24h, 7d (default: everything)" };
        var stats = new Command("stats", "Counts, latency and chain verification") { agent, statsLast, format, dir };
        stats.SetAction(async (p, ct) =>
        {
            var q = new AuditQuery { Agent = p.GetValue(agent) };
            if (p.GetValue(statsLast) is { } l)
            {
                if (!AuditQuery.TryParseWindow(l, out var w)) return await Usage(stderr, $"'{l}' is not a window such as 1h, 24h or 7d").ConfigureAwait(false);
                q = q with { Last = w };
            }
            if (await Open(p.GetValue(dir), stderr).ConfigureAwait(false) is not { } reader) return CliApp.Refused;
            var report = await reader.StatsAsync(q, verifyChain: true, ct).ConfigureAwait(false);
            if (p.GetValue(format) == "json") await stdout.WriteLineAsync(Json(StatsJson(report))).ConfigureAwait(false);
            else await stdout.WriteAsync(RenderStats(report, p.GetValue(statsLast))).ConfigureAwait(false);
            return report.Chain is { IsIntact: false } ? ChainBroken : 0;
        });
        audit.Subcommands.Add(stats);

        // verify
        var verify = new Command("verify", "Verify the hash chain offline (exit 0 only when intact)") { format, dir, cluster };
        verify.SetAction(async (p, ct) =>
        {
            if (p.GetValue(cluster))
            {
                if (p.GetValue(dir) is not null) return await Usage(stderr, "--cluster verifies every node's chain through the gateway; it takes no --dir").ConfigureAwait(false);
                return await ClusterCall(client, ControlProtocol.Methods.AuditClusterVerify, null, p.GetValue(format) == "json", RenderClusterVerification,
                    r => r["intact"]?.GetValue<bool>() == true ? 0 : ChainBroken, stdout, stderr, ct).ConfigureAwait(false);
            }
            var path = p.GetValue(dir) ?? DefaultDirectory();
            if (!Directory.Exists(path))
            {
                await stderr.WriteLineAsync($"error: no audit directory at {path}").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var report = await Task.Run(() => AuditVerifier.VerifyDirectory(path), ct).ConfigureAwait(false);
            if (p.GetValue(format) == "json") await stdout.WriteLineAsync(Json(ChainJson(report, path))).ConfigureAwait(false);
            else await stdout.WriteAsync(RenderChain(report, path)).ConfigureAwait(false);
            return report.IsIntact ? 0 : ChainBroken;
        });
        audit.Subcommands.Add(verify);

        // rotate
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var rotate = new Command("rotate", "Apply retention now (audit.retention_days): delete expired day files after the 7-day warning") { json };
        rotate.SetAction(async (p, ct) =>
        {
            var r = await client.CallAsync(ControlProtocol.Methods.AuditRotate, null, ct).ConfigureAwait(false);
            if (!r.Ok)
            {
                await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
                return CliApp.Refused;
            }
            await stdout.WriteAsync(p.GetValue(json) ? Json(r.Result) + "\n" : RenderRotation(r.Result!)).ConfigureAwait(false);
            return 0;
        });
        audit.Subcommands.Add(rotate);
        return audit;
    }

    // A cluster-wide request through the local gateway (ADR 0059); the exit code follows the answer.
    private static async Task<int> ClusterCall(ControlClient client, string method, JsonObject? parameters, bool json, Func<JsonNode, string> render,
        Func<JsonNode, int> exit, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var r = await client.CallAsync(method, parameters, ct).ConfigureAwait(false);
        if (!r.Ok || r.Result is not { } result)
        {
            await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
            return CliApp.Refused;
        }
        await stdout.WriteAsync(json ? Json(result) + "\n" : render(result)).ConfigureAwait(false);
        return exit(result);
    }

    private static string RenderClusterPage(JsonNode r)
    {
        var entries = r["entries"]!.AsArray();
        var sb = new System.Text.StringBuilder(Table(
            ["TIME", "NODE", "ACTOR", "CAPABILITY", "STATUS", "TIER", "MS", "SUMMARY"],
            entries.Select(e => (IReadOnlyList<string>)
            [
                e!["timestamp"]?.GetValue<string>() ?? "-",
                e["node"]?.GetValue<string>() ?? "-",
                $"{e["actor"]?["type"]?.GetValue<string>()}:{e["actor"]?["name"]?.GetValue<string>()}",
                e["kind"]?.GetValue<string>() is "call" or null ? e["capability"]?.GetValue<string>() ?? "-" : $"{e["capability"]} ({e["kind"]})",
                e["result"]?["status"]?.GetValue<string>() ?? "-",
                e["policy_decision"]?["tier"]?.GetValue<string>() ?? "-",
                e["result"]?["duration_ms"]?.ToJsonString() ?? "-",
                Shorten(e["result"]?["summary"]?.GetValue<string>() ?? "", 60),
            ])));
        sb.Append(entries.Count == 0 ? "No matching entries.\n" : $"Showing {entries.Count} of {r["total"]} across {r["nodes"]!.AsArray().Count} node(s).\n");
        foreach (var n in r["nodes"]!.AsArray().Where(n => n!["cut"]?.GetValue<bool>() == true || n["error"] is not null))
            sb.Append($"warning: node {n!["node"]}: {(n["error"]?.GetValue<string>() ?? "answer cut at 1 MiB; narrow the query")}\n");
        foreach (var m in r["missing"]!.AsArray()) sb.Append($"warning: node {m!["node"]} did not answer ({m["reason"]}): its entries are not shown\n");
        return sb.ToString();
    }

    private static string RenderClusterVerification(JsonNode r)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var n in r["nodes"]!.AsArray())
        {
            sb.Append($"{n!["node"]}: {n["summary"]} ({n["directory"]})\n");
            foreach (var i in n["issues"]!.AsArray())
                sb.Append($"  {i!["kind"]}: file {i["file"]}, entry {i["entry_index"]}, offset {i["offset"]}: {i["detail"]}\n");
        }
        foreach (var m in r["missing"]!.AsArray()) sb.Append($"{m!["node"]}: NOT VERIFIED, no answer ({m["reason"]})\n");
        sb.Append(r["intact"]?.GetValue<bool>() == true ? "Every node's chain is intact.\n" : "The cluster's audit is NOT intact (see above).\n");
        return sb.ToString();
    }

    private static string RenderRotation(JsonNode r)
    {
        var deleted = r["deleted"]!.AsArray().Select(d => d!.GetValue<string>()).ToList();
        var lines = new List<string>
        {
            deleted.Count == 0
                ? $"No day file deleted (retention {r["retention_days"]} days)."
                : $"Deleted {deleted.Count} expired day file(s) (retention {r["retention_days"]} days): {string.Join(", ", deleted)}",
        };
        if (r["first_deletion_not_before"]?.GetValue<string>() is { } notBefore) lines.Add($"First deletion not before {notBefore}.");
        lines.AddRange(r["warnings"]!.AsArray().Select(w => "warning: " + w!.GetValue<string>()));
        return string.Join("\n", lines) + "\n";
    }

    private static async Task<AuditReader?> Open(string? dir, TextWriter stderr)
    {
        var path = dir ?? DefaultDirectory();
        if (Directory.Exists(path)) return new AuditReader(path);
        await stderr.WriteLineAsync($"error: no audit directory at {path}").ConfigureAwait(false);
        return null;
    }

    private static async Task<int> Usage(TextWriter stderr, string message)
    {
        await stderr.WriteLineAsync($"error: {message}").ConfigureAwait(false);
        return CliApp.Usage;
    }

    private static async Task WritePage(TextWriter stdout, AuditPage page, bool json, bool showTotal)
    {
        if (json)
        {
            await stdout.WriteLineAsync(Json(new JsonObject
            {
                ["entries"] = new JsonArray([.. page.Entries.Select(e => (JsonNode)AuditJson.ToJson(e))]),
                ["total"] = page.Total,
            })).ConfigureAwait(false);
            return;
        }
        await stdout.WriteAsync(Table(
            ["TIME", "ACTOR", "SESSION", "CAPABILITY", "STATUS", "TIER", "MS", "SUMMARY"],
            page.Entries.Select(v => (IReadOnlyList<string>)
            [
                v.Entry.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                v.Entry.Actor.ToString(),
                v.Entry.SessionId ?? "-",
                v.Entry.Kind == AuditEntryKind.Call ? v.Entry.Capability : $"{v.Entry.Capability} ({v.Entry.Kind.ToWire()})",
                v.Entry.Status.ToWire(),
                v.Entry.PolicyDecision?.Tier.ToWire() ?? "-",
                v.Entry.DurationMs.ToString(CultureInfo.InvariantCulture),
                Shorten(v.Entry.OutputSummary, 60),
            ]))).ConfigureAwait(false);
        if (showTotal)
            await stdout.WriteLineAsync(page.Entries.Count == 0
                ? "No matching entries."
                : $"Showing {page.Offset + 1}-{page.Offset + page.Entries.Count} of {page.Total}.").ConfigureAwait(false);
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static string RenderStats(AuditStatsReport r, string? window)
    {
        var s = r.Stats;
        var lines = new List<string>
        {
            $"Calls:     {s.Total}{(window is null ? "" : $" (last {window})")}",
            $"Outcomes:  {(s.ByStatus.Count == 0 ? "-" : string.Join(", ", s.ByStatus.Select(kv => $"{kv.Key} {kv.Value}")))}",
            $"Other:     {(s.OtherKinds.Count == 0 ? "-" : string.Join(", ", s.OtherKinds.Select(kv => $"{kv.Key} {kv.Value}")))}",
            $"Latency:   p50 {Ms(s.P50DurationMs)}, p95 {Ms(s.P95DurationMs)}, mean {(s.AverageDurationMs is { } a ? a.ToString("0.0", CultureInfo.InvariantCulture) + " ms" : "-")}",
            "Top capabilities:",
        };
        lines.AddRange(s.ByCapability.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(10)
            .Select(kv => $"  {kv.Key,-32} {kv.Value}"));
        lines.Add($"Chain:     {(r.Chain is { } c ? (c.IsIntact ? c.Summary : $"BROKEN ({c.Issues.Length} issue(s) in {c.Entries} entries across {c.Files} files)") : r.ChainSummary)}");
        if (r.Chain is { IsIntact: false } broken) lines.AddRange(broken.Issues.Select(Issue));
        return string.Join("\n", lines) + "\n";

        static string Ms(long? v) => v is { } x ? $"{x} ms" : "-";
    }

    private static string RenderChain(ChainReport r, string path)
    {
        if (r.IsIntact) return $"{r.Summary}\n{path}\n";
        var lines = new List<string> { $"BROKEN: {r.Issues.Length} issue(s) in {r.Entries} entries across {r.Files} files ({path})" };
        lines.AddRange(r.Issues.Select(Issue));
        return string.Join("\n", lines) + "\n";
    }

    private static string Issue(ChainIssue i) =>
        $"  {i.Kind.ToWire()}: file {i.File}, entry {i.EntryIndex}, offset {i.Offset}: {i.Detail}";

    private static JsonObject ChainJson(ChainReport r, string path) => new()
    {
        ["directory"] = path,
        ["intact"] = r.IsIntact,
        ["entries"] = r.Entries,
        ["files"] = r.Files,
        ["last_hash"] = "sha256:" + r.LastHash,
        ["summary"] = r.IsIntact ? r.Summary : $"BROKEN: {r.Issues.Length} issue(s)",
        ["issues"] = new JsonArray([.. r.Issues.Select(i => (JsonNode)new JsonObject
        {
            ["kind"] = i.Kind.ToWire(),
            ["file"] = i.File,
            ["entry_index"] = i.EntryIndex,
            ["offset"] = i.Offset,
            ["detail"] = i.Detail,
        })]),
    };

    private static JsonObject StatsJson(AuditStatsReport r) => new()
    {
        ["total"] = r.Stats.Total,
        ["by_status"] = new JsonObject([.. r.Stats.ByStatus.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        ["by_capability"] = new JsonObject([.. r.Stats.ByCapability.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        ["other_kinds"] = new JsonObject([.. r.Stats.OtherKinds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        ["latency_ms"] = new JsonObject { ["p50"] = r.Stats.P50DurationMs, ["p95"] = r.Stats.P95DurationMs, ["mean"] = r.Stats.AverageDurationMs },
        ["chain"] = r.Chain is { } c ? ChainJson(c, "") : null,
        ["integrity"] = r.Chain is { } c2 ? AuditJson.Integrity(c2) : "not checked",
    };
}
