using KruxOS.Core.Serialization;

namespace KruxOS.Core.Identity;

/// <summary>Marker for persisted identity events. Every event carries the time it was decided.</summary>
public interface IIdentityEvent : IKruxMessage
{
    DateTimeOffset At { get; }
}

/// <summary>Persisted identity events (never deleted: the identity history is part of the audit story).</summary>
public static class IdentityEvents
{
    [WireName("identity.agent-created.v1")]
    public sealed record AgentCreated(string Name, string Purpose, string TokenHash, DateTimeOffset At) : IIdentityEvent;

    [WireName("identity.agent-token-rotated.v1")]
    public sealed record AgentTokenRotated(string Name, string TokenHash, DateTimeOffset At) : IIdentityEvent;

    [WireName("identity.agent-revoked.v1")]
    public sealed record AgentRevoked(string Name, DateTimeOffset At) : IIdentityEvent;

    [WireName("identity.agent-restored.v1")]
    public sealed record AgentRestored(string Name, string TokenHash, DateTimeOffset At) : IIdentityEvent;

    /// <summary>
    /// A user token was created. <paramref name="Role"/> was added after the first release: events written before it
    /// carry none and read back as <see cref="CredentialRole.Client"/> — an upgraded token keeps making calls but
    /// cannot decide approvals until the operator creates an operator token (ADR 0021).
    /// </summary>
    [WireName("identity.user-token-created.v1")]
    public sealed record UserTokenCreated(string Id, string Label, string TokenHash, DateTimeOffset At, CredentialRole Role = CredentialRole.Client) : IIdentityEvent;

    [WireName("identity.user-token-revoked.v1")]
    public sealed record UserTokenRevoked(string Id, DateTimeOffset At) : IIdentityEvent;
}
