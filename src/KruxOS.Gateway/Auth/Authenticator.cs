using System.Collections.Concurrent;
using System.Net;
using KruxOS.Actors.Identity;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using Microsoft.Extensions.Primitives;

namespace KruxOS.Gateway.Auth;

/// <summary>Who a request authenticated as.</summary>
/// <param name="Principal">The principal for policy and audit.</param>
/// <param name="Agent">The agent whose session handles the calls (for a user token: the agent named by the caller).</param>
/// <param name="UserTokenId">The user token's id, for a user principal.</param>
public sealed record AuthenticatedCaller(Principal Principal, AgentName? Agent, string? UserTokenId);

/// <summary>Either an authenticated caller or a structured refusal with its HTTP status.</summary>
public sealed record AuthOutcome(AuthenticatedCaller? Caller, StructuredError? Error, int StatusCode)
{
    public bool Succeeded => Caller is not null;
}

/// <summary>
/// Authenticates every connection and request: a bearer token from <c>Authorization</c> or
/// <c>?token=</c>, an optional agent name (<c>X-KruxOS-Agent</c> / <c>?agent=</c>) that must match,
/// revocation checks, and a per-address limit on failures. Tokens are hashed at once and never logged.
/// </summary>
public sealed class Authenticator(IdentityDirectory identities, SessionCredentialStore sessions, TimeProvider clock, UserTokenUsage? usage = null)
{
    private readonly FailureWindow _failures = new(clock);

    /// <summary>Authenticates an HTTP request or WebSocket upgrade on the gateway port.</summary>
    /// <param name="http">The request or upgrade.</param>
    /// <param name="allowUserTokens">Whether a <c>krx_user_</c> token is accepted here.</param>
    /// <param name="allowSessionCredentials">Whether a minted <c>krx_sess_</c> credential is accepted here (MCP surfaces only).</param>
    public AuthOutcome Authenticate(HttpContext http, bool allowUserTokens, bool allowSessionCredentials = false)
    {
        var address = http.Connection.RemoteIpAddress ?? IPAddress.None;
        if (_failures.IsLimited(address, out var retryAfter))
            return new AuthOutcome(null, Errors.AuthRateLimited(retryAfter), StatusCodes.Status429TooManyRequests);

        var token = BearerToken(http);
        var requestedAgent = FirstNonEmpty(http.Request.Headers["X-KruxOS-Agent"], http.Request.Query["agent"]);
        var outcome = Resolve(token, requestedAgent, allowUserTokens, allowSessionCredentials);
        if (!outcome.Succeeded && outcome.StatusCode == StatusCodes.Status401Unauthorized) _failures.Record(address);
        return outcome;
    }

    /// <summary>Resolves a token (and optional agent name) against the current identities.</summary>
    public AuthOutcome Resolve(string? token, string? requestedAgent, bool allowUserTokens, bool allowSessionCredentials = false)
    {
        if (string.IsNullOrEmpty(token))
            return Refuse(Errors.MissingCredentials());
        if (TokenHashing.IsSessionTokenShape(token))
            return allowUserTokens && allowSessionCredentials ? ResolveSession(token, requestedAgent) : Refuse(Errors.InvalidCredentials());
        if (!TokenHashing.IsAgentTokenShape(token) && !TokenHashing.IsUserTokenShape(token))
            return Refuse(Errors.InvalidCredentials());
        // Until the identities are recovered a valid token would look unknown: answer "not yet" (retryable),
        // never "refused", so a client reconnecting to a restarting gateway keeps trying instead of giving up.
        if (!identities.Ready.IsCompletedSuccessfully)
            return new AuthOutcome(null, Errors.ServiceUnavailable("identities", "the gateway is still recovering its identities; retry shortly").RetryAfter(1),
                StatusCodes.Status503ServiceUnavailable);

        var (match, agent, user) = identities.Current.Resolve(TokenHashing.Hash(token));
        switch (match)
        {
            case CredentialMatch.Agent:
                if (!string.IsNullOrEmpty(requestedAgent) && requestedAgent != agent!.Name) return Refuse(Errors.InvalidCredentials());
                return new AuthOutcome(new AuthenticatedCaller(Principal.ForAgent(AgentName.Parse(agent!.Name)), AgentName.Parse(agent.Name), null), null, 200);
            case CredentialMatch.RevokedAgent:
                return Refuse(Errors.AgentRevoked(agent!.Name));
            case CredentialMatch.User when allowUserTokens:
                AgentName? acting = null;
                if (!string.IsNullOrEmpty(requestedAgent))
                {
                    if (!AgentName.TryParse(requestedAgent, out var a, out _) || !identities.Current.Agents.TryGetValue(a.Value, out var rec) || rec.Status != AgentStatus.Active)
                        return Refuse(Errors.InvalidCredentials());
                    acting = a;
                }
                usage?.Used(user!.Id);
                // Without a named agent, the operator's calls run in their own user-context session.
                return new AuthOutcome(new AuthenticatedCaller(Principal.ForUser(user!.Label), acting ?? AgentName.UserContext(user.Id), user.Id), null, 200);
            case CredentialMatch.User:
                return Refuse(Errors.InvalidCredentials());
            case CredentialMatch.RevokedUser:
                return Refuse(Errors.UserTokenRevoked());
            default:
                return Refuse(Errors.InvalidCredentials());
        }
    }

    /// <summary>
    /// A minted credential stands for its user token: it opens connections only as that user principal (no
    /// acting agent), only until it expires, and only while the user token is still active.
    /// </summary>
    private AuthOutcome ResolveSession(string token, string? requestedAgent)
    {
        var credential = sessions.Resolve(token);
        if (credential is null || !string.IsNullOrEmpty(requestedAgent)) return Refuse(Errors.InvalidCredentials());
        if (!identities.Current.UserTokens.TryGetValue(credential.UserTokenId, out var user)) return Refuse(Errors.InvalidCredentials());
        if (user.Status != UserTokenStatus.Active) return Refuse(Errors.UserTokenRevoked());
        usage?.Used(user.Id);
        return new AuthOutcome(new AuthenticatedCaller(Principal.ForUser(user.Label), AgentName.UserContext(user.Id), user.Id), null, 200);
    }

    /// <summary>The bearer token of a request, from the header or the query string.</summary>
    public static string? BearerToken(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return header[7..].Trim();
        var query = http.Request.Query["token"].ToString();
        return string.IsNullOrEmpty(query) ? null : query;
    }

    private static string? FirstNonEmpty(StringValues a, StringValues b) =>
        !StringValues.IsNullOrEmpty(a) ? a.ToString() : !StringValues.IsNullOrEmpty(b) ? b.ToString() : null;

    private static AuthOutcome Refuse(StructuredError error) => new(null, error, StatusCodes.Status401Unauthorized);

    /// <summary>Failed attempts per address in the last minute (spec §2.4: N per minute, retry after 60 s).</summary>
    private sealed class FailureWindow(TimeProvider clock)
    {
        private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
        private readonly ConcurrentDictionary<IPAddress, Queue<DateTimeOffset>> _byAddress = new();

        public void Record(IPAddress address)
        {
            var q = _byAddress.GetOrAdd(address, _ => new Queue<DateTimeOffset>());
            lock (q)
            {
                Trim(q);
                q.Enqueue(clock.GetUtcNow());
            }
            if (_byAddress.Count > 10_000) Sweep();
        }

        public bool IsLimited(IPAddress address, out int retryAfterSeconds)
        {
            retryAfterSeconds = 0;
            if (!_byAddress.TryGetValue(address, out var q)) return false;
            lock (q)
            {
                Trim(q);
                if (q.Count < Errors.AuthFailuresPerMinute) return false;
                retryAfterSeconds = Math.Max(1, (int)Math.Ceiling((q.Peek() + Window - clock.GetUtcNow()).TotalSeconds));
                return true;
            }
        }

        private void Trim(Queue<DateTimeOffset> q)
        {
            var cutoff = clock.GetUtcNow() - Window;
            while (q.Count > 0 && q.Peek() < cutoff) q.Dequeue();
        }

        private void Sweep()
        {
            foreach (var (address, q) in _byAddress)
                lock (q)
                {
                    Trim(q);
                    if (q.Count == 0) _byAddress.TryRemove(address, out _);
                }
        }
    }
}
