using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using static KruxOS.Core.Identity.IdentityCommands;
using static KruxOS.Core.Identity.IdentityEvents;

namespace KruxOS.Core.Identity;

/// <summary>Lifecycle status of an agent identity.</summary>
public enum AgentStatus { Active, Revoked }

/// <summary>An agent identity. Only the token's SHA-256 is kept.</summary>
[WireName("identity.agent-record.v1")]
public sealed record AgentRecord(string Name, string Purpose, AgentStatus Status, string TokenHash,
    DateTimeOffset CreatedAt, DateTimeOffset? TokenIssuedAt, DateTimeOffset? RevokedAt) : IKruxMessage;

/// <summary>Lifecycle status of a user token.</summary>
public enum UserTokenStatus { Active, Revoked }

/// <summary>A user token's metadata. Only the token's SHA-256 is kept. <paramref name="Role"/> is fixed at creation (a
/// snapshot written before roles existed reads back as <see cref="CredentialRole.Client"/>).</summary>
[WireName("identity.user-token-record.v1")]
public sealed record UserTokenRecord(string Id, string Label, UserTokenStatus Status, string TokenHash,
    DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, CredentialRole Role = CredentialRole.Client) : IKruxMessage;

/// <summary>What a presented token resolves to.</summary>
public enum CredentialMatch { Unknown, Agent, RevokedAgent, User, RevokedUser }

/// <summary>
/// The identity registry's state: agents and user tokens, with hash indexes for authentication.
/// Changed only through <see cref="IdentityStateExtensions.ProcessCommand"/> / <see cref="IdentityStateExtensions.Apply"/>.
/// </summary>
[WireName("identity.state.v1")]
public sealed record IdentityState(
    ImmutableSortedDictionary<string, AgentRecord> Agents,
    ImmutableSortedDictionary<string, UserTokenRecord> UserTokens) : IKruxMessage
{
    /// <summary>No agents, no tokens.</summary>
    public static readonly IdentityState Empty = new(
        ImmutableSortedDictionary.Create<string, AgentRecord>(StringComparer.Ordinal),
        ImmutableSortedDictionary.Create<string, UserTokenRecord>(StringComparer.Ordinal));

    // The copy constructor that 'with' uses must not carry the lazily built indexes over to the copy.
    private IdentityState(IdentityState original)
    {
        Agents = original.Agents;
        UserTokens = original.UserTokens;
    }

    private ImmutableDictionary<string, string>? _agentByHash;
    private ImmutableDictionary<string, string>? _userByHash;

    private ImmutableDictionary<string, string> AgentByHash => _agentByHash ??=
        Agents.Values.ToImmutableDictionary(a => a.TokenHash, a => a.Name, StringComparer.Ordinal);

    private ImmutableDictionary<string, string> UserByHash => _userByHash ??=
        UserTokens.Values.ToImmutableDictionary(t => t.TokenHash, t => t.Id, StringComparer.Ordinal);

    /// <summary>Resolves a token hash to the identity it belongs to.</summary>
    public (CredentialMatch Match, AgentRecord? Agent, UserTokenRecord? User) Resolve(string tokenHash)
    {
        if (AgentByHash.TryGetValue(tokenHash, out var agentName))
        {
            var a = Agents[agentName];
            return (a.Status == AgentStatus.Active ? CredentialMatch.Agent : CredentialMatch.RevokedAgent, a, null);
        }
        if (UserByHash.TryGetValue(tokenHash, out var id))
        {
            var t = UserTokens[id];
            return (t.Status == UserTokenStatus.Active ? CredentialMatch.User : CredentialMatch.RevokedUser, null, t);
        }
        return (CredentialMatch.Unknown, null, null);
    }

    /// <summary>Number of agents that are not revoked.</summary>
    public int ActiveAgentCount => Agents.Values.Count(a => a.Status == AgentStatus.Active);

    /// <summary>Content equality (collections compared by value).</summary>
    public bool Equals(IdentityState? other) =>
        other is not null && Agents.SequenceEqual(other.Agents) && UserTokens.SequenceEqual(other.UserTokens);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Agents.Count, UserTokens.Count);
}

/// <summary>The pure command and event functions of the identity registry.</summary>
public static class IdentityStateExtensions
{
    /// <summary>Decides a command: the reply and the events to persist (none on refusal).</summary>
    public static (IdentityResult Result, ImmutableArray<IIdentityEvent> Events) ProcessCommand(this IdentityState state, IIdentityCommand command)
    {
        switch (command)
        {
            case CreateAgent c:
                if (!AgentName.TryParse(c.Name, out _, out var why)) return Refuse(IdentityResultCode.InvalidInput, why);
                if (state.Agents.ContainsKey(c.Name)) return Refuse(IdentityResultCode.AlreadyExists, $"agent '{c.Name}' already exists");
                if (c.Purpose.Length > 1000) return Refuse(IdentityResultCode.InvalidInput, "purpose is longer than 1000 characters");
                return Accept(state, new AgentCreated(c.Name, c.Purpose.Trim(), c.TokenHash, c.At), c.Name);

            case RotateAgentToken c:
                if (!state.Agents.TryGetValue(c.Name, out var rot)) return Refuse(IdentityResultCode.NotFound, $"agent '{c.Name}' not found");
                if (rot.Status == AgentStatus.Revoked) return Refuse(IdentityResultCode.InvalidState, $"agent '{c.Name}' is revoked; restore it instead");
                return Accept(state, new AgentTokenRotated(c.Name, c.TokenHash, c.At), c.Name);

            case RevokeAgent c:
                if (!state.Agents.TryGetValue(c.Name, out var rev)) return Refuse(IdentityResultCode.NotFound, $"agent '{c.Name}' not found");
                if (rev.Status == AgentStatus.Revoked) return Refuse(IdentityResultCode.InvalidState, $"agent '{c.Name}' is already revoked");
                return Accept(state, new AgentRevoked(c.Name, c.At), c.Name);

            case RestoreAgent c:
                if (!state.Agents.TryGetValue(c.Name, out var res)) return Refuse(IdentityResultCode.NotFound, $"agent '{c.Name}' not found");
                if (res.Status == AgentStatus.Active) return Refuse(IdentityResultCode.InvalidState, $"agent '{c.Name}' is not revoked");
                return Accept(state, new AgentRestored(c.Name, c.TokenHash, c.At), c.Name);

            case CreateUserToken c:
                if (string.IsNullOrWhiteSpace(c.Label) || c.Label.Length > 100 || c.Label.Any(char.IsControl))
                    return Refuse(IdentityResultCode.InvalidInput, "label must be 1-100 printable characters");
                if (state.UserTokens.Values.Any(t => t.Label == c.Label && t.Status == UserTokenStatus.Active))
                    return Refuse(IdentityResultCode.AlreadyExists, $"an active user token labelled '{c.Label}' already exists");
                if (state.UserTokens.ContainsKey(c.Id)) return Refuse(IdentityResultCode.AlreadyExists, $"user token '{c.Id}' already exists");
                if (!Enum.IsDefined(c.Role)) return Refuse(IdentityResultCode.InvalidInput, "role must be client or operator");
                return AcceptUser(state, new UserTokenCreated(c.Id, c.Label, c.TokenHash, c.At, c.Role), c.Id);

            case RevokeUserToken c:
                if (!state.UserTokens.TryGetValue(c.Id, out var tok)) return Refuse(IdentityResultCode.NotFound, $"user token '{c.Id}' not found");
                if (tok.Status == UserTokenStatus.Revoked) return Refuse(IdentityResultCode.InvalidState, $"user token '{c.Id}' is already revoked");
                return AcceptUser(state, new UserTokenRevoked(c.Id, c.At), c.Id);

            default:
                return Refuse(IdentityResultCode.InvalidInput, $"unknown command {command.GetType().Name}");
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock.</summary>
    public static IdentityState Apply(this IdentityState state, IIdentityEvent e) => e switch
    {
        AgentCreated a => state with
        {
            Agents = state.Agents.SetItem(a.Name, new AgentRecord(a.Name, a.Purpose, AgentStatus.Active, a.TokenHash, a.At, a.At, null)),
        },
        AgentTokenRotated r => state with { Agents = state.Agents.SetItem(r.Name, state.Agents[r.Name] with { TokenHash = r.TokenHash, TokenIssuedAt = r.At }) },
        AgentRevoked r => state with { Agents = state.Agents.SetItem(r.Name, state.Agents[r.Name] with { Status = AgentStatus.Revoked, RevokedAt = r.At }) },
        AgentRestored r => state with
        {
            Agents = state.Agents.SetItem(r.Name, state.Agents[r.Name] with { Status = AgentStatus.Active, TokenHash = r.TokenHash, TokenIssuedAt = r.At, RevokedAt = null }),
        },
        UserTokenCreated u => state with
        {
            UserTokens = state.UserTokens.SetItem(u.Id, new UserTokenRecord(u.Id, u.Label, UserTokenStatus.Active, u.TokenHash, u.At, null, u.Role)),
        },
        UserTokenRevoked u => state with { UserTokens = state.UserTokens.SetItem(u.Id, state.UserTokens[u.Id] with { Status = UserTokenStatus.Revoked, RevokedAt = u.At }) },
        _ => state,
    };

    private static (IdentityResult, ImmutableArray<IIdentityEvent>) Refuse(IdentityResultCode code, string message) =>
        (new IdentityResult(code, message), ImmutableArray<IIdentityEvent>.Empty);

    private static (IdentityResult, ImmutableArray<IIdentityEvent>) Accept(IdentityState state, IIdentityEvent e, string agent)
    {
        var next = state.Apply(e);
        return (new IdentityResult(IdentityResultCode.Ok, "ok", next.Agents[agent]), [e]);
    }

    private static (IdentityResult, ImmutableArray<IIdentityEvent>) AcceptUser(IdentityState state, IIdentityEvent e, string id)
    {
        var next = state.Apply(e);
        return (new IdentityResult(IdentityResultCode.Ok, "ok", UserToken: next.UserTokens[id]), [e]);
    }
}
