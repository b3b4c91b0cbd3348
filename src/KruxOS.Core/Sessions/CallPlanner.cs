using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Core.Sessions;

/// <summary>A call resolved at the boundary: its capability and normalized arguments, or why it is refused there.</summary>
/// <param name="Capability">The capability the requested name resolves to; null when it does not resolve.</param>
/// <param name="Arguments">The normalized arguments once they validate; otherwise the arguments as sent.</param>
/// <param name="Refusal">Why the call fails at the boundary (unknown capability, invalid input, an edge refusal); null when it goes on to be decided.</param>
public sealed record ResolvedCall(CapabilityDefinition? Capability, JsonElement Arguments, StructuredError? Refusal);

/// <summary>A call decided by policy, as the session plans its run.</summary>
/// <param name="Verdict">The policy verdict (tier, rule, reason, revision, rate-limit refusal).</param>
/// <param name="Refusal">Why the call fails although policy decided it (the approval queue is still loading); null otherwise.</param>
/// <param name="ApprovalArgumentsHash">The canonical hash of the arguments when the call must be held for approval on this node; null otherwise.</param>
public sealed record CallDecision(PolicyVerdict Verdict, StructuredError? Refusal, string? ApprovalArgumentsHash);

/// <summary>
/// Planning of one call, pure: resolve the requested name and validate the arguments (<see cref="Resolve"/>), then ask
/// the policy seam for a verdict over the session's rate state (<see cref="Decide"/>). The two stages are apart so a
/// sandboxed call whose path arguments a rule decides on can have them resolved in the sandbox in between (ADR 0023).
/// The session entity owns the rate state and the approval join; this function owns the rules.
/// </summary>
public static class CallPlanner
{
    /// <summary>Counters of rate windows that have passed are dropped once every this many invocations, so the rate state stays bounded.</summary>
    public const int PruneEvery = 256;

    /// <summary>Resolves <paramref name="call"/>'s name in <paramref name="registry"/> and validates (and normalizes) its arguments.</summary>
    public static ResolvedCall Resolve(ToolCall call, CapabilityRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(registry);
        if (!registry.TryResolve(call.RequestedName, out var capability))
            return new ResolvedCall(null, call.Arguments, Errors.Errors.UnknownCapability(call.RequestedName));
        if (!ArgumentValidator.TryValidate(capability, call.Arguments, out var normalized, out var invalid))
            return new ResolvedCall(capability, call.Arguments, invalid);
        return new ResolvedCall(capability, normalized, null);
    }

    /// <summary>
    /// A call refused before planning (at the edge, a malformed idempotency key, a failure of the session): recorded
    /// under its dotted name when the requested name resolves (<c>tools/call</c> sends <c>category__op</c>), with its arguments as sent.
    /// </summary>
    public static ResolvedCall Refused(ToolCall call, CapabilityRegistry registry, StructuredError refusal)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(registry);
        return new ResolvedCall(registry.TryResolve(call.RequestedName, out var named) ? named : null, call.Arguments, refusal);
    }

    /// <summary>
    /// Decides a resolved call for <paramref name="principal"/> at <paramref name="now"/> and returns the session's next
    /// rate state. <paramref name="invocation"/> is the session's invocation count (pruning every <see cref="PruneEvery"/>).
    /// A call that needs approval is refused (retryable) while the node's approval index is still loading
    /// (<paramref name="approvalIndexLoading"/>: it cannot tell whether the identical call is already pending, and a second
    /// request would duplicate it), unless it is <paramref name="reattached"/> to the approval it names; otherwise it gets
    /// the hash it is joined by, when this node has an approval queue (<paramref name="approvalsAvailable"/>).
    /// A proxied write is then counted against its batch limit (<paramref name="batch"/>, spec §12.5) and escalated to
    /// approval beyond it; without an approval queue such a write fails with <c>proxy.batch_protection</c>.
    /// </summary>
    public static (CallDecision Decision, RateState Rates) Decide(ResolvedCall call, Principal principal, IPolicySeam policy, RateState rates,
        DateTimeOffset now, long invocation, bool approvalIndexLoading, bool approvalsAvailable, bool reattached,
        Proxy.BatchRules? batch = null, string? sessionId = null)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(rates);
        if (call.Capability is not { } capability || call.Refusal is not null)
            throw new ArgumentException("only a call that resolved without a refusal is decided", nameof(call));
        if (invocation % PruneEvery == 0) rates = rates.Prune(now);
        var verdict = policy.Decide(principal, capability, call.Arguments, now, rates, out var next);
        if (batch is not null)
        {
            (verdict, next, var check) = batch.Apply(verdict, principal, capability.Name, call.Arguments, sessionId, next, now);
            // Escalated by batch protection where no approval can hold it: refused with the spec's error, never run.
            if (check is { Escalated: true } && verdict.Tier == Tier.ApprovalRequired && !approvalsAvailable)
                return (new CallDecision(verdict with { Refusal = check.ToError() }, null, null), next);
        }
        var held = verdict.Tier == Tier.ApprovalRequired && verdict.Refusal is null;
        if (held && !reattached && approvalIndexLoading)
            return (new CallDecision(verdict, Errors.Errors.ServiceUnavailable("approvals", "the approval queue is still loading after a restart; retry shortly"), null), next);
        var hash = held && approvalsAvailable ? ApprovalArguments.Hash(call.Arguments) : null;
        return (new CallDecision(verdict, null, hash), next);
    }
}
