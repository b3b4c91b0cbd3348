using KruxOS.Core.Agents;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Identity;

/// <summary>
/// Whether the identity a call runs for may still make calls, decided again by the agent's session for every call,
/// whoever submitted it. The edges refuse a revoked credential when they authenticate; an in-process submitter (the
/// scheduler, a dashboard action) has no credential to present, and a call can be queued between an edge's check and
/// the session, so the session repeats the check against the node's identity read model with the edges' own errors.
/// </summary>
public static class CallerStanding
{
    /// <summary>
    /// The refusal for a call run for <paramref name="agent"/>, or null when it may proceed. A revoked agent is refused
    /// with <c>auth.agent_revoked</c>, the user context of a revoked user token with <c>auth.user_token_revoked</c>, as
    /// the edges answer them. Until the node knows its identities (<paramref name="ready"/> false) nothing proceeds: a
    /// retryable <c>ServiceUnavailable</c>, never a guess. An agent name the registry has never held is left to the
    /// submitter's authentication (an edge accepts none, the scheduler runs none).
    /// </summary>
    public static StructuredError? Refusal(IdentityState state, bool ready, AgentName agent)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!ready) return Errors.Errors.ServiceUnavailable("identities", "the gateway is still recovering its identities; retry shortly").RetryAfter(1);
        if (agent.IsUserContext)
        {
            foreach (var token in state.UserTokens.Values)
                if (token.Status == UserTokenStatus.Revoked && AgentName.UserContext(token.Id) == agent) return Errors.Errors.UserTokenRevoked();
            return null;
        }
        return state.Agents.TryGetValue(agent.Value, out var record) && record.Status == AgentStatus.Revoked ? Errors.Errors.AgentRevoked(record.Name) : null;
    }
}
