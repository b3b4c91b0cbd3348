using KruxOS.Core.Serialization;

namespace KruxOS.Core.Identity;

/// <summary>Marker for commands to the identity registry.</summary>
public interface IIdentityCommand : IKruxMessage;

/// <summary>
/// Commands to the identity registry. Tokens are generated at the edge and only their hashes travel
/// here; the time of the decision is carried by the command so the registry's state stays pure.
/// </summary>
public static class IdentityCommands
{
    [WireName("identity.create-agent.v1")]
    public sealed record CreateAgent(string Name, string Purpose, string TokenHash, DateTimeOffset At) : IIdentityCommand;

    [WireName("identity.rotate-agent.v1")]
    public sealed record RotateAgentToken(string Name, string TokenHash, DateTimeOffset At) : IIdentityCommand;

    [WireName("identity.revoke-agent.v1")]
    public sealed record RevokeAgent(string Name, DateTimeOffset At) : IIdentityCommand;

    [WireName("identity.restore-agent.v1")]
    public sealed record RestoreAgent(string Name, string TokenHash, DateTimeOffset At) : IIdentityCommand;

    /// <summary>Creates a user token with a role that never changes afterwards (ADR 0021); <see cref="CredentialRole.Client"/> unless asked.</summary>
    [WireName("identity.create-user-token.v1")]
    public sealed record CreateUserToken(string Id, string Label, string TokenHash, DateTimeOffset At, CredentialRole Role = CredentialRole.Client) : IIdentityCommand;

    [WireName("identity.revoke-user-token.v1")]
    public sealed record RevokeUserToken(string Id, DateTimeOffset At) : IIdentityCommand;
}

/// <summary>
/// The registry's state with its version (the registry's journal sequence number): what it publishes to the
/// nodes' replicas and answers <see cref="IdentityQueries.GetIdentities"/> with. Replicas apply only newer
/// versions, so a late answer can never bring back a state a newer one replaced (a revoked token).
/// </summary>
[WireName("identity.versioned-state.v1")]
public sealed record VersionedIdentityState(long Version, IdentityState State) : IKruxMessage;

/// <summary>Queries to the identity registry.</summary>
public static class IdentityQueries
{
    /// <summary>Returns the whole state as a <see cref="VersionedIdentityState"/>.</summary>
    [WireName("identity.get-state.v1")]
    public sealed record GetIdentities : IKruxMessage
    {
        public static readonly GetIdentities Instance = new();
    }
}

/// <summary>Outcome codes of identity commands.</summary>
public enum IdentityResultCode { Ok, NotFound, AlreadyExists, InvalidState, InvalidInput }

/// <summary>The reply to every identity command.</summary>
[WireName("identity.result.v1")]
public sealed record IdentityResult(IdentityResultCode Code, string Message, AgentRecord? Agent = null, UserTokenRecord? UserToken = null) : IKruxMessage
{
    public bool IsOk => Code == IdentityResultCode.Ok;
}
