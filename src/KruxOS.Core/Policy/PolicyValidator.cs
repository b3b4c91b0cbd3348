using System.Collections.Immutable;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>A rate limit found in a file, for the validation report.</summary>
public sealed record RateLimitReport(string RuleReference, string Capability, RateLimit Limit);

/// <summary>
/// What <c>kruxos config validate &lt;file&gt;</c> reports about one policy file, evaluated on its own against
/// the registered capabilities.
/// </summary>
/// <param name="File">The file as given.</param>
/// <param name="Valid">True when the file compiles (no errors, every example passes).</param>
/// <param name="Layer">The layer the path implies (org when the path is not a policy location).</param>
/// <param name="Name">The <c>name</c> metadata.</param>
/// <param name="Extends">The template extended, if any.</param>
/// <param name="Errors">Errors other than failing examples.</param>
/// <param name="FailingExamples">Examples that do not hold.</param>
/// <param name="Warnings">Unreachable and shadowed rules, unknown capabilities.</param>
/// <param name="RuleCount">Rules in the file (including an inherited template's and the defaults catch-all).</param>
/// <param name="ExampleCount">Examples checked.</param>
/// <param name="CapabilityCount">Registered capabilities.</param>
/// <param name="CoveredCount">Registered capabilities at least one rule of the file applies to.</param>
/// <param name="Coverage">For each tier, how many registered capabilities get it when no argument condition holds (uncovered ones count at their definition tier).</param>
/// <param name="ConditionalCount">Registered capabilities whose tier depends on arguments in this file.</param>
/// <param name="DefaultTier">The file's <c>defaults.tier</c>, or null when definition tiers apply.</param>
/// <param name="RateLimits">Every rate limit in the file.</param>
public sealed record PolicyValidationReport(
    string File,
    bool Valid,
    PolicyLayer Layer,
    string? Name,
    string? Extends,
    ImmutableArray<PolicyDiagnostic> Errors,
    ImmutableArray<PolicyDiagnostic> FailingExamples,
    ImmutableArray<PolicyDiagnostic> Warnings,
    int RuleCount,
    int ExampleCount,
    int CapabilityCount,
    int CoveredCount,
    ImmutableSortedDictionary<Tier, int> Coverage,
    int ConditionalCount,
    Tier? DefaultTier,
    ImmutableArray<RateLimitReport> RateLimits);

/// <summary>Builds <see cref="PolicyValidationReport"/>s; pure, the CLI renders them.</summary>
public static class PolicyValidator
{
    /// <summary>Validates one file's text; <paramref name="path"/> is used for the layer and in messages.</summary>
    public static PolicyValidationReport Validate(string path, string yaml, CapabilityRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var (file, diagnostics) = PolicyCompiler.CompileSingle(path, yaml, registry);
        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        var failing = errors.Where(d => d.Code == DiagnosticCodes.ExampleFailed).ToImmutableArray();
        var other = errors.Where(d => d.Code != DiagnosticCodes.ExampleFailed).ToImmutableArray();
        var warnings = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToImmutableArray();

        var coverage = Enum.GetValues<Tier>().ToImmutableSortedDictionary(t => t, _ => 0);
        if (file is null)
            return new PolicyValidationReport(path, false, PolicyCompiler.LayerOf(path), null, null, other, failing, warnings, 0, 0,
                registry.All.Length, 0, coverage, 0, null, []);

        var covered = 0;
        var conditional = 0;
        foreach (var capability in registry.All)
        {
            var name = capability.Name.Value;
            var tier = capability.DefaultTier;
            var any = false;
            var dependsOnArguments = false;
            foreach (var rule in file.Rules)
            {
                if (!rule.Pattern.Matches(name)) continue;
                any = true;
                if (!rule.IsUnconditional) { dependsOnArguments = true; continue; }
                tier = rule.Tier;
                break;
            }
            if (any) covered++;
            if (dependsOnArguments) conditional++;
            coverage = coverage.SetItem(tier, coverage[tier] + 1);
        }

        return new PolicyValidationReport(path, true, file.Layer, file.Name, file.Extends, other, failing, warnings,
            file.Rules.Length, file.Rules.Sum(r => r.Examples.Length), registry.All.Length, covered, coverage, conditional,
            file.DefaultTier,
            [.. file.Rules.Where(r => r.RateLimit is not null).Select(r => new RateLimitReport(r.Reference, r.Pattern.Text, r.RateLimit!))]);
    }
}
