using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace KruxOS.Core.Policy;

/// <summary>The result of compiling a set of policy files: a <see cref="PolicySet"/>, or errors.</summary>
/// <param name="Set">The compiled set; null when there are errors.</param>
/// <param name="Errors">Problems that reject the set (file:line each).</param>
/// <param name="Warnings">Accepted but suspicious rules.</param>
public sealed record PolicyCompileResult(PolicySet? Set, ImmutableArray<PolicyDiagnostic> Errors, ImmutableArray<PolicyDiagnostic> Warnings)
{
    /// <summary>True when the set compiled.</summary>
    public bool Succeeded => Set is not null;
}

/// <summary>
/// Compiles policy YAML (the schema in <c>docs/policy.md</c>, which reads all three variants of spec §6.4)
/// into an indexed <see cref="PolicySet"/>. Files are passed in as text keyed by their path relative to
/// the policy root; Core does no file I/O. Examples written in the files are checked here, and a failing
/// example rejects its file.
/// </summary>
public static class PolicyCompiler
{
    /// <summary>Compiles every file. Paths: <c>system.yaml</c>, <c>org.yaml</c>, <c>user.yaml</c>, <c>agents/&lt;name&gt;.yaml</c>.</summary>
    public static PolicyCompileResult Compile(IReadOnlyDictionary<string, string> files, CapabilityRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(registry);
        var index = new PolicyIndex(registry);
        var diagnostics = new List<PolicyDiagnostic>();
        CompiledPolicyFile? system = null, org = null, user = null;
        var agents = new Dictionary<string, CompiledPolicyFile>(StringComparer.Ordinal);

        foreach (var (rawPath, text) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var path = NormalizePath(rawPath);
            if (!TryClassify(path, out var layer, out var agent, out var why))
            {
                diagnostics.Add(new(DiagnosticSeverity.Error, DiagnosticCodes.UnknownFile, new SourceLocation(path, 1), why));
                continue;
            }
            var compiled = CompileFile(path, text, layer, agent, index, diagnostics);
            if (compiled is null) continue;
            switch (layer)
            {
                case PolicyLayer.System: system = compiled; break;
                case PolicyLayer.Org: org = compiled; break;
                case PolicyLayer.User: user = compiled; break;
                default:
                    if (agents.ContainsKey(agent!))
                        diagnostics.Add(new(DiagnosticSeverity.Error, DiagnosticCodes.UnknownFile, new SourceLocation(path, 1),
                            $"a second policy file for agent '{agent}'"));
                    else agents[agent!] = compiled;
                    break;
            }
        }

        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray();
        var warnings = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToImmutableArray();
        if (!errors.IsEmpty) return new PolicyCompileResult(null, errors, warnings);
        var set = new PolicySet(index, system, org, agents.ToFrozenDictionary(StringComparer.Ordinal), user, Revision(files), warnings);
        return new PolicyCompileResult(set, errors, warnings);
    }

    /// <summary>
    /// Compiles one file on its own (for <c>kruxos config validate</c> and templates). <paramref name="path"/> decides the
    /// layer; a path that is not a policy location is compiled as an org-level file.
    /// </summary>
    public static (CompiledPolicyFile? File, ImmutableArray<PolicyDiagnostic> Diagnostics) CompileSingle(
        string path, string yaml, CapabilityRegistry registry)
    {
        var normalized = NormalizePath(path);
        if (!TryClassify(normalized, out var layer, out var agent, out _)) { layer = PolicyLayer.Org; agent = null; }
        var diagnostics = new List<PolicyDiagnostic>();
        var file = CompileFile(normalized, yaml, layer, agent, new PolicyIndex(registry), diagnostics);
        return (file, [.. diagnostics]);
    }

    /// <summary>The revision of a set of files: the first 12 hex digits of a SHA-256 over paths and contents.</summary>
    public static string Revision(IReadOnlyDictionary<string, string> files)
    {
        var sb = new StringBuilder();
        foreach (var (path, text) in files.OrderBy(f => NormalizePath(f.Key), StringComparer.Ordinal))
            sb.Append(NormalizePath(path)).Append('\0').Append(text).Append('\0');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..12];
    }

    /// <summary>The layer a path stands for; a path that is not a policy location counts as org (as in <see cref="CompileSingle"/>).</summary>
    internal static PolicyLayer LayerOf(string path) =>
        TryClassify(NormalizePath(path), out var layer, out _, out _) ? layer : PolicyLayer.Org;

    /// <summary>
    /// The layer name a policy file stands for in revision history: <c>system</c>, <c>org</c>, <c>user</c> or
    /// <c>agent:&lt;name&gt;</c>; a path that is not a policy location counts as <c>org</c> (as in <see cref="CompileSingle"/>).
    /// </summary>
    public static string LayerNameOf(string path)
    {
        if (!TryClassify(NormalizePath(path), out var layer, out var agent, out _)) return "org";
        return layer switch
        {
            PolicyLayer.System => "system",
            PolicyLayer.User => "user",
            PolicyLayer.Agent => "agent:" + agent,
            _ => "org",
        };
    }

    internal static string NormalizePath(string path)
    {
        var p = path.Replace('\\', '/');
        while (p.StartsWith("./", StringComparison.Ordinal)) p = p[2..];
        return p.TrimStart('/');
    }

    private static bool TryClassify(string path, out PolicyLayer layer, out string? agent, out string why)
    {
        agent = null;
        why = string.Empty;
        var stem = path.EndsWith(".yaml", StringComparison.Ordinal) ? path[..^5]
            : path.EndsWith(".yml", StringComparison.Ordinal) ? path[..^4] : null;
        layer = PolicyLayer.Org;
        switch (stem)
        {
            case null: why = $"'{path}' is not a .yaml file"; return false;
            case "system": layer = PolicyLayer.System; return true;
            case "org": layer = PolicyLayer.Org; return true;
            case "user": layer = PolicyLayer.User; return true;
        }
        if (stem.StartsWith("agents/", StringComparison.Ordinal) && stem.IndexOf('/', 7) < 0)
        {
            if (!AgentName.TryParse(stem[7..], out var name, out var reason)) { why = $"'{path}': {reason}"; return false; }
            layer = PolicyLayer.Agent;
            agent = name.Value;
            return true;
        }
        why = $"'{path}' is not a policy location: use system.yaml, org.yaml, user.yaml or agents/<name>.yaml";
        return false;
    }

    internal static CompiledPolicyFile? CompileFile(
        string path, string yaml, PolicyLayer layer, string? agent, PolicyIndex index, List<PolicyDiagnostic> diagnostics,
        bool allowExtends = true)
    {
        var parser = new FileParser(path, diagnostics);
        var parsed = parser.Parse(yaml);
        // Keep going after errors in the rules that did parse, so one run reports failing examples too.
        if (parsed is null) return null;

        if (agent is not null && parsed.Agent is { } declared && declared.Value != agent)
            parser.Error(DiagnosticCodes.InvalidValue, declared.Location, $"'agent: {declared.Value}' does not match the file name (agent '{agent}')");

        var rules = parsed.Rules.ToImmutableArray();
        var ownRules = rules;
        Tier? defaultTier = parsed.Default?.Tier;
        if (parsed.Extends is { } extends)
        {
            if (!allowExtends)
                parser.Error(DiagnosticCodes.InvalidValue, extends.Location, "a template cannot extend another policy");
            else if (PolicyTemplates.TryGetCompiled(extends.Value, out var template))
            {
                // Own rules first (first match wins), then the template's rules, then one catch-all.
                var combined = ImmutableArray.CreateBuilder<PolicyRule>();
                combined.AddRange(rules.Where(r => !r.IsDefault));
                combined.AddRange(template.Rules.Where(r => !r.IsDefault).Select(r => r with { CounterKey = path + ">" + r.Reference }));
                var catchAll = rules.FirstOrDefault(r => r.IsDefault) ?? template.Rules.FirstOrDefault(r => r.IsDefault);
                if (catchAll is not null) combined.Add(catchAll);
                defaultTier ??= template.DefaultTier;
                rules = combined.ToImmutable();
            }
            else
                parser.Error(DiagnosticCodes.InvalidValue, extends.Location,
                    $"unknown template '{extends.Value}'; known: {string.Join(", ", PolicyTemplates.Names)}");
        }
        CheckExamples(ownRules, rules, parser);
        Lint(ownRules, index, parser);
        if (parser.ErrorCount > 0) return null;

        return new CompiledPolicyFile(path, layer, parsed.Name?.Value, parsed.Description?.Value, parsed.Extends?.Value,
            defaultTier, rules, index, parsed.TrashRetentionHours, parsed.Network, parsed.GitRemotes);
    }

    // A match example must be decided by its rule within the file (so an earlier rule that steals it is
    // reported); a not_match example must not be matched by the rule at all.
    private static void CheckExamples(ImmutableArray<PolicyRule> ownRules, ImmutableArray<PolicyRule> allRules, FileParser parser)
    {
        foreach (var rule in ownRules)
        foreach (var example in rule.Examples)
        {
            if (example.ShouldMatch)
            {
                var decider = PolicyEngine.FirstMatch(allRules, example.Capability, example.Arguments, out _);
                if (!ReferenceEquals(decider, rule))
                    parser.Error(DiagnosticCodes.ExampleFailed, example.Source,
                        $"example {Describe(example)} should be decided by the rule at line {rule.Source.Line}, but "
                        + (decider is null ? "no rule in the file matches it" : $"the rule at line {decider.Source.Line} ({decider.Pattern} → {decider.Tier.ToWire()}) decides it first"));
            }
            else if (PolicyEngine.RuleMatches(rule, example.Capability, example.Arguments, out _) == ConditionResult.Match)
                parser.Error(DiagnosticCodes.ExampleFailed, example.Source,
                    $"example {Describe(example)} should not match the rule at line {rule.Source.Line} ({rule.Pattern} → {rule.Tier.ToWire()}), but it does");
        }
    }

    private static string Describe(PolicyExample e) => $"{e.Capability} {e.Arguments.GetRawText()}";

    private static void Lint(ImmutableArray<PolicyRule> rules, PolicyIndex index, FileParser parser)
    {
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = rules[i];
            if (rule.IsDefault) continue;
            var registered = index.Names.Where(rule.Pattern.Matches).ToList();
            if (index.Count > 0 && registered.Count == 0 && !SystemProtections.IsProtectedName(rule.Pattern))
                parser.Warn(DiagnosticCodes.NoSuchCapability, rule.Source, $"'{rule.Pattern}' matches no registered capability");

            PolicyRule? coveredBy = null;
            PolicyRule? duplicateOf = null;
            for (var j = 0; j < i; j++)
            {
                var earlier = rules[j];
                if (earlier.IsUnconditional && rule.Pattern.IsCoveredBy(earlier.Pattern)) { coveredBy = earlier; break; }
                if (!earlier.IsUnconditional && rule.Pattern.IsCoveredBy(earlier.Pattern)
                    && rule.Conditions.Length == earlier.Conditions.Length && rule.Conditions.All(earlier.Conditions.Contains))
                    duplicateOf ??= earlier;
            }
            if (coveredBy is not null)
            {
                parser.Warn(DiagnosticCodes.Unreachable, rule.Source,
                    $"rule '{rule.Pattern}' can never apply: the unconditional rule '{coveredBy.Pattern}' at line {coveredBy.Source.Line} matches first");
                continue;
            }
            if (duplicateOf is not null)
            {
                parser.Warn(DiagnosticCodes.Shadowed, rule.Source,
                    $"rule '{rule.Pattern}' is shadowed by the rule at line {duplicateOf.Source.Line}, which has the same conditions");
                continue;
            }
            if (registered.Count > 0 && registered.All(name => rules.Take(i).Any(e => e.IsUnconditional && e.Pattern.Matches(name))))
                parser.Warn(DiagnosticCodes.Shadowed, rule.Source,
                    $"rule '{rule.Pattern}' is shadowed: every registered capability it matches is decided by earlier unconditional rules");
        }
    }

    private sealed record Located<T>(T Value, SourceLocation Location);

    private sealed class ParsedFile
    {
        public Located<string>? Name, Description, Extends, Agent;
        public PolicyRule? Default;
        public List<PolicyRule> Rules { get; } = [];
        public int? TrashRetentionHours;
        public NetworkAllowlist? Network;
        public ImmutableArray<string>? GitRemotes;
    }

    /// <summary>Walks the YAML node tree, reporting every problem with its line instead of stopping at the first.</summary>
    private sealed class FileParser(string path, List<PolicyDiagnostic> diagnostics)
    {
        private static readonly FrozenSet<string> TopKeys = FrozenSet.Create(StringComparer.Ordinal,
            "name", "version", "description", "agent", "extends", "defaults", "capabilities", "rules", "overrides",
            "trash_retention_hours", "network", "git");
        private static readonly FrozenSet<string> RuleKeys = FrozenSet.Create(StringComparer.Ordinal,
            "capability", "match", "tier", "reason", "conditions", "condition", "rate_limit", "examples", "description");
        private static readonly FrozenSet<string> MapEntryKeys = FrozenSet.Create(StringComparer.Ordinal,
            "tier", "reason", "conditions", "condition", "rate_limit", "rules", "examples", "description");
        private static readonly FrozenSet<string> SubRuleKeys = FrozenSet.Create(StringComparer.Ordinal,
            "tier", "reason", "conditions", "condition", "rate_limit", "examples", "description");
        private static readonly FrozenSet<string> ConditionKeys = FrozenSet.Create(StringComparer.Ordinal,
            "argument", "path_prefix", "path_glob", "content_size_lt", "content_size_gte", "equals", "matches");
        private static readonly FrozenSet<string> RateKeys = FrozenSet.Create(StringComparer.Ordinal,
            "max", "window", "on_exceed", "max_per_hour", "max_per_minute", "escalate_to");

        public int ErrorCount { get; private set; }

        public void Error(string code, SourceLocation at, string message)
        {
            ErrorCount++;
            diagnostics.Add(new PolicyDiagnostic(DiagnosticSeverity.Error, code, at, message));
        }

        public void Warn(string code, SourceLocation at, string message) =>
            diagnostics.Add(new PolicyDiagnostic(DiagnosticSeverity.Warning, code, at, message));

        private SourceLocation At(YamlNode node) => new(path, (int)node.Start.Line, (int)node.Start.Column);

        public ParsedFile? Parse(string yaml)
        {
            // Before the recursive parse: a file nested too deep would overflow the stack (and kill the process).
            if (YamlLimits.Policy.Check(yaml) is { } tooBig)
            {
                Error(DiagnosticCodes.LimitExceeded, new SourceLocation(path, tooBig.Line, tooBig.Column), tooBig.Message);
                return null;
            }
            var stream = new YamlStream();
            try { stream.Load(new StringReader(yaml)); }
            catch (YamlException e)
            {
                Error(DiagnosticCodes.Syntax, new SourceLocation(path, (int)e.Start.Line, (int)e.Start.Column), e.InnerException?.Message ?? e.Message);
                return null;
            }
            var result = new ParsedFile();
            if (stream.Documents.Count == 0) return result;
            if (stream.Documents.Count > 1)
            {
                Error(DiagnosticCodes.Syntax, At(stream.Documents[1].RootNode), "a policy file holds one YAML document");
                return null;
            }
            var root = stream.Documents[0].RootNode;
            if (root is YamlScalarNode { Value: null or "" or "~" or "null" }) return result;
            if (root is not YamlMappingNode top)
            {
                Error(DiagnosticCodes.InvalidValue, At(root), "a policy file is a mapping of keys such as 'rules' or 'capabilities'");
                return null;
            }
            var sawRules = false;
            foreach (var (keyNode, value) in top.Children)
            {
                var key = KeyOf(keyNode, TopKeys, "policy file");
                switch (key)
                {
                    case null: break;
                    case "name": result.Name = LocatedString(value); break;
                    case "description": result.Description = LocatedString(value); break;
                    case "agent": result.Agent = LocatedString(value); break;
                    case "extends": result.Extends = LocatedString(value); break;
                    case "version": _ = ScalarText(value); break;
                    case "defaults": result.Default = ParseDefaults(value); break;
                    case "capabilities": ParseCapabilityMap(value, result.Rules); break;
                    case "rules" or "overrides":
                        if (sawRules) Error(DiagnosticCodes.InvalidValue, At(keyNode), "use one list of rules: 'rules' or 'overrides', not both");
                        sawRules = true;
                        ParseRuleList(value, result.Rules);
                        break;
                    case "trash_retention_hours":
                        if (Integer(value) is { } hours and > 0 and <= int.MaxValue) result.TrashRetentionHours = (int)hours;
                        else Error(DiagnosticCodes.InvalidValue, At(value), "'trash_retention_hours' must be a positive number of hours");
                        break;
                    case "network": result.Network = ParseNetwork(value); break;
                    case "git": result.GitRemotes = ParseGit(value); break;
                }
            }
            if (result.Default is not null) result.Rules.Add(result.Default);
            return result;
        }

        private static bool IsNull(YamlNode node) => node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

        private string? KeyOf(YamlNode keyNode, FrozenSet<string> allowed, string where)
        {
            var key = (keyNode as YamlScalarNode)?.Value;
            if (key is not null && allowed.Contains(key)) return key;
            Error(DiagnosticCodes.UnknownKey, At(keyNode),
                $"unknown key '{key ?? keyNode.ToString()}' in {where}; expected one of: {string.Join(", ", allowed.Order(StringComparer.Ordinal))}");
            return null;
        }

        private string? ScalarText(YamlNode node)
        {
            if (node is YamlScalarNode s) return s.Value;
            Error(DiagnosticCodes.InvalidValue, At(node), "expected a single value here");
            return null;
        }

        private Located<string>? LocatedString(YamlNode node) =>
            ScalarText(node) is { } text ? new Located<string>(text, At(node)) : null;

        private YamlMappingNode? Mapping(YamlNode node, string what)
        {
            if (node is YamlMappingNode m) return m;
            Error(DiagnosticCodes.InvalidValue, At(node), $"{what} must be a mapping");
            return null;
        }

        private Tier? TierOf(YamlNode node)
        {
            var text = ScalarText(node);
            if (text is null) return null;
            if (Tiers.TryParse(text, out var tier)) return tier;
            Error(DiagnosticCodes.InvalidValue, At(node),
                $"unknown tier '{text}'; use autonomous, notify, approval_required (or approval, require_approval) or blocked");
            return null;
        }

        private long? Integer(YamlNode node) =>
            node is YamlScalarNode { Style: ScalarStyle.Plain } s
            && long.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

        private PolicyRule? ParseDefaults(YamlNode node)
        {
            if (Mapping(node, "'defaults'") is not { } map) return null;
            Tier? tier = null;
            string? reason = null;
            var sawTier = false;
            SourceLocation at = At(node);
            foreach (var (k, v) in map.Children)
            {
                switch (KeyOf(k, FrozenSet.Create(StringComparer.Ordinal, "tier", "reason"), "'defaults'"))
                {
                    case "tier": sawTier = true; tier = TierOf(v); at = At(k); break;
                    case "reason": reason = ScalarText(v); break;
                }
            }
            if (tier is null)
            {
                if (!sawTier) Error(DiagnosticCodes.MissingKey, At(node), "'defaults' needs a 'tier'");
                return null;
            }
            return new PolicyRule(CapabilityPattern.Everything, tier.Value, reason ?? "default tier of this policy", [], null, at, [], IsDefault: true);
        }

        // network: the egress allowlist of this layer (ADR 0034). Declaring the section, even empty, makes this
        // layer take part in every egress decision; entries are stored parsed and normalised.
        private NetworkAllowlist? ParseNetwork(YamlNode node)
        {
            if (Mapping(node, "'network'") is not { } map) return null;
            var domains = ImmutableArray.CreateBuilder<DomainRule>();
            var addresses = ImmutableArray.CreateBuilder<AddressRule>();
            foreach (var (k, v) in map.Children)
            {
                var key = KeyOf(k, FrozenSet.Create(StringComparer.Ordinal, "allowed_domains", "allowed_addresses"), "'network'");
                if (key is null) continue;
                if (IsNull(v)) continue;
                if (v is not YamlSequenceNode seq) { Error(DiagnosticCodes.InvalidValue, At(v), $"'{key}' must be a list"); continue; }
                foreach (var item in seq.Children)
                {
                    var text = ScalarText(item);
                    if (text is null) continue;
                    if (key == "allowed_domains")
                    {
                        if (DomainRule.TryParse(text, out var rule, out var error)) domains.Add(rule);
                        else Error(DiagnosticCodes.InvalidValue, At(item), $"network domain '{text}': {error}");
                    }
                    else if (AddressRule.TryParse(text, out var rule, out var error)) addresses.Add(rule);
                    else Error(DiagnosticCodes.InvalidValue, At(item), $"network address '{text}': {error}");
                }
            }
            return new NetworkAllowlist(path, domains.ToImmutable(), addresses.ToImmutable());
        }

        // git.remotes: the remotes git.clone / pull / push may use (ADR 0012). Declaring the key, even as an
        // empty list, makes this layer take part in the decision; entries are stored normalised.
        private ImmutableArray<string>? ParseGit(YamlNode node)
        {
            if (Mapping(node, "'git'") is not { } map) return null;
            ImmutableArray<string>? remotes = null;
            foreach (var (k, v) in map.Children)
            {
                if (KeyOf(k, FrozenSet.Create(StringComparer.Ordinal, "remotes"), "'git'") is null) continue;
                if (v is not YamlSequenceNode seq) { Error(DiagnosticCodes.InvalidValue, At(v), "'remotes' must be a list of file:// or git:// URLs"); continue; }
                var list = ImmutableArray.CreateBuilder<string>();
                foreach (var item in seq.Children)
                {
                    var text = ScalarText(item);
                    if (GitRemotes.TryNormalize(text, out var normalized, out var error)) list.Add(normalized);
                    else Error(DiagnosticCodes.InvalidValue, At(item), $"git remote '{text}': {error}");
                }
                remotes = list.ToImmutable();
            }
            return remotes;
        }

        private CapabilityPattern? Pattern(YamlNode node)
        {
            var text = ScalarText(node);
            if (text is null) return null;
            if (CapabilityPattern.TryParse(text, out var pattern, out var error)) return pattern;
            Error(DiagnosticCodes.InvalidValue, At(node), error);
            return null;
        }

        // Variant B: capabilities: { <glob>: <tier> | { tier, reason, conditions, rate_limit, rules: [...], examples } }
        private void ParseCapabilityMap(YamlNode node, List<PolicyRule> rules)
        {
            if (IsNull(node)) return;
            if (Mapping(node, "'capabilities'") is not { } map) return;
            foreach (var (keyNode, value) in map.Children)
            {
                var pattern = Pattern(keyNode);
                if (pattern is null) continue;
                if (value is YamlScalarNode)
                {
                    if (TierOf(value) is { } t) rules.Add(new PolicyRule(pattern, t, null, [], null, At(keyNode), []));
                    continue;
                }
                if (Mapping(value, $"the entry for '{pattern}'") is not { } entry) continue;
                Tier? tier = null;
                string? reason = null;
                var conditions = ImmutableArray<PolicyCondition>.Empty;
                RateLimit? rate = null;
                YamlNode? examplesNode = null, subRules = null;
                foreach (var (k, v) in entry.Children)
                {
                    switch (KeyOf(k, MapEntryKeys, $"the entry for '{pattern}'"))
                    {
                        case "tier": tier = TierOf(v); break;
                        case "reason": reason = ScalarText(v); break;
                        case "description": _ = ScalarText(v); break;
                        case "conditions" or "condition": conditions = Conditions(v); break;
                        case "rate_limit": rate = ParseRate(v); break;
                        case "examples": examplesNode = v; break;
                        case "rules": subRules = v; break;
                    }
                }
                if (subRules is not null)
                {
                    if (subRules is not YamlSequenceNode seq) Error(DiagnosticCodes.InvalidValue, At(subRules), $"'rules' of '{pattern}' must be a list");
                    else foreach (var item in seq.Children) ParseRule(item, pattern, rules);
                }
                if (tier is { } entryTier)
                {
                    var at = At(keyNode);
                    CheckEscalation(rate, entryTier, at);
                    rules.Add(new PolicyRule(pattern, entryTier, reason, conditions, rate, at, Examples(examplesNode, pattern)));
                }
                else if (subRules is null)
                    Error(DiagnosticCodes.MissingKey, At(keyNode), $"the entry for '{pattern}' needs a 'tier' or 'rules'");
                else if (!conditions.IsEmpty || rate is not null || examplesNode is not null || reason is not null)
                    Error(DiagnosticCodes.MissingKey, At(keyNode), $"the entry for '{pattern}' has conditions, a reason, examples or a rate limit but no 'tier'");
            }
        }

        // Variants A and C: rules: [ { capability | match: { capability, conditions }, tier, reason, conditions, rate_limit, examples } ]
        private void ParseRuleList(YamlNode node, List<PolicyRule> rules)
        {
            if (IsNull(node)) return;
            if (node is not YamlSequenceNode seq)
            {
                Error(DiagnosticCodes.InvalidValue, At(node), "'rules' must be a list");
                return;
            }
            foreach (var item in seq.Children) ParseRule(item, null, rules);
        }

        private void ParseRule(YamlNode node, CapabilityPattern? inherited, List<PolicyRule> rules)
        {
            if (Mapping(node, "a rule") is not { } map) return;
            var keys = inherited is null ? RuleKeys : SubRuleKeys;
            CapabilityPattern? pattern = inherited;
            Tier? tier = null;
            string? reason = null;
            var conditions = ImmutableArray.CreateBuilder<PolicyCondition>();
            RateLimit? rate = null;
            YamlNode? examplesNode = null;
            var sawCapability = false;
            foreach (var (k, v) in map.Children)
            {
                switch (KeyOf(k, keys, inherited is null ? "a rule" : $"a rule of '{inherited}'"))
                {
                    case "capability":
                        if (sawCapability) Error(DiagnosticCodes.InvalidValue, At(k), "give the capability once: 'capability' or 'match.capability'");
                        sawCapability = true;
                        pattern = Pattern(v);
                        break;
                    case "match":
                        if (Mapping(v, "'match'") is not { } match) break;
                        foreach (var (mk, mv) in match.Children)
                        {
                            switch (KeyOf(mk, FrozenSet.Create(StringComparer.Ordinal, "capability", "conditions", "condition"), "'match'"))
                            {
                                case "capability":
                                    if (sawCapability) Error(DiagnosticCodes.InvalidValue, At(mk), "give the capability once: 'capability' or 'match.capability'");
                                    sawCapability = true;
                                    pattern = Pattern(mv);
                                    break;
                                case "conditions" or "condition": conditions.AddRange(Conditions(mv)); break;
                            }
                        }
                        break;
                    case "tier": tier = TierOf(v); break;
                    case "reason": reason = ScalarText(v); break;
                    case "description": _ = ScalarText(v); break;
                    case "conditions" or "condition": conditions.AddRange(Conditions(v)); break;
                    case "rate_limit": rate = ParseRate(v); break;
                    case "examples": examplesNode = v; break;
                }
            }
            if (pattern is null)
            {
                if (!sawCapability) Error(DiagnosticCodes.MissingKey, At(node), "a rule needs 'capability' (or 'match.capability')");
                return;
            }
            if (tier is null)
            {
                if (!map.Children.Keys.Any(k => k is YamlScalarNode { Value: "tier" }))
                    Error(DiagnosticCodes.MissingKey, At(node), $"the rule for '{pattern}' needs a 'tier'");
                return;
            }
            CheckEscalation(rate, tier.Value, At(node));
            rules.Add(new PolicyRule(pattern, tier.Value, reason, conditions.ToImmutable(), rate, At(node), Examples(examplesNode, pattern)));
        }

        private void CheckEscalation(RateLimit? rate, Tier tier, SourceLocation at)
        {
            if (rate?.OnExceed is { } escalation && escalation <= tier)
                Error(DiagnosticCodes.InvalidValue, at,
                    $"rate_limit escalation '{escalation.ToWire()}' must be stricter than the rule's tier '{tier.ToWire()}'");
        }

        private ImmutableArray<PolicyCondition> Conditions(YamlNode node)
        {
            var result = ImmutableArray.CreateBuilder<PolicyCondition>();
            if (node is YamlSequenceNode seq)
                foreach (var item in seq.Children) ConditionGroup(item, result);
            else ConditionGroup(node, result);
            return result.ToImmutable();
        }

        // One mapping: an optional 'argument' plus operators that all apply to it.
        private void ConditionGroup(YamlNode node, ImmutableArray<PolicyCondition>.Builder into)
        {
            if (Mapping(node, "'conditions'") is not { } map) return;
            string? argument = null;
            foreach (var (k, v) in map.Children)
                if (k is YamlScalarNode { Value: "argument" } && ScalarText(v) is { } a) argument = string.Intern(a);
            foreach (var (k, v) in map.Children)
            {
                var op = KeyOf(k, ConditionKeys, "'conditions'");
                if (op is null or "argument") continue;
                var at = At(v);
                switch (op)
                {
                    case "path_prefix":
                        if (ScalarText(v) is not { } prefix) break;
                        if (!PolicyPaths.TryCanonicalize(prefix, out var canonical))
                            Error(DiagnosticCodes.InvalidValue, at, $"path_prefix '{prefix}' climbs above '/'");
                        else into.Add(new PathPrefixCondition(argument ?? "path", canonical));
                        break;
                    case "path_glob":
                        if (ScalarText(v) is not { } glob) break;
                        try { into.Add(new PathGlobCondition(argument ?? "path", glob, PolicyPaths.CompileGlob(glob))); }
                        catch (Exception e) when (e is FormatException or ArgumentException)
                        { Error(DiagnosticCodes.InvalidValue, at, $"path_glob '{glob}': {e.Message}"); }
                        break;
                    case "content_size_lt" or "content_size_gte":
                        if (Size(v) is { } bytes) into.Add(new ContentSizeCondition(argument ?? "content", bytes, op == "content_size_lt"));
                        break;
                    case "equals":
                        if (argument is null) { Error(DiagnosticCodes.MissingKey, At(k), "'equals' needs an 'argument'"); break; }
                        var values = v is YamlSequenceNode list
                            ? list.Children.Select(ScalarText).Where(s => s is not null).Select(s => s!).ToImmutableArray()
                            : ScalarText(v) is { } one ? [one] : [];
                        if (values.IsEmpty) Error(DiagnosticCodes.InvalidValue, at, "'equals' needs a value or a list of values");
                        else into.Add(new EqualsCondition(argument, values));
                        break;
                    case "matches":
                        if (argument is null) { Error(DiagnosticCodes.MissingKey, At(k), "'matches' needs an 'argument'"); break; }
                        if (ScalarText(v) is not { } pattern) break;
                        try { into.Add(new MatchesCondition(argument, pattern, MatchesCondition.Compile(pattern))); }
                        catch (ArgumentException e) { Error(DiagnosticCodes.InvalidValue, at, $"'matches' is not a valid regular expression: {e.Message}"); }
                        catch (NotSupportedException e)
                        {
                            // Decisions must not depend on elapsed time, so patterns are matched in linear time only.
                            Error(DiagnosticCodes.InvalidValue, at,
                                $"'matches' pattern '{pattern}' needs a construct that linear-time matching does not support "
                                + $"(backreferences, lookarounds, atomic groups and conditionals are not allowed): {e.Message}");
                        }
                        break;
                }
            }
        }

        private long? Size(YamlNode node)
        {
            var text = ScalarText(node)?.Trim();
            if (text is null) return null;
            var units = new (string Suffix, long Factor)[] { ("KiB", 1024), ("MiB", 1024 * 1024), ("KB", 1000), ("MB", 1000 * 1000), ("B", 1) };
            long factor = 1;
            foreach (var (suffix, f) in units)
                if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) { text = text[..^suffix.Length].Trim(); factor = f; break; }
            if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= long.MaxValue / factor) return n * factor;
            Error(DiagnosticCodes.InvalidValue, At(node), $"'{ScalarText(node)}' is not a size in bytes (e.g. 10240, 10KiB, 1MB)");
            return null;
        }

        private RateLimit? ParseRate(YamlNode node)
        {
            if (Mapping(node, "'rate_limit'") is not { } map) return null;
            long? max = null;
            TimeSpan? window = null;
            Tier? escalation = null;
            var forms = 0;
            foreach (var (k, v) in map.Children)
            {
                var key = KeyOf(k, RateKeys, "'rate_limit'");
                switch (key)
                {
                    case "max" or "max_per_hour" or "max_per_minute":
                        forms++;
                        max = Integer(v);
                        if (max is not > 0 || max > 100_000) { Error(DiagnosticCodes.InvalidValue, At(v), $"'{key}' must be a whole number from 1 to 100000"); max = null; }
                        if (key == "max_per_hour") window = TimeSpan.FromHours(1);
                        if (key == "max_per_minute") window = TimeSpan.FromMinutes(1);
                        break;
                    case "window": window = Window(v); break;
                    case "on_exceed" or "escalate_to":
                        if (escalation is not null) Error(DiagnosticCodes.InvalidValue, At(k), "give the escalation once: 'on_exceed' or 'escalate_to'");
                        escalation = TierOf(v);
                        break;
                }
            }
            if (forms != 1)
            {
                Error(DiagnosticCodes.InvalidValue, At(node), "a rate_limit needs exactly one of 'max', 'max_per_hour', 'max_per_minute'");
                return null;
            }
            if (map.Children.Keys.Any(k => k is YamlScalarNode { Value: "window" }) && !map.Children.Keys.Any(k => k is YamlScalarNode { Value: "max" }))
                Error(DiagnosticCodes.InvalidValue, At(node), "'window' goes with 'max' only");
            return max is { } m ? new RateLimit((int)m, window ?? TimeSpan.FromHours(1), escalation) : null;
        }

        private TimeSpan? Window(YamlNode node)
        {
            var text = ScalarText(node)?.Trim();
            if (text is null) return null;
            long factor = 1;
            if (text.Length > 1 && char.IsLetter(text[^1]))
            {
                factor = char.ToLowerInvariant(text[^1]) switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
                text = text[..^1];
            }
            if (factor > 0 && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && n * factor <= 7 * 86400)
                return TimeSpan.FromSeconds(n * factor);
            Error(DiagnosticCodes.InvalidValue, At(node), $"'{ScalarText(node)}' is not a window (seconds, or e.g. 30s, 15m, 1h; at most 7d)");
            return null;
        }

        private ImmutableArray<PolicyExample> Examples(YamlNode? node, CapabilityPattern pattern)
        {
            if (node is null) return [];
            if (Mapping(node, "'examples'") is not { } map) return [];
            var result = ImmutableArray.CreateBuilder<PolicyExample>();
            foreach (var (k, v) in map.Children)
            {
                var key = KeyOf(k, FrozenSet.Create(StringComparer.Ordinal, "match", "not_match"), "'examples'");
                if (key is null) continue;
                if (v is not YamlSequenceNode seq) { Error(DiagnosticCodes.InvalidValue, At(v), $"'{key}' must be a list of {{capability, arguments}}"); continue; }
                foreach (var item in seq.Children)
                {
                    if (Mapping(item, "an example") is not { } ex) continue;
                    string? capability = pattern.Kind == PatternKind.Exact ? pattern.Text : null;
                    var arguments = CoreJson.EmptyObject;
                    foreach (var (ek, ev) in ex.Children)
                    {
                        switch (KeyOf(ek, FrozenSet.Create(StringComparer.Ordinal, "capability", "arguments"), "an example"))
                        {
                            case "capability":
                                capability = ScalarText(ev);
                                if (capability is not null && !CapabilityName.TryParse(capability, out _))
                                    Error(DiagnosticCodes.InvalidValue, At(ev), $"'{capability}' is not a dotted capability name");
                                break;
                            case "arguments":
                                if (Mapping(ev, "'arguments'") is { } args) arguments = JsonSerializer.SerializeToElement(ToJson(args));
                                break;
                        }
                    }
                    if (capability is null) Error(DiagnosticCodes.MissingKey, At(item), "an example needs a 'capability' (the rule's pattern is a glob)");
                    else result.Add(new PolicyExample(capability, arguments, key == "match", At(item)));
                }
            }
            return result.ToImmutable();
        }

        /// <summary>The largest string a <c>!bytes</c> tag in an example may stand for.</summary>
        private const long MaxExampleBytes = 64L * 1024 * 1024;

        // YAML 1.2 core schema for plain scalars; quoted scalars stay strings. In example arguments a plain scalar
        // tagged '!bytes' ('content: !bytes 10MiB') stands for a string of that many bytes, so a size condition can
        // be pinned by an example without pasting megabytes into the file.
        private object? ToJson(YamlNode node) => node switch
        {
            YamlScalarNode { Style: ScalarStyle.Plain, Tag.IsEmpty: false } b when b.Tag.Value == "!bytes" => Bytes(b),
            YamlMappingNode m => m.Children.ToDictionary(kv => (kv.Key as YamlScalarNode)?.Value ?? string.Empty, kv => ToJson(kv.Value), StringComparer.Ordinal),
            YamlSequenceNode s => s.Children.Select(ToJson).ToList(),
            YamlScalarNode { Style: ScalarStyle.Plain } p => p.Value switch
            {
                null or "~" or "null" or "Null" or "NULL" or "" => null,
                "true" or "True" or "TRUE" => true,
                "false" or "False" or "FALSE" => false,
                var t when long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
                var t when double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
                var t => t,
            },
            YamlScalarNode q => q.Value,
            _ => null,
        };

        private string? Bytes(YamlScalarNode node)
        {
            if (Size(node) is not { } size) return null;
            if (size <= MaxExampleBytes) return new string('x', (int)size);
            Error(DiagnosticCodes.InvalidValue, At(node), $"'!bytes {node.Value}' is too large: an example's '!bytes' is at most 64 MiB");
            return null;
        }
    }
}
