using System.Collections.Immutable;
using System.Text;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Policy;

/// <summary>What one layer contributed to a decision, for the <c>config check-policy</c> hierarchy trace.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="File">The layer's file, or null when the layer has no file.</param>
/// <param name="Tier">The tier the layer's matching rule gave (after rate-limit escalation), or null when nothing matched.</param>
/// <param name="RuleReference">The matching rule's reference, or the protection's.</param>
public readonly record struct LayerOutcome(PolicyLayer Layer, string? File, Tier? Tier, string? RuleReference)
{
    /// <summary>Renders the outcome as <c>org(approval_required org.yaml:12)</c>.</summary>
    public override string ToString()
    {
        var name = Layer switch
        {
            PolicyLayer.Protection => "protections",
            PolicyLayer.System => "system",
            PolicyLayer.Org => "org",
            PolicyLayer.Agent => "agent",
            _ => "user",
        };
        var body = Layer == PolicyLayer.Protection
            ? (Tier is null ? "pass" : $"blocked {RuleReference}")
            : File is null ? "no file"
            : Tier is { } t ? $"{t.ToWire()} {RuleReference}"
            : "no override";
        return $"{name}({body})";
    }
}

/// <summary>What a full rate limit did to a call.</summary>
public enum RateLimitEffect
{
    /// <summary><c>on_exceed</c> / <c>escalate_to</c> raised the call's tier.</summary>
    Escalated,
    /// <summary>No escalation is set: the call fails with <c>RateLimited</c>.</summary>
    Refused,
}

/// <summary>
/// A rate limit that was full when the call came and changed its outcome (the <c>rate_limit_hit</c> supervision
/// event, spec §5 and §6.7).
/// </summary>
/// <param name="Rule">The reference of the rule that carries the limit.</param>
/// <param name="CapabilityPattern">That rule's capability pattern, e.g. <c>process.run</c> or <c>network.*</c>.</param>
/// <param name="Limit">The limit.</param>
/// <param name="Effect">Whether the call was escalated or refused.</param>
/// <param name="RetryAfter">For a refused call: how long until the oldest counted call leaves the window.</param>
public sealed record RateLimitHit(string Rule, string CapabilityPattern, RateLimit Limit, RateLimitEffect Effect, TimeSpan? RetryAfter = null);

/// <summary>
/// The outcome of a policy evaluation. <see cref="Tier"/> decides what the gateway does; when
/// <see cref="RetryAfter"/> is set the call exceeded a rate limit that has no escalation and must fail with
/// <c>RateLimited</c> (see <see cref="ToError"/>).
/// </summary>
/// <param name="Tier">The effective tier.</param>
/// <param name="RuleReference"><c>file:line</c> of the deciding rule, <c>system:&lt;protection&gt;</c>, or <c>default:&lt;capability&gt;</c>.</param>
/// <param name="Reason">Why, in words, for the agent and approvers.</param>
/// <param name="PolicyRevision">The revision of the policy set used.</param>
/// <param name="DecidingLayer">The layer the deciding rule belongs to (Protection for system protections and defaults).</param>
/// <param name="Trace">One outcome per layer, outermost first.</param>
/// <param name="RateLimitHit">Set when a full rate limit escalated the call (the escalated rule decided) or refused it.</param>
public sealed record Decision(
    Tier Tier,
    string RuleReference,
    string Reason,
    string PolicyRevision,
    PolicyLayer DecidingLayer,
    ImmutableArray<LayerOutcome> Trace,
    RateLimitHit? RateLimitHit = null)
{
    /// <summary>Set when the call is refused by a rate limit without escalation: when it may be tried again.</summary>
    public TimeSpan? RetryAfter => RateLimitHit is { Effect: RateLimitEffect.Refused } hit ? hit.RetryAfter : null;

    /// <summary>The rate limit that was exceeded (escalated or refused), if any.</summary>
    public RateLimit? ExceededLimit => RateLimitHit?.Limit;

    /// <summary>True when the call must fail with <c>RateLimited</c>.</summary>
    public bool IsRateLimited => RetryAfter is not null;

    /// <summary>True when the definition default decided (no rule matched in any layer).</summary>
    public bool IsDefault => RuleReference.StartsWith("default:", StringComparison.Ordinal);

    /// <summary>
    /// The error to return instead of running the call: <c>PolicyDenied</c> for <c>blocked</c>,
    /// <c>RateLimited</c> with <c>retry_after</c> for a refused rate limit; null otherwise.
    /// </summary>
    public StructuredError? ToError(CapabilityName capability)
    {
        if (Tier == Tier.Blocked) return Errors.Errors.PolicyDenied(capability, RuleReference, Reason);
        if (RetryAfter is { } retry && ExceededLimit is { } limit)
            return Errors.Errors.RateLimited(limit.Max, limit.WindowSeconds, Math.Max(1, (long)Math.Ceiling(retry.TotalSeconds)));
        return null;
    }

    /// <summary>The hierarchy trace, e.g. <c>protections(pass) → system(no file) → org(approval_required org.yaml:12) → agent(no override)</c>.</summary>
    public string FormatTrace()
    {
        var sb = new StringBuilder();
        foreach (var outcome in Trace)
        {
            if (sb.Length > 0) sb.Append(" → ");
            sb.Append(outcome.ToString());
        }
        if (IsDefault) sb.Append(" → default(").Append(Tier.ToWire()).Append(')');
        return sb.ToString();
    }

    public bool Equals(Decision? other) =>
        other is not null && Tier == other.Tier && RuleReference == other.RuleReference && Reason == other.Reason
        && PolicyRevision == other.PolicyRevision && DecidingLayer == other.DecidingLayer && Trace.SequenceEqual(other.Trace)
        && RateLimitHit == other.RateLimitHit;

    public override int GetHashCode() => HashCode.Combine(Tier, RuleReference, PolicyRevision);
}
