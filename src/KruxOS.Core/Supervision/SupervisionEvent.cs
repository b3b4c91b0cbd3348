using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Supervision;

/// <summary>
/// One event of the supervision stream (spec §5): what <c>kruxos watch</c> and the dashboard show.
/// Events made by <see cref="Create{T}"/> keep their fields as an object and render <see cref="Data"/> on
/// first read: every call publishes events, and most of them are only counted, never shown.
/// </summary>
[WireName("supervision.event.v1")]
public sealed record SupervisionEvent : IKruxMessage
{
    private readonly object? _payload;
    private StrongBox<JsonElement>? _data;

    /// <summary>An event whose fields are already JSON.</summary>
    /// <param name="type">e.g. <c>capability_invoked</c>, <c>policy_violation</c>, <c>session_started</c>.</param>
    /// <param name="timestamp">When it happened.</param>
    /// <param name="agent">The agent concerned, or null for gateway-wide events.</param>
    /// <param name="sessionId">The session concerned, if any.</param>
    /// <param name="data">Type-specific fields.</param>
    [JsonConstructor]
    public SupervisionEvent(string type, DateTimeOffset timestamp, string? agent, string? sessionId, JsonElement data)
    {
        Type = type;
        Timestamp = timestamp;
        Agent = agent;
        SessionId = sessionId;
        _data = new StrongBox<JsonElement>(data);
    }

    private SupervisionEvent(string type, DateTimeOffset timestamp, string? agent, string? sessionId, object payload)
    {
        Type = type;
        Timestamp = timestamp;
        Agent = agent;
        SessionId = sessionId;
        _payload = payload;
    }

    /// <summary>e.g. <c>capability_invoked</c>, <c>policy_violation</c>, <c>session_started</c>.</summary>
    public string Type { get; init; }

    /// <summary>When it happened.</summary>
    public DateTimeOffset Timestamp { get; init; }

    /// <summary>The agent concerned, or null for gateway-wide events.</summary>
    public string? Agent { get; init; }

    /// <summary>The session concerned, if any.</summary>
    public string? SessionId { get; init; }

    /// <summary>
    /// In a cluster, the node the event happened on (<c>host:port</c>): set when it is shared with the other nodes
    /// (ADR 0059) and on this node's own events as a watcher sees them; null on a single node.
    /// </summary>
    public string? Node { get; init; }

    /// <summary>Type-specific fields (snake_case JSON), rendered once on first read; safe from any thread.</summary>
    public JsonElement Data => (Volatile.Read(ref _data) ?? Render()).Value;

    private StrongBox<JsonElement> Render()
    {
        var rendered = new StrongBox<JsonElement>(JsonSerializer.SerializeToElement(_payload, _payload!.GetType(), CoreJson.Options));
        return Interlocked.CompareExchange(ref _data, rendered, null) ?? rendered;
    }

    /// <summary>Creates an event whose data is serialized from an object (snake_case) when first read.</summary>
    public static SupervisionEvent Create<T>(string type, DateTimeOffset at, string? agent, string? sessionId, T data) where T : notnull =>
        new(type, at, agent, sessionId, (object)data);
}

/// <summary>
/// A supervision event that happened on another node of the cluster, as its relay put it on this node's event stream.
/// Only watchers (<c>kruxos watch</c>, the dashboard's activity) take it; this node's own counters and hubs, which
/// subscribe to <see cref="SupervisionEvent"/>, never see it, so nothing is counted twice.
/// </summary>
/// <param name="Event">The event, with its <see cref="SupervisionEvent.Node"/>.</param>
public sealed record RemoteSupervisionEvent(SupervisionEvent Event);

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
