using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using static KruxOS.Cli.Output;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>
/// <c>kruxos config …</c>: <c>validate &lt;file&gt;</c> (local, no gateway), <c>check-policy</c>,
/// <c>show policy</c> and <c>set policy &lt;template&gt;</c> (over the control socket).
/// </summary>
internal static class ConfigCommands
{
    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var config = new Command("config", "Policy configuration: validate files, explain decisions, show or set the policy");
        config.Subcommands.Add(Validate(stdout, stderr, json));
        config.Subcommands.Add(CheckPolicy(client, stdout, stderr, json));

        var show = new Command("show", "Show configuration");
        var showPolicy = new Command("policy", "The policy in force: template, revision, files loaded, load errors") { json };
        showPolicy.SetAction(async (p, ct) =>
        {
            var r = await client.CallAsync(M.PolicyShow, null, ct).ConfigureAwait(false);
            if (!r.Ok) return await Failed(stderr, r.ErrorMessage, r.ErrorType).ConfigureAwait(false);
            await stdout.WriteAsync(p.GetValue(json) ? Json(r.Result) + "\n" : RenderStatus(r.Result!)).ConfigureAwait(false);
            return 0;
        });
        show.Subcommands.Add(showPolicy);
        config.Subcommands.Add(show);

        var set = new Command("set", "Change configuration");
        var template = new Argument<string>("template") { Description = $"One of: {string.Join(", ", PolicyTemplates.Names)}" };
        var setPolicy = new Command("policy", "Write a shipped template as org.yaml (the previous one is backed up); it is in force after the reload") { template, json };
        setPolicy.SetAction(async (p, ct) =>
        {
            var name = p.GetValue(template)!;
            if (!PolicyTemplates.Names.Contains(name))
            {
                await stderr.WriteLineAsync($"error: no policy template '{name}'; known: {string.Join(", ", PolicyTemplates.Names)}").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var r = await client.CallAsync(M.PolicySet, new JsonObject { ["template"] = name }, ct).ConfigureAwait(false);
            if (!r.Ok) return await Failed(stderr, r.ErrorMessage, r.ErrorType).ConfigureAwait(false);
            var inForce = r.Result!["in_force"]?.GetValue<bool>() == true;
            if (p.GetValue(json)) await stdout.WriteLineAsync(Json(r.Result)).ConfigureAwait(false);
            else
            {
                var sb = new StringBuilder();
                sb.Append("Wrote ").Append(Str(r.Result, "written")).Append('\n');
                if (r.Result["backup"] is JsonValue) sb.Append("Previous org.yaml saved as ").Append(Str(r.Result, "backup")).Append('\n');
                sb.Append(inForce ? $"Policy '{name}' is in force (revision {Str(r.Result, "revision")}).\n"
                    : $"Policy '{name}' is NOT in force; the policy files have errors:\n");
                await stdout.WriteAsync(sb.ToString()).ConfigureAwait(false);
                if (!inForce) await stdout.WriteAsync(RenderStatus(r.Result)).ConfigureAwait(false);
            }
            return inForce ? 0 : CliApp.Refused;
        });
        set.Subcommands.Add(setPolicy);
        config.Subcommands.Add(set);
        return config;
    }

    private static Command Validate(TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var file = new Argument<string>("file") { Description = "Policy file (its place decides its layer: agents/<name>.yaml, org.yaml, …)" };
        var validate = new Command("validate", "Check a policy file without a gateway: validity, coverage, rate limits, examples, warnings") { file, json };
        validate.SetAction(async (p, ct) =>
        {
            var path = p.GetValue(file)!;
            string yaml;
            // Never more than one byte past the size limit: a larger file is reported as too large, not read whole.
            try { yaml = await ReadBoundedAsync(path, YamlLimits.Policy.MaxBytes, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await stderr.WriteLineAsync($"error: cannot read {path}: {e.Message}").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var report = PolicyValidator.Validate(PolicyLocation(path), yaml, new CapabilityRegistry(DefinitionLoader.BuiltIn()));
            if (p.GetValue(json))
            {
                var node = PolicyJson.Report(report);
                node["path"] = path;
                await stdout.WriteLineAsync(Json(node)).ConfigureAwait(false);
            }
            else await stdout.WriteAsync(RenderReport(path, report)).ConfigureAwait(false);
            return report.Valid ? 0 : CliApp.Refused;
        });
        return validate;
    }

    private static async Task<string> ReadBoundedAsync(string path, int maxBytes, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0, useAsync: true);
        using var text = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (text.Length <= maxBytes && await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, maxBytes + 1 - text.Length)), ct).ConfigureAwait(false) is var n and > 0)
            text.Write(chunk, 0, n);
        return new UTF8Encoding(false).GetString(text.GetBuffer(), 0, (int)text.Length).TrimStart('\uFEFF');
    }

    private static Command CheckPolicy(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var agent = new Option<string>("--agent") { Description = "Agent name", Required = true };
        var capability = new Option<string>("--capability") { Description = "Capability, e.g. filesystem.write", Required = true };
        var args = new Option<string?>("--args") { Description = "Call arguments as a JSON object" };
        var check = new Command("check-policy", "Explain the decision the gateway's policy gives a call: tier, rule, trace") { agent, capability, args, json };
        check.SetAction(async (p, ct) =>
        {
            var parameters = new JsonObject { ["agent"] = p.GetValue(agent), ["capability"] = p.GetValue(capability) };
            if (p.GetValue(args) is { } text)
            {
                JsonNode? parsed;
                try { parsed = JsonNode.Parse(text); }
                catch (JsonException e)
                {
                    await stderr.WriteLineAsync($"error: --args is not valid JSON: {e.Message}").ConfigureAwait(false);
                    return CliApp.Usage;
                }
                if (parsed is not JsonObject o)
                {
                    await stderr.WriteLineAsync("error: --args must be a JSON object").ConfigureAwait(false);
                    return CliApp.Usage;
                }
                parameters["args"] = o;
            }
            var r = await client.CallAsync(M.PolicyCheck, parameters, ct).ConfigureAwait(false);
            if (!r.Ok) return await Failed(stderr, r.ErrorMessage, r.ErrorType).ConfigureAwait(false);
            var d = r.Result!;
            if (p.GetValue(json)) await stdout.WriteLineAsync(Json(d)).ConfigureAwait(false);
            else
            {
                var sb = new StringBuilder();
                sb.Append($"Agent:      {Str(d, "agent")}{(d["agent_known"]?.GetValue<bool>() == false ? " (no such agent yet)" : "")}\n");
                sb.Append($"Capability: {Str(d, "capability")}\n");
                sb.Append($"Tier:       {Str(d, "tier")}{(d["rate_limited"]?.GetValue<bool>() == true ? " (rate limited)" : "")}\n");
                sb.Append($"Rule:       {Str(d, "rule")}\n");
                if (d["file"] is JsonValue) sb.Append($"Source:     {Str(d, "file")} line {Str(d, "line")}\n");
                else if (d["template"] is JsonValue)
                    sb.Append($"Source:     built-in template {Str(d, "template")} line {Str(d, "line")} (not a file on disk; {Str(d, "via")} extends it)\n");
                sb.Append($"Reason:     {Str(d, "reason")}\n");
                sb.Append($"Revision:   {Str(d, "revision")}{(d["policy_loaded"]?.GetValue<bool>() == false ? " (no policy loaded: calls are refused)" : "")}\n");
                sb.Append($"Trace:      {Str(d, "trace")}\n");
                await stdout.WriteAsync(sb.ToString()).ConfigureAwait(false);
            }
            return 0;
        });
        return check;
    }

    /// <summary>
    /// The policy location a file stands for, so its layer is right: <c>…/agents/bot.yaml</c> is
    /// <c>agents/bot.yaml</c>, anything else is its file name (<c>org.yaml</c>; unknown names count as org).
    /// </summary>
    internal static string PolicyLocation(string path)
    {
        var full = Path.GetFullPath(path);
        var name = Path.GetFileName(full);
        var parent = Path.GetFileName(Path.GetDirectoryName(full));
        return parent == "agents" ? $"agents/{name}" : name;
    }

    internal static string RenderReport(string path, PolicyValidationReport r)
    {
        var sb = new StringBuilder();
        sb.Append($"File:          {path} (as {r.File}, layer {PolicyJson.LayerName(r.Layer)})\n");
        sb.Append($"Valid:         {(r.Valid ? "yes" : "NO")}\n");
        if (r.Valid)
        {
            if (r.Name is not null) sb.Append($"Name:          {r.Name}\n");
            if (r.Extends is not null) sb.Append($"Extends:       {r.Extends}\n");
            sb.Append($"Rules:         {r.RuleCount} ({r.ExampleCount} example(s) checked)\n");
            sb.Append($"Default tier:  {r.DefaultTier?.ToWire() ?? "none (each capability's definition tier)"}\n");
            sb.Append($"Coverage:      {r.CoveredCount} of {r.CapabilityCount} capabilities matched by a rule");
            sb.Append(r.ConditionalCount > 0 ? $", {r.ConditionalCount} depend on arguments\n" : "\n");
            foreach (var (tier, count) in r.Coverage) sb.Append($"  {tier.ToWire(),-18} {count}\n");
            sb.Append(r.RateLimits.IsEmpty ? "Rate limits:   none\n" : "Rate limits:\n");
            foreach (var l in r.RateLimits) sb.Append($"  {l.RuleReference,-24} {l.Capability,-24} {l.Limit}\n");
        }
        Section(sb, "Errors", r.Errors);
        Section(sb, "Failing examples", r.FailingExamples);
        Section(sb, "Warnings", r.Warnings);
        return sb.ToString();
    }

    private static string RenderStatus(JsonNode s)
    {
        var sb = new StringBuilder();
        sb.Append($"Policy:     {Str(s, "summary")}\n");
        sb.Append($"Template:   {(s["template"] is JsonValue ? Str(s, "template") : "none")}\n");
        sb.Append($"Revision:   {Str(s, "revision")}\n");
        sb.Append($"Source:     {Str(s, "source")}\n");
        sb.Append($"Loaded at:  {When(s, "loaded_at")}\n");
        var files = s["files"]?.AsArray() ?? [];
        sb.Append($"Files:      {(files.Count == 0 ? "none (system protections and definition tiers)" : string.Join(", ", files.Select(f => f!.GetValue<string>())))}\n");
        var errors = s["errors"]?.AsArray() ?? [];
        if (errors.Count > 0)
        {
            sb.Append($"Load errors (revision {Str(s, "rejected_revision")} rejected; the set above stays in force):\n");
            foreach (var e in errors) sb.Append("  ").Append(Str(e, "text")).Append('\n');
        }
        foreach (var w in s["warnings"]?.AsArray() ?? []) sb.Append("  ").Append(Str(w, "text")).Append('\n');
        return sb.ToString();
    }

    private static void Section(StringBuilder sb, string title, IReadOnlyCollection<PolicyDiagnostic> items)
    {
        if (items.Count == 0) return;
        sb.Append($"{title}:\n");
        foreach (var d in items) sb.Append("  ").Append(d).Append('\n');
    }

    private static async Task<int> Failed(TextWriter stderr, string? message, string? type)
    {
        await stderr.WriteLineAsync($"error: {message} ({type})").ConfigureAwait(false);
        return CliApp.Refused;
    }
}
