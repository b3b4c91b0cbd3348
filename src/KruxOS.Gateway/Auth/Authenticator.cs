using System.Collections.Concurrent;
using System.Net;
using KruxOS.Actors.Identity;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using Microsoft.Extensions.Primitives;

namespace KruxOS.Gateway.Auth;

/// <summary>Where a credential is presented; each surface accepts its own kinds of credential (ADR 0021).</summary>
public enum AuthSurface
{
    /// <summary>
    /// Capability calls: MCP over WebSocket and Streamable HTTP, and <c>/rpc</c>. Agent tokens, client user tokens and
    /// minted <c>krx_sess_</c> credentials; an operator token is refused (operators decide, they never call).
    /// </summary>
    Calls,

    /// <summary>
    /// The User API: user tokens of either role and minted credentials. Each endpoint then says which of them it serves
    /// (<see cref="AuthenticatedCaller.Role"/>, <see cref="AuthenticatedCaller.Minted"/>); agent tokens authenticate
    /// only to be told that the User API is for users.
    /// </summary>
    UserApi,
}

/// <summary>Who a request authenticated as.</summary>
/// <param name="Principal">The principal for policy and audit.</param>
/// <param name="Agent">The agent whose session handles the calls (for a user token: the agent named by the caller).</param>
/// <param name="UserTokenId">The user token's id, for a user principal (the token itself, or the one a minted credential stands for).</param>
/// <param name="Role">The credential's role: agents and minted credentials are <see cref="CredentialRole.Client"/>, a user token has its own.</param>
/// <param name="Minted">True for a short-lived <c>krx_sess_</c> credential minted over the auth socket.</param>
/// <param name="UserToken">The user token record behind a user principal.</param>
public sealed record AuthenticatedCaller(Principal Principal, AgentName? Agent, string? UserTokenId,
    CredentialRole Role = CredentialRole.Client, bool Minted = false, UserTokenRecord? UserToken = null);

/// <summary>Either an authenticated caller or a structured refusal with its HTTP status.</summary>
public sealed record AuthOutcome(AuthenticatedCaller? Caller, StructuredError? Error, int StatusCode)
{
    public bool Succeeded => Caller is not null;
}

/// <summary>
/// Authenticates every connection and request: a bearer token from <c>Authorization</c> or
/// <c>?token=</c>, an optional agent name (<c>X-KruxOS-Agent</c> / <c>?agent=</c>) that must match,
/// revocation checks, the credential's role against the surface, and a per-address limit on failures.
/// Tokens are hashed at once and never logged.
/// <para>The failure limit (ADR 0022) never refuses a valid credential: every presented token is verified first
/// (a SHA-256 of it looked up among stored SHA-256 hashes, so the time taken says nothing about any stored token), and
/// only a failed attempt is counted and, past the limit, answered <c>auth.rate_limited</c> instead of 401. Local clients
/// all share 127.0.0.1, so a flood of bad tokens from one local program can no longer lock every other local client out.</para>
/// </summary>
public sealed partial class Authenticator(IdentityDirectory identities, SessionCredentialStore sessions, TimeProvider clock, UserTokenUsage? usage = null,
    ILogger<Authenticator>? log = null)
{
    private readonly FailureWindow _failures = new(clock);

    /// <summary>Authenticates an HTTP request or WebSocket upgrade presented on <paramref name="surface"/>.</summary>
    public AuthOutcome Authenticate(HttpContext http, AuthSurface surface)
    {
        var address = http.Connection.RemoteIpAddress ?? IPAddress.None;
        var token = BearerToken(http);
        var requestedAgent = FirstNonEmpty(http.Request.Headers["X-KruxOS-Agent"], http.Request.Query["agent"]);
        var outcome = Resolve(token, requestedAgent, surface);
        // Only a credential that failed to verify counts: a valid one (even presented on the wrong surface) is not a guess.
        if (outcome.Succeeded || outcome.StatusCode != StatusCodes.Status401Unauthorized) return outcome;
        var limited = _failures.RecordAndCheck(address, out var retryAfter, out var reachedLimit);
        if (reachedLimit && log is not null) LogLimitReached(log, address, Errors.AuthFailuresPerMinute);
        return limited ? new AuthOutcome(null, Errors.AuthRateLimited(retryAfter), StatusCodes.Status429TooManyRequests) : outcome;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Authentication failures from {Address} reached {Limit} in a minute; its further failures are answered auth.rate_limited (valid credentials are still accepted)")]
    private static partial void LogLimitReached(ILogger logger, IPAddress address, int limit);

    /// <summary>Resolves a token (and optional agent name) against the current identities, for <paramref name="surface"/>.</summary>
    public AuthOutcome Resolve(string? token, string? requestedAgent, AuthSurface surface)
    {
        if (string.IsNullOrEmpty(token))
            return Refuse(Errors.MissingCredentials());
        if (TokenHashing.IsSessionTokenShape(token))
            return ResolveSession(token, requestedAgent);
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
            case CredentialMatch.User:
                if (surface == AuthSurface.Calls && user!.Role != CredentialRole.Client) return Forbid(OperatorCannotCall(user.Label));
                AgentName? acting = null;
                if (!string.IsNullOrEmpty(requestedAgent))
                {
                    if (!AgentName.TryParse(requestedAgent, out var a, out _) || !identities.Current.Agents.TryGetValue(a.Value, out var rec) || rec.Status != AgentStatus.Active)
                        return Refuse(Errors.InvalidCredentials());
                    acting = a;
                }
                usage?.Used(user!.Id);
                // Without a named agent, the user's calls run in their own user-context session.
                return new AuthOutcome(new AuthenticatedCaller(Principal.ForUser(user!.Label), acting ?? AgentName.UserContext(user.Id), user.Id, user.Role, false, user),
                    null, 200);
            case CredentialMatch.RevokedUser:
                return Refuse(Errors.UserTokenRevoked());
            default:
                return Refuse(Errors.InvalidCredentials());
        }
    }

    /// <summary>
    /// A minted credential stands for its user token, with the client role whatever the token's: it authenticates only
    /// as that user principal (no acting agent), only until it expires, and only while the user token is still active.
    /// </summary>
    private AuthOutcome ResolveSession(string token, string? requestedAgent)
    {
        var credential = sessions.Resolve(token);
        if (credential is null || !string.IsNullOrEmpty(requestedAgent)) return Refuse(Errors.InvalidCredentials());
        if (!identities.Current.UserTokens.TryGetValue(credential.UserTokenId, out var user)) return Refuse(Errors.InvalidCredentials());
        if (user.Status != UserTokenStatus.Active) return Refuse(Errors.UserTokenRevoked());
        usage?.Used(user.Id);
        return new AuthOutcome(new AuthenticatedCaller(Principal.ForUser(user.Label), AgentName.UserContext(user.Id), user.Id, CredentialRole.Client, true, user),
            null, 200);
    }

    /// <summary>The refusal of an operator token on a call surface.</summary>
    public static StructuredError OperatorCannotCall(string label) =>
        StructuredError.Create("auth.role_forbidden",
                $"The user token '{label}' is an operator token: operator tokens decide approvals and never make capability calls, so an AI client never holds one.")
            .WithRecovery("use_client_token", "Give the client a client token ('kruxos user-token create <label>'), or let mcp-bridge / cli-hook mint one over the auth socket.")
            .WithContext("role", CredentialRole.Operator.ToWire());

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

    private static AuthOutcome Forbid(StructuredError error) => new(null, error, StatusCodes.Status403Forbidden);

    /// <summary>
    /// Failed attempts per address in the last minute (spec §2.4: N per minute, retry after 60 s). Only failures are
    /// recorded and only failures are answered with the limit; each address keeps at most the N most recent failure times.
    /// </summary>
    private sealed class FailureWindow(TimeProvider clock)
    {
        private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
        private const int MaxAddresses = 10_000;
        private readonly ConcurrentDictionary<IPAddress, Queue<DateTimeOffset>> _byAddress = new();

        /// <summary>
        /// Records a failure; true (with when to retry) when the address had already used up its failures in the window.
        /// <paramref name="reachedLimit"/> is true for the one failure that used up the last of them.
        /// </summary>
        public bool RecordAndCheck(IPAddress address, out int retryAfterSeconds, out bool reachedLimit)
        {
            retryAfterSeconds = 0;
            var q = _byAddress.GetOrAdd(address, _ => new Queue<DateTimeOffset>());
            bool limited;
            lock (q)
            {
                var now = clock.GetUtcNow();
                Trim(q, now);
                limited = q.Count >= Errors.AuthFailuresPerMinute;
                reachedLimit = q.Count == Errors.AuthFailuresPerMinute - 1;
                q.Enqueue(now);
                // Only the N most recent failures decide; a flood costs no memory beyond them.
                while (q.Count > Errors.AuthFailuresPerMinute) q.Dequeue();
                if (limited) retryAfterSeconds = Math.Max(1, (int)Math.Ceiling((q.Peek() + Window - now).TotalSeconds));
            }
            if (_byAddress.Count > MaxAddresses) Sweep();
            return limited;
        }

        private static void Trim(Queue<DateTimeOffset> q, DateTimeOffset now)
        {
            var cutoff = now - Window;
            while (q.Count > 0 && q.Peek() < cutoff) q.Dequeue();
        }

        private void Sweep()
        {
            var now = clock.GetUtcNow();
            foreach (var (address, q) in _byAddress)
                lock (q)
                {
                    Trim(q, now);
                    if (q.Count == 0) _byAddress.TryRemove(address, out _);
                }
        }
    }
}
