using System.Text.Json.Nodes;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>
/// The JSON shapes of policy reports shared by the control socket and the CLI's <c>--json</c> output
/// (<c>config validate</c>, <c>config check-policy</c>, <c>config show policy</c>).
/// </summary>
public static class PolicyJson
{
    /// <summary><c>{severity, code, file, line, column, message, text}</c>; <c>text</c> is the one-line rendering.</summary>
    public static JsonObject Diagnostic(PolicyDiagnostic d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return new JsonObject
        {
            ["severity"] = d.Severity == DiagnosticSeverity.Error ? "error" : "warning",
            ["code"] = d.Code,
            ["file"] = d.Location.File,
            ["line"] = d.Location.Line,
            ["column"] = d.Location.Column,
            ["message"] = d.Message,
            ["text"] = d.ToString(),
        };
    }

    /// <summary>A list of diagnostics.</summary>
    public static JsonArray Diagnostics(IEnumerable<PolicyDiagnostic> diagnostics) => new([.. diagnostics.Select(d => (JsonNode)Diagnostic(d))]);

    /// <summary>The <c>config validate</c> report.</summary>
    public static JsonObject Report(PolicyValidationReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var coverage = new JsonObject();
        foreach (var (tier, count) in r.Coverage) coverage[tier.ToWire()] = count;
        return new JsonObject
        {
            ["file"] = r.File,
            ["valid"] = r.Valid,
            ["layer"] = LayerName(r.Layer),
            ["name"] = r.Name,
            ["extends"] = r.Extends,
            ["rules"] = r.RuleCount,
            ["examples"] = r.ExampleCount,
            ["capabilities"] = r.CapabilityCount,
            ["covered"] = r.CoveredCount,
            ["conditional"] = r.ConditionalCount,
            ["coverage"] = coverage,
            ["default_tier"] = r.DefaultTier?.ToWire(),
            ["rate_limits"] = new JsonArray([.. r.RateLimits.Select(l => (JsonNode)new JsonObject
            {
                ["rule"] = l.RuleReference,
                ["capability"] = l.Capability,
                ["max"] = l.Limit.Max,
                ["window_seconds"] = l.Limit.WindowSeconds,
                ["on_exceed"] = l.Limit.OnExceed?.ToWire(),
            })]),
            ["errors"] = Diagnostics(r.Errors),
            ["failing_examples"] = Diagnostics(r.FailingExamples),
            ["warnings"] = Diagnostics(r.Warnings),
        };
    }

    /// <summary>
    /// A decision as <c>config check-policy</c> reports it: tier, rule, where the rule is written (<c>file</c> and
    /// <c>line</c>; or <c>template</c> and <c>line</c> for a rule of a built-in template, with <c>via</c> the file
    /// that extends it), reason, revision, trace.
    /// </summary>
    public static JsonObject Decision(Decision d)
    {
        ArgumentNullException.ThrowIfNull(d);
        var (file, line) = SplitReference(d.RuleReference);
        var template = PolicyTemplates.TemplateOf(d.RuleReference);
        return new JsonObject
        {
            ["tier"] = d.Tier.ToWire(),
            ["rule"] = d.RuleReference,
            ["file"] = file,
            ["template"] = template,
            ["via"] = template is null ? null : d.Trace.FirstOrDefault(o => o.Layer == d.DecidingLayer).File,
            ["line"] = line,
            ["reason"] = d.Reason,
            ["layer"] = LayerName(d.DecidingLayer),
            ["revision"] = d.PolicyRevision,
            ["rate_limited"] = d.IsRateLimited,
            ["trace"] = d.FormatTrace(),
            ["layers"] = new JsonArray([.. d.Trace.Select(o => (JsonNode)new JsonObject
            {
                ["layer"] = LayerName(o.Layer),
                ["file"] = o.File,
                ["tier"] = o.Tier?.ToWire(),
                ["rule"] = o.RuleReference,
            })]),
        };
    }

    /// <summary>The wire name of a layer: <c>protections</c>, <c>system</c>, <c>org</c>, <c>agent</c>, <c>user</c>.</summary>
    public static string LayerName(PolicyLayer layer) => layer switch
    {
        PolicyLayer.Protection => "protections",
        PolicyLayer.System => "system",
        PolicyLayer.Org => "org",
        PolicyLayer.Agent => "agent",
        _ => "user",
    };

    /// <summary>
    /// Splits <c>file:line</c>. <c>system:…</c> and <c>default:…</c> references have neither; a template rule
    /// (<c>template:&lt;name&gt;:&lt;line&gt;</c>) has a line but no file on disk.
    /// </summary>
    public static (string? File, int? Line) SplitReference(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var colon = reference.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(reference.AsSpan(colon + 1), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var line))
            return (null, null);
        return (PolicyTemplates.TemplateOf(reference) is null ? reference[..colon] : null, line);
    }
}
