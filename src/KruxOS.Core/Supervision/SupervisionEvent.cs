using System.Text.Json;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Supervision;

/// <summary>
/// One event of the supervision stream (spec §5): what <c>kruxos watch</c> and the dashboard show.
/// </summary>
/// <param name="Type">e.g. <c>capability_invoked</c>, <c>policy_violation</c>, <c>session_started</c>.</param>
/// <param name="Timestamp">When it happened.</param>
/// <param name="Agent">The agent concerned, or null for gateway-wide events.</param>
/// <param name="SessionId">The session concerned, if any.</param>
/// <param name="Data">Type-specific fields.</param>
[WireName("supervision.event.v1")]
public sealed record SupervisionEvent(string Type, DateTimeOffset Timestamp, string? Agent, string? SessionId, JsonElement Data) : IKruxMessage
{
    /// <summary>Creates an event whose data is serialized from an object (snake_case).</summary>
    public static SupervisionEvent Create<T>(string type, DateTimeOffset at, string? agent, string? sessionId, T data) =>
        new(type, at, agent, sessionId, JsonSerializer.SerializeToElement(data, CoreJson.Options));
}

/// <summary>The event type names of spec §5.</summary>
public static class SupervisionEventTypes
{
    public const string CapabilityInvoked = "capability_invoked";
    public const string CapabilityResult = "capability_result";
    public const string CapabilityError = "capability_error";
    public const string PolicyViolation = "policy_violation";
    public const string Notification = "notification";
    public const string ApprovalRequested = "approval_requested";
    public const string ApprovalResolved = "approval_resolved";
    public const string SessionStarted = "session_started";
    public const string SessionEnded = "session_ended";
    public const string RateLimitHit = "rate_limit_hit";
    public const string HealthAlert = "health_alert";
}
