using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;
using KruxOS.Core.Supervision;

namespace KruxOS.Actors.ToolRuns;

/// <summary>
/// What a tool run publishes on the node's event stream (spec §5), as pure payloads: the run decides when, this decides
/// the shape (<c>kruxos watch</c> and the control socket render them as they are).
/// </summary>
internal static class ToolRunEvents
{
    /// <summary><c>capability_invoked</c>: the call was decided.</summary>
    public static (string Type, object Data) Invoked(CapabilityDefinition capability, PolicyVerdict verdict) =>
        (SupervisionEventTypes.CapabilityInvoked, new { capability = capability.Name.Value, permission_tier = verdict.Tier.ToWire() });

    /// <summary><c>policy_violation</c>: policy blocked the call.</summary>
    public static (string Type, object Data) Violation(CapabilityDefinition capability, PolicyVerdict verdict) =>
        (SupervisionEventTypes.PolicyViolation, new { capability = capability.Name.Value, rule = verdict.Rule, reason = verdict.Reason, tier = verdict.Tier.ToWire() });

    /// <summary><c>notification</c>: the call runs under the notify tier.</summary>
    public static (string Type, object Data) Notified(CapabilityDefinition capability, PolicyVerdict verdict) =>
        (SupervisionEventTypes.Notification, new { capability = capability.Name.Value, rule = verdict.Rule, reason = verdict.Reason });

    /// <summary><c>capability_error</c> or <c>capability_result</c>: how the call was answered.</summary>
    public static (string Type, object Data) Answered(string capability, StructuredError? error, Tier? tier, long durationMicros) => error is { } e
        ? (SupervisionEventTypes.CapabilityError, new { capability, error_type = e.ErrorType, message = e.Message, tier = tier?.ToWire() })
        : (SupervisionEventTypes.CapabilityResult, new { capability, success = true, duration_ms = durationMicros / 1000.0 });

    /// <summary>
    /// <c>rate_limit_hit</c> (spec §5: capability_pattern, limit, window ("1h"), retry_after_seconds), plus what the limit
    /// did: refused the call, or escalated its tier.
    /// </summary>
    public static (string Type, object Data) RateLimitHit(CapabilityDefinition capability, PolicyVerdict verdict, RateLimitHit hit)
    {
        var refused = hit.Effect == RateLimitEffect.Refused;
        return (SupervisionEventTypes.RateLimitHit, new
        {
            capability = capability.Name.Value,
            capability_pattern = hit.CapabilityPattern,
            rule = hit.Rule,
            limit = hit.Limit.Max,
            window = hit.Limit.WindowText,
            window_seconds = hit.Limit.WindowSeconds,
            action = refused ? "limited" : "escalated",
            escalated_to = refused ? null : verdict.Tier.ToWire(),
            retry_after_seconds = hit.RetryAfter is { } wait ? Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)) : (long?)null,
        });
    }
}
