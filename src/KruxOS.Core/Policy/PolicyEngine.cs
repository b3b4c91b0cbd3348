using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>
/// The policy decision as pure functions: no clock (time is an argument), no I/O, no mutable statics.
/// Layering (ADR 0005): system protections block first; then system, org and the principal's own file
/// (agent file or user policy) each contribute the tier of their first matching rule; the most restrictive
/// contribution wins (ties go to the outer layer); when no layer has a matching rule the capability's
/// definition tier applies.
/// </summary>
public static class PolicyEngine
{
    /// <summary>Why a git remote is refused for a principal with <paramref name="allowed"/>, or null when it is allowed.</summary>
    public static string? GitRemoteRefusal(string url, GitRemoteAllowlist allowed)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        if (!GitRemotes.TryNormalize(url, out var normalized, out var error)) return $"git remote '{url}' is not supported: {error}";
        if (allowed.Layers.IsDefaultOrEmpty) return $"git remote '{normalized}' is not allowed: no policy declares git.remotes (deny by default)";
        return allowed.AllowsNormalized(normalized) ? null : $"git remote '{normalized}' is not in the policy's git.remotes allowlist";
    }

    /// <summary>
    /// Decides a call. <paramref name="arguments"/> are the validated, normalised call arguments (a JSON object).
    /// Returns the decision and the rate state to keep for the next call; the state only changes when the call
    /// is admitted (not blocked, not refused by a rate limit).
    /// </summary>
    public static (Decision Decision, RateState Rates) Decide(
        Principal principal, CapabilityDefinition capability, JsonElement arguments, PolicySet policies, RateState rates, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(capability);
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(rates);
        var name = capability.Name.Value;
        var trace = new LayerOutcome[4];

        var cache = new ArgumentCache();
        // The system protections, then the definition's guards (git remotes, dangerous commands): blocked whatever the files say.
        if (SystemProtections.Check(principal, capability, arguments, policies, ref cache, out var protectionReason) is { } protection)
        {
            trace[0] = new LayerOutcome(PolicyLayer.Protection, null, Tier.Blocked, protection.Reference);
            return (new Decision(Tier.Blocked, protection.Reference, protectionReason, policies.Revision, PolicyLayer.Protection,
                ImmutableCollectionsMarshal.AsImmutableArray(trace[..1])), rates);
        }
        trace[0] = new LayerOutcome(PolicyLayer.Protection, null, null, null);

        var capabilityIndex = policies.Index.IndexOf(name);
        var nowTicks = now.UtcTicks;
        string? indeterminate = null;

        // Up to three contributing layers; fixed locals keep the hot path free of lists.
        var system = Evaluate(policies.System, PolicyLayer.System, capabilityIndex, name, arguments, ref cache, principal, rates, nowTicks, ref indeterminate);
        var org = Evaluate(policies.Org, PolicyLayer.Org, capabilityIndex, name, arguments, ref cache, principal, rates, nowTicks, ref indeterminate);
        var own = Evaluate(policies.PrincipalFile(principal), PolicySet.PrincipalLayer(principal), capabilityIndex, name, arguments, ref cache, principal, rates, nowTicks, ref indeterminate);
        trace[1] = system.Outcome;
        trace[2] = org.Outcome;
        trace[3] = own.Outcome;
        var traceArray = ImmutableCollectionsMarshal.AsImmutableArray(trace);

        // The only undecidable condition is a path that climbs above '/': no rule order can be trusted then.
        if (indeterminate is not null)
            return (new Decision(Tier.Blocked, SystemProtections.PathEscape.Reference, "a path argument climbs above '/'",
                policies.Revision, PolicyLayer.Protection, traceArray), rates);

        LayerEvaluation best = default;
        foreach (var candidate in (ReadOnlySpan<LayerEvaluation>)[system, org, own])
            if (candidate.Rule is not null && (best.Rule is null || candidate.Tier > best.Tier)) best = candidate;

        if (best.Rule is null)
        {
            var tier = capability.DefaultTier;
            return (new Decision(tier, "default:" + name,
                $"no policy rule matches '{name}'; its definition tier '{tier.ToWire()}' applies",
                policies.Revision, PolicyLayer.Protection, traceArray), rates);
        }

        var reason = best.Rule.DisplayReason;
        if (best.Escalated)
            reason = $"rate limit of rule {best.Rule.Reference} exceeded ({best.Rule.RateLimit}); escalated to {best.Tier.ToWire()}";
        // An escalation is reported only when the escalated rule decides: otherwise the limit changed nothing.
        var escalated = best.Escalated
            ? new RateLimitHit(best.Rule.Reference, best.Rule.Pattern.Text, best.Rule.RateLimit!, RateLimitEffect.Escalated)
            : null;
        if (best.Tier == Tier.Blocked)
            return (new Decision(Tier.Blocked, best.Rule.Reference, reason, policies.Revision, best.Layer, traceArray, escalated), rates);

        // A refused rate limit in any layer refuses the call; report the longest wait.
        LayerEvaluation refused = default;
        foreach (var candidate in (ReadOnlySpan<LayerEvaluation>)[system, org, own])
            if (candidate.RetryAfter is { } r && (refused.RetryAfter is null || r > refused.RetryAfter)) refused = candidate;
        if (refused.RetryAfter is { } retry)
        {
            var limit = refused.Rule!.RateLimit!;
            return (new Decision(best.Tier, refused.Rule.Reference,
                $"rate limit of rule {refused.Rule.Reference} exceeded ({limit})",
                policies.Revision, refused.Layer, traceArray,
                new RateLimitHit(refused.Rule.Reference, refused.Rule.Pattern.Text, limit, RateLimitEffect.Refused, retry)), rates);
        }

        var next = rates;
        foreach (var admitted in (ReadOnlySpan<LayerEvaluation>)[system, org, own])
            if (admitted.Rule?.RateLimit is { } limit)
                next = next.Record(new RateKey(principal.ToString(), admitted.Rule.CounterKey), limit, nowTicks);
        return (new Decision(best.Tier, best.Rule.Reference, reason, policies.Revision, best.Layer, traceArray, escalated), next);
    }

    private readonly record struct LayerEvaluation(
        PolicyLayer Layer, PolicyRule? Rule, Tier Tier, bool Escalated, TimeSpan? RetryAfter, LayerOutcome Outcome);

    private static LayerEvaluation Evaluate(
        CompiledPolicyFile? file, PolicyLayer layer, int capabilityIndex, string name, JsonElement arguments,
        ref ArgumentCache cache, Principal principal, RateState rates, long now, ref string? indeterminate)
    {
        if (file is null) return new LayerEvaluation(layer, null, default, false, null, new LayerOutcome(layer, null, null, null));
        var rules = capabilityIndex >= 0 ? file.Candidates(capabilityIndex) : file.Rules;
        var rule = FirstMatch(rules, name, arguments, ref cache, out var why);
        indeterminate ??= why;
        if (rule is null) return new LayerEvaluation(layer, null, default, false, null, new LayerOutcome(layer, file.Path, null, null));

        var tier = rule.Tier;
        var escalated = false;
        TimeSpan? retryAfter = null;
        if (rule.RateLimit is { } limit
            && rates.Live(new RateKey(principal.ToString(), rule.CounterKey), limit.Window, now, out var oldest) >= limit.Max)
        {
            if (limit.OnExceed is { } stricter) { tier = Tiers.Strictest(tier, stricter); escalated = true; }
            else retryAfter = TimeSpan.FromTicks(oldest + limit.Window.Ticks - now);
        }
        return new LayerEvaluation(layer, rule, tier, escalated, retryAfter, new LayerOutcome(layer, file.Path, tier, rule.Reference));
    }

    /// <summary>
    /// The first rule of <paramref name="rules"/> that matches, or null. An indeterminate condition skips its rule
    /// and is reported through <paramref name="indeterminate"/> (the caller then blocks).
    /// </summary>
    internal static PolicyRule? FirstMatch(ImmutableArray<PolicyRule> rules, string capability, JsonElement arguments, out string? indeterminate)
    {
        var cache = new ArgumentCache();
        return FirstMatch(rules, capability, arguments, ref cache, out indeterminate);
    }

    private static PolicyRule? FirstMatch(
        ImmutableArray<PolicyRule> rules, string capability, JsonElement arguments, ref ArgumentCache cache, out string? indeterminate)
    {
        indeterminate = null;
        foreach (var rule in rules)
        {
            var r = RuleMatches(rule, capability, arguments, ref cache, out var why);
            if (r == ConditionResult.Match) return rule;
            if (r == ConditionResult.Indeterminate) indeterminate ??= why;
        }
        return null;
    }

    internal static ConditionResult RuleMatches(PolicyRule rule, string capability, JsonElement arguments, out string? why)
    {
        var cache = new ArgumentCache();
        return RuleMatches(rule, capability, arguments, ref cache, out why);
    }

    private static ConditionResult RuleMatches(PolicyRule rule, string capability, JsonElement arguments, ref ArgumentCache cache, out string? why)
    {
        why = null;
        if (!rule.Pattern.Matches(capability)) return ConditionResult.NoMatch;
        foreach (var condition in rule.Conditions)
        {
            var r = condition.Evaluate(arguments, ref cache, out why);
            if (r != ConditionResult.Match) return r;
        }
        return ConditionResult.Match;
    }

    /// <summary>
    /// The path inputs (<see cref="InputType.FilesystemPath"/>) of <paramref name="capability"/> that a condition of some rule
    /// which can apply to <paramref name="principal"/>'s call looks at, whatever its operator. A call naming one of them
    /// is decided on the path it will really open, resolved in the sandbox first (ADR 0023); for every other call —
    /// most of them — nothing needs resolving. The system protections need no resolution: a resolved path always lies
    /// inside the agent's workspace or mounts, never under a protected system path.
    /// </summary>
    public static ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability, PolicySet policies)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(capability);
        ArgumentNullException.ThrowIfNull(policies);
        var pathInputs = capability.Inputs.Where(i => i.Type == InputType.FilesystemPath).Select(i => i.Name).ToList();
        if (pathInputs.Count == 0) return [];
        var index = policies.Index.IndexOf(capability.Name.Value);
        var name = capability.Name.Value;
        var decided = new List<string>(pathInputs.Count);
        foreach (var file in (ReadOnlySpan<CompiledPolicyFile?>)[policies.System, policies.Org, policies.PrincipalFile(principal)])
        {
            if (file is null) continue;
            var arguments = index >= 0 ? file.ConditionArguments(index) : [.. CompiledPolicyFile.ConditionArguments([.. file.Rules.Where(r => r.Pattern.Matches(name))])];
            foreach (var argument in arguments)
                if (pathInputs.Contains(argument, StringComparer.Ordinal) && !decided.Contains(argument, StringComparer.Ordinal)) decided.Add(argument);
        }
        return [.. decided];
    }

    /// <summary>
    /// The least restrictive tier any call of the capability could get from this principal, ignoring rate limits.
    /// <c>blocked</c> means every call is blocked (a protected pseudo-capability, or an unconditional blocked rule
    /// reached before any rule that could allow it), so the tool is omitted from <c>tools/list</c>.
    /// </summary>
    public static Tier VisibleTier(Principal principal, CapabilityDefinition capability, PolicySet policies)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(capability);
        ArgumentNullException.ThrowIfNull(policies);
        var name = capability.Name.Value;
        if (SystemProtections.BlocksUnconditionally(name)) return Tier.Blocked;
        var index = policies.Index.IndexOf(name);

        // Per layer: the least tier it can give, and whether it can leave the call unmatched.
        Tier? mandatoryMax = null;
        var anyMandatory = false;
        Tier? optionalMin = null;
        foreach (var file in (ReadOnlySpan<CompiledPolicyFile?>)[policies.System, policies.Org, policies.PrincipalFile(principal)])
        {
            if (file is null) continue;
            var rules = index >= 0 ? file.Candidates(index) : file.Rules;
            Tier? min = null;
            var canMiss = true;
            foreach (var rule in rules)
            {
                if (!rule.Pattern.Matches(name)) continue;
                min = min is { } m ? (rule.Tier < m ? rule.Tier : m) : rule.Tier;
                if (rule.IsUnconditional) { canMiss = false; break; }
            }
            if (min is not { } layerMin) continue;
            if (canMiss) optionalMin = optionalMin is { } o ? (layerMin < o ? layerMin : o) : layerMin;
            else { anyMandatory = true; mandatoryMax = mandatoryMax is { } x ? Tiers.Strictest(x, layerMin) : layerMin; }
        }
        if (anyMandatory) return mandatoryMax!.Value;
        var result = capability.DefaultTier;
        if (optionalMin is { } om && om < result) result = om;
        return result;
    }

    /// <summary>
    /// The rules that govern a principal, for <c>agent.policy</c>: protections, then the system, org and own
    /// file's rules in evaluation order, with the policy group and the default tier.
    /// </summary>
    public static EffectivePolicy EffectiveRules(Principal principal, PolicySet policies)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(policies);
        var rules = ImmutableArray.CreateBuilder<EffectiveRule>();
        foreach (var p in SystemProtections.All)
            rules.Add(new EffectiveRule(PolicyLayer.Protection, p.Reference, "(system protection)", Tier.Blocked, p.Description, null, []));
        var own = policies.PrincipalFile(principal);
        Tier? defaultTier = null;
        foreach (var file in (ReadOnlySpan<CompiledPolicyFile?>)[policies.System, policies.Org, own])
        {
            if (file is null) continue;
            foreach (var rule in file.Rules)
                rules.Add(new EffectiveRule(file.Layer, rule.Reference, rule.Pattern.Text, rule.Tier, rule.Reason, rule.RateLimit,
                    [.. rule.Conditions.Select(c => c.ToString())]));
            if (file.DefaultTier is { } d) defaultTier = defaultTier is { } cur ? Tiers.Strictest(cur, d) : d;
        }
        var group = own?.Name ?? (own is not null ? principal.Name : null) ?? policies.Org?.Name ?? policies.Org?.Extends ?? "default";
        return new EffectivePolicy(group, rules.ToImmutable(), defaultTier, policies.Revision);
    }
}

/// <summary>One rule as reported by <c>agent.policy</c>.</summary>
/// <param name="Layer">Where it comes from.</param>
/// <param name="RuleReference"><c>file:line</c> or <c>system:&lt;protection&gt;</c>.</param>
/// <param name="Capability">The capability pattern.</param>
/// <param name="Tier">The tier it assigns.</param>
/// <param name="Reason">Its reason, if any.</param>
/// <param name="RateLimit">Its rate limit, if any.</param>
/// <param name="Conditions">Its argument conditions, rendered.</param>
public sealed record EffectiveRule(
    PolicyLayer Layer, string RuleReference, string Capability, Tier Tier, string? Reason, RateLimit? RateLimit,
    ImmutableArray<string> Conditions)
{
    public bool Equals(EffectiveRule? other) =>
        other is not null && Layer == other.Layer && RuleReference == other.RuleReference && Capability == other.Capability
        && Tier == other.Tier && Reason == other.Reason && RateLimit == other.RateLimit && Conditions.SequenceEqual(other.Conditions);
    public override int GetHashCode() => HashCode.Combine(RuleReference, Tier);
}

/// <summary>The effective policy of a principal (<c>agent.policy</c>).</summary>
/// <param name="PolicyGroup">The agent file's <c>name</c>, else the org policy's name or template, else <c>default</c>.</param>
/// <param name="Rules">Rules in evaluation order, layer by layer.</param>
/// <param name="DefaultTier">The strictest <c>defaults.tier</c> of the layers, or null when each capability's definition tier applies.</param>
/// <param name="PolicyRevision">The revision of the set.</param>
public sealed record EffectivePolicy(string PolicyGroup, ImmutableArray<EffectiveRule> Rules, Tier? DefaultTier, string PolicyRevision)
{
    public bool Equals(EffectivePolicy? other) =>
        other is not null && PolicyGroup == other.PolicyGroup && Rules.SequenceEqual(other.Rules) && DefaultTier == other.DefaultTier
        && PolicyRevision == other.PolicyRevision;
    public override int GetHashCode() => HashCode.Combine(PolicyGroup, PolicyRevision);
}
