using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;

namespace KruxOS.Core.Policy;

/// <summary>The layers of spec §6.2, outermost first. Layers combine by "most restrictive wins".</summary>
public enum PolicyLayer
{
    /// <summary>Hard-coded protections (spec §6.6), enforced with or without policy files.</summary>
    Protection,
    /// <summary><c>system.yaml</c>.</summary>
    System,
    /// <summary><c>org.yaml</c>: the operator's baseline for every principal.</summary>
    Org,
    /// <summary><c>agents/&lt;name&gt;.yaml</c>: applies to calls made by that agent.</summary>
    Agent,
    /// <summary><c>user.yaml</c>: applies to calls made with a user token.</summary>
    User,
}

/// <summary>Where something was written: a policy file path (relative to the policy root) and a 1-based line.</summary>
public sealed record SourceLocation(string File, int Line, int Column = 1)
{
    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// A sliding-window rate limit on a rule, counted per principal. When more than <see cref="Max"/> calls fall in
/// the last <see cref="Window"/>, the call is escalated to <see cref="OnExceed"/>, or refused with
/// <c>RateLimited</c> when no escalation is set.
/// </summary>
public sealed record RateLimit(int Max, TimeSpan Window, Tier? OnExceed)
{
    /// <summary>The window in whole seconds, as reported on the wire.</summary>
    public long WindowSeconds => (long)Window.TotalSeconds;

    /// <summary>The window as written in policy files: <c>1h</c>, <c>15m</c>, <c>2d</c>, or seconds (<c>90s</c>).</summary>
    public string WindowText => Errors.RateWindowText.Format(WindowSeconds);

    /// <inheritdoc />
    public override string ToString() =>
        $"{Max.ToString(CultureInfo.InvariantCulture)} per {WindowSeconds.ToString(CultureInfo.InvariantCulture)}s"
        + (OnExceed is { } t ? $" then {t.ToWire()}" : " then RateLimited");
}

/// <summary>An in-file example call for a rule (<c>examples.match</c> / <c>examples.not_match</c>).</summary>
public sealed record PolicyExample(string Capability, JsonElement Arguments, bool ShouldMatch, SourceLocation Source)
{
    public bool Equals(PolicyExample? other) =>
        other is not null && Capability == other.Capability && ShouldMatch == other.ShouldMatch && Source == other.Source
        && Arguments.GetRawText() == other.Arguments.GetRawText();
    public override int GetHashCode() => HashCode.Combine(Capability, ShouldMatch, Source);
}

/// <summary>
/// One compiled rule. Within a file the first rule whose pattern and conditions match decides.
/// </summary>
/// <param name="Pattern">Which capabilities the rule applies to.</param>
/// <param name="Tier">The tier it assigns.</param>
/// <param name="Reason">Shown to the agent and to approvers; may be null.</param>
/// <param name="Conditions">All must hold; empty means unconditional.</param>
/// <param name="RateLimit">Optional rate limit.</param>
/// <param name="Source">File and line of the rule, used as its reference.</param>
/// <param name="Examples">Examples checked when the file is compiled.</param>
/// <param name="IsDefault">True for the implicit catch-all produced by <c>defaults.tier</c>.</param>
public sealed record PolicyRule(
    CapabilityPattern Pattern,
    Tier Tier,
    string? Reason,
    ImmutableArray<PolicyCondition> Conditions,
    RateLimit? RateLimit,
    SourceLocation Source,
    ImmutableArray<PolicyExample> Examples,
    bool IsDefault = false)
{
    /// <summary>The rule reference reported in decisions and errors: <c>file:line</c>.</summary>
    public string Reference { get; } = Source.ToString();

    /// <summary>
    /// The rate-limit counter this rule uses: its reference, prefixed with the including file for rules inherited
    /// through <c>extends</c> (so org and an agent file extending the same template count separately).
    /// </summary>
    public string CounterKey { get; init; } = Source.ToString();

    /// <summary>The reason reported in decisions: <see cref="Reason"/>, or a description of the rule when it has none.</summary>
    public string DisplayReason { get; } = Reason ?? $"rule {Pattern} → {Tier.ToWire()} ({Source})";

    /// <summary>True when the rule has no argument conditions.</summary>
    public bool IsUnconditional => Conditions.IsDefaultOrEmpty;

    public bool Equals(PolicyRule? other) =>
        other is not null && Pattern == other.Pattern && Tier == other.Tier && Reason == other.Reason
        && Conditions.SequenceEqual(other.Conditions) && RateLimit == other.RateLimit && Source == other.Source
        && IsDefault == other.IsDefault;
    public override int GetHashCode() => HashCode.Combine(Pattern, Tier, Source);
}

/// <summary>Severity of a compiler finding.</summary>
public enum DiagnosticSeverity
{
    /// <summary>The file is rejected.</summary>
    Error,
    /// <summary>The file is accepted, but probably not what the author meant.</summary>
    Warning,
}

/// <summary>A compiler finding with its location. <see cref="Code"/> is stable and machine-readable.</summary>
public sealed record PolicyDiagnostic(DiagnosticSeverity Severity, string Code, SourceLocation Location, string Message)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Location.File}:{Location.Line.ToString(CultureInfo.InvariantCulture)}:{Location.Column.ToString(CultureInfo.InvariantCulture)}: "
        + $"{(Severity == DiagnosticSeverity.Error ? "error" : "warning")} {Code}: {Message}";
}

/// <summary>Stable diagnostic codes.</summary>
public static class DiagnosticCodes
{
    public const string Syntax = "syntax";
    public const string UnknownKey = "unknown_key";
    public const string InvalidValue = "invalid_value";
    public const string MissingKey = "missing_key";
    public const string UnknownFile = "unknown_file";
    public const string ExampleFailed = "example_failed";
    /// <summary>The file is too large, nested too deep, or stands for too many nodes (<see cref="YamlLimits.Policy"/>).</summary>
    public const string LimitExceeded = "limit_exceeded";
    public const string NoSuchCapability = "no_such_capability";
    public const string Unreachable = "unreachable_rule";
    public const string Shadowed = "shadowed_rule";
}

/// <summary>
/// One compiled policy file: its metadata, its ordered rules (with the <c>defaults.tier</c> catch-all last)
/// and an index from capability to the rules that can apply to it.
/// </summary>
public sealed class CompiledPolicyFile
{
    private readonly ImmutableArray<PolicyRule>[] _byCapability;

    internal CompiledPolicyFile(
        string path, PolicyLayer layer, string? name, string? description, string? extends, Tier? defaultTier,
        ImmutableArray<PolicyRule> rules, PolicyIndex index, int? trashRetentionHours, NetworkAllowlist? network,
        ImmutableArray<string>? gitRemotes = null)
    {
        Path = path;
        Layer = layer;
        Name = name;
        Description = description;
        Extends = extends;
        DefaultTier = defaultTier;
        Rules = rules;
        TrashRetentionHours = trashRetentionHours;
        Network = network;
        GitRemotes = gitRemotes;
        Index = index;
        _byCapability = new ImmutableArray<PolicyRule>[index.Count];
        _argumentsByCapability = new ImmutableArray<string>[index.Count];
        var builder = ImmutableArray.CreateBuilder<PolicyRule>();
        for (var i = 0; i < index.Count; i++)
        {
            builder.Clear();
            var capability = index.NameAt(i);
            foreach (var rule in rules)
                if (rule.Pattern.Matches(capability)) builder.Add(rule);
            _byCapability[i] = builder.ToImmutable();
            _argumentsByCapability[i] = [.. ConditionArguments(_byCapability[i])];
        }
    }

    private readonly ImmutableArray<string>[] _argumentsByCapability;

    /// <summary>The arguments some condition of the rules that can apply to a capability looks at (indexed like <see cref="Candidates"/>).</summary>
    internal ImmutableArray<string> ConditionArguments(int capabilityIndex) => _argumentsByCapability[capabilityIndex];

    /// <summary>The file's path relative to the policy root (<c>org.yaml</c>, <c>agents/ci.yaml</c>).</summary>
    public string Path { get; }

    /// <summary>The layer the file belongs to.</summary>
    public PolicyLayer Layer { get; }

    /// <summary>The <c>name</c> metadata (the policy group), if given.</summary>
    public string? Name { get; }

    /// <summary>The <c>description</c> metadata, if given.</summary>
    public string? Description { get; }

    /// <summary>The template this file extends, if any; its rules follow the file's own rules.</summary>
    public string? Extends { get; }

    /// <summary>The <c>defaults.tier</c>, if given (also present as the last rule).</summary>
    public Tier? DefaultTier { get; }

    /// <summary>All rules in evaluation order.</summary>
    public ImmutableArray<PolicyRule> Rules { get; }

    /// <summary><c>trash_retention_hours</c>, carried for the trash component.</summary>
    public int? TrashRetentionHours { get; }

    /// <summary>The file's <c>network</c> section (egress allowlist, ADR 0034), or null when the file does not declare one.</summary>
    public NetworkAllowlist? Network { get; }

    /// <summary><c>git.remotes</c> (normalised), or null when the file does not declare the key (ADR 0012).</summary>
    public ImmutableArray<string>? GitRemotes { get; }

    internal PolicyIndex Index { get; }

    /// <summary>The rules that can apply to a capability, in order (indexed for registered capabilities).</summary>
    internal ImmutableArray<PolicyRule> Candidates(int capabilityIndex) => _byCapability[capabilityIndex];

    /// <summary>The arguments some condition of these rules looks at (each once).</summary>
    internal static IEnumerable<string> ConditionArguments(ImmutableArray<PolicyRule> rules) =>
        rules.SelectMany(r => r.Conditions.IsDefault ? [] : r.Conditions).Select(c => c.Argument).Distinct(StringComparer.Ordinal);
}
