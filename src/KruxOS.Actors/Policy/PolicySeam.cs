using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Policy;

/// <summary>The outcome of the "decide" stage of the pipeline for one call.</summary>
/// <param name="Tier">The tier the call runs under.</param>
/// <param name="Rule">The deciding rule (file and line, a system protection, or the definition default).</param>
/// <param name="Reason">Why, in words.</param>
/// <param name="Revision">The policy revision that decided.</param>
/// <param name="Refusal">Set when the call must fail without running for a reason other than the tier (e.g. rate limited).</param>
/// <param name="RateLimitHit">Set when a full rate limit escalated or refused the call (published as <c>rate_limit_hit</c>).</param>
public sealed record PolicyVerdict(Tier Tier, string Rule, string Reason, string Revision, StructuredError? Refusal = null,
    RateLimitHit? RateLimitHit = null)
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

/// <summary>
/// The "decide" seam of the pipeline. Implementations are pure with respect to their inputs: the
/// per-agent rate state is owned by the agent's session entity and passed in and out.
/// </summary>
public interface IPolicySeam
{
    /// <summary>Decides a call. <paramref name="rateState"/> is the session's rate ledger; the next one is returned.</summary>
    PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now,
        RateState rateState, out RateState newRateState);

    /// <summary>The tier a capability is shown with in tool listings (blocked ones are hidden).</summary>
    Tier VisibleTier(Principal principal, CapabilityDefinition capability);

    /// <summary>What <c>agent.policy</c> reports.</summary>
    EffectivePolicy Effective(Principal principal, CapabilityRegistry registry);

    /// <summary>
    /// The git remotes the principal's policy allows (<c>git.remotes</c>, ADR 0012), read when a git call
    /// executes. The default allows none: a seam that knows no policy fails closed.
    /// </summary>
    GitRemoteAllowlist GitRemotes(Principal principal) => GitRemoteAllowlist.None;

    /// <summary>
    /// The path arguments of <paramref name="capability"/> that a rule which can apply to <paramref name="principal"/>
    /// decides on (<see cref="PolicyEngine.DecidedPathArguments"/>): a sandboxed call naming one of them is decided on
    /// the path the sandbox resolves (ADR 0023). The default decides on none.
    /// </summary>
    System.Collections.Immutable.ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability) => [];

    /// <summary>
    /// Decides one entry a tree walk reaches (ADR 0028, <see cref="WalkPolicy.Decide"/>) on the policy in force: null when
    /// the walk may open <paramref name="path"/>, else the refusal naming it. The default holds nothing back.
    /// </summary>
    StructuredError? DecideWalkEntry(Principal principal, CapabilityDefinition capability, JsonElement arguments, string argument, string path, DateTimeOffset now) => null;

    /// <summary>Raised when the compiled policy changes, so connections can send <c>tools/list_changed</c>.</summary>
    event Action? Changed;
}
