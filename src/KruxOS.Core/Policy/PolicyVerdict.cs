using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Policy;

/// <summary>The outcome of the "decide" stage of the pipeline for one call.</summary>
/// <param name="Tier">The tier the call runs under.</param>
/// <param name="Rule">The deciding rule (file and line, a system protection, or the definition default).</param>
/// <param name="Reason">Why, in words.</param>
/// <param name="Revision">The policy revision that decided.</param>
/// <param name="Refusal">Set when the call must fail without running for a reason other than the tier (e.g. rate limited).</param>
/// <param name="RateLimitHit">Set when a full rate limit escalated or refused the call (published as <c>rate_limit_hit</c>).</param>
/// <param name="Generation">In a cluster, the cluster policy generation that decided (ADR 0059; the audit entry's
/// <c>policy_decision.revision</c>); null on a single node.</param>
public sealed record PolicyVerdict(Tier Tier, string Rule, string Reason, string Revision, StructuredError? Refusal = null,
    RateLimitHit? RateLimitHit = null, long? Generation = null)
{
    /// <summary>
    /// The verdict of an engine decision: the tier, rule and reason as decided; a rate-limit refusal becomes
    /// <see cref="Refusal"/> (a blocked call stays a plain blocked verdict so it is reported as a policy violation).
    /// </summary>
    public static PolicyVerdict From(Decision decision, CapabilityName capability)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var refusal = decision.Tier != Tier.Blocked && decision.IsRateLimited ? decision.ToError(capability) : null;
        return new PolicyVerdict(decision.Tier, decision.RuleReference, decision.Reason, decision.PolicyRevision, refusal, decision.RateLimitHit);
    }
}
