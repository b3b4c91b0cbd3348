using System.Buffers.Text;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text.Json;
using KruxOS.Core.OAuth;

namespace KruxOS.Proxy.Gmail;

/// <summary>How a step of the browser connect ended.</summary>
public enum ConnectStepStatus
{
    /// <summary>Go on (redirect to the provider; or connected).</summary>
    Ok,
    /// <summary>The link or callback is not valid for this session (unknown, used, expired, another session).</summary>
    Refused,
    /// <summary>The provider refused or failed (consent denied, code rejected, scopes missing).</summary>
    Failed,
}

/// <summary>The result of a connect step: where to send the browser, or what went wrong (never a secret).</summary>
public sealed record ConnectStep(ConnectStepStatus Status, Uri? Redirect, string Message, string? Account = null);

/// <summary>
/// The Gmail OAuth connect (authorization code + PKCE S256), in three steps:
/// <list type="number">
/// <item><c>kruxos connect gmail</c> (the adapter's connect): the client id and secret are kept in memory with a one-time
/// <b>ticket</b>; the operator gets a dashboard link <c>/api/oauth/gmail/start?ticket=…</c>.</item>
/// <item>The signed-in operator opens it (<see cref="Start"/>): the ticket is spent, a fresh <c>state</c> and PKCE
/// verifier are bound to that dashboard session, and the browser goes to Google.</item>
/// <item>Google redirects to <c>/api/oauth/gmail/callback</c> (<see cref="FinishAsync"/>): the state must be pending, unused,
/// unexpired and bound to the same session; the code is exchanged with the verifier, the grant must carry every scope,
/// the account is read, and the credential is stored only in the vault.</item>
/// </list>
/// Nothing survives a restart (the operator starts again). Tickets, states and verifiers are 256-bit random values.
/// </summary>
/// <remarks><paramref name="connections"/> is resolved when a connect finishes: the proxy area's connections depend on the
/// adapters, and the adapter on this connector, so taking it at construction would be a dependency cycle.</remarks>
public sealed class GmailConnector(GoogleOAuthClient oauth, GmailApiClient api, GmailOptions options, Func<IServiceConnections> connections, TimeProvider clock)
{
    /// <summary>The dashboard path of the start link.</summary>
    public const string StartPath = "/api/oauth/gmail/start";

    /// <summary>The dashboard path of the redirect (spec §10.4).</summary>
    public const string CallbackPath = "/api/oauth/gmail/callback";

    private const int MaxTickets = 16;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Ticket> _tickets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Ticket> _clients = new(StringComparer.Ordinal);
    private OAuthFlows _flows = OAuthFlows.Empty;

    /// <summary>
    /// Step 1: keeps the OAuth client for one connect and returns the dashboard link to open. <paramref name="dashboardOrigin"/>
    /// is where the operator reaches the dashboard; the redirect URI is its callback path.
    /// </summary>
    public (Uri StartUrl, DateTimeOffset ExpiresAt) CreateTicket(string clientId, string clientSecret, Uri dashboardOrigin)
    {
        var now = clock.GetUtcNow();
        var expires = now + options.ConnectLifetime;
        var id = NewSecret();
        var redirect = new Uri(new Uri(dashboardOrigin.GetLeftPart(UriPartial.Authority)), CallbackPath);
        lock (_gate)
        {
            foreach (var stale in _tickets.Where(t => t.Value.ExpiresAt <= now).Select(t => t.Key).ToList()) _tickets.Remove(stale);
            while (_tickets.Count >= MaxTickets) _tickets.Remove(_tickets.MinBy(t => t.Value.ExpiresAt).Key);
            _tickets[Hash(id)] = new Ticket(clientId, clientSecret, redirect, expires);
        }
        return (new Uri(new Uri(dashboardOrigin.GetLeftPart(UriPartial.Authority)), StartPath + "?ticket=" + Uri.EscapeDataString(id)), expires);
    }

    /// <summary>Step 2: spends the ticket and binds a new authorization to the operator's dashboard session.</summary>
    public ConnectStep Start(string? ticket, string sessionBinding)
    {
        var now = clock.GetUtcNow();
        Ticket? t;
        lock (_gate)
        {
            if (string.IsNullOrEmpty(ticket) || ticket.Length > 128 || !_tickets.Remove(Hash(ticket), out t) || t.ExpiresAt <= now)
                return new ConnectStep(ConnectStepStatus.Refused, null, "This connect link is not valid (already used, expired, or the gateway restarted). Run 'kruxos connect gmail' again.");
        }
        var verifier = Pkce.NewVerifier();
        var state = OAuthFlows.NewState();
        var url = AuthorizationRequest.Build(options.AuthorizeEndpoint, t.ClientId, t.RedirectUri, GmailOptions.Scopes, state, Pkce.ChallengeFor(verifier));
        lock (_gate)
        {
            _flows = _flows.Begin(new PendingAuthorization(state, verifier, sessionBinding, "gmail", now, t.ExpiresAt), now);
            foreach (var stale in _clients.Where(c => c.Value.ExpiresAt <= now).Select(c => c.Key).ToList()) _clients.Remove(stale);
            _clients[state] = t;
        }
        return new ConnectStep(ConnectStepStatus.Ok, url, "redirecting to Google");
    }

    /// <summary>Step 3: the callback. <paramref name="error"/> is Google's <c>error</c> parameter (consent denied).</summary>
    public async Task<ConnectStep> FinishAsync(string? state, string? code, string? error, string sessionBinding, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        CallbackDecision decision;
        Ticket? client = null;
        lock (_gate)
        {
            decision = _flows.Complete(state, sessionBinding, "gmail", now);
            _flows = decision.Flows;
            if (state is not null && state.Length <= 256) _clients.Remove(state, out client);
        }
        if (decision.Verdict != CallbackVerdict.Accepted || client is null)
            return new ConnectStep(ConnectStepStatus.Refused, null, decision.Verdict switch
            {
                CallbackVerdict.Expired => "This Gmail authorization took too long. Run 'kruxos connect gmail' again.",
                CallbackVerdict.WrongSession => "This Gmail authorization was started by another dashboard session.",
                _ => "This Gmail authorization is not pending (already used, or never started here).",
            });
        if (!string.IsNullOrEmpty(error) || string.IsNullOrEmpty(code) || code.Length > 2048)
            return new ConnectStep(ConnectStepStatus.Failed, null, "Google did not grant access" + (string.IsNullOrEmpty(error) ? "." : " (" + Clean(error) + ")."));
        var result = await oauth.ExchangeCodeAsync(code, decision.Pending!.Verifier, client.RedirectUri, client.ClientId, client.ClientSecret, ct).ConfigureAwait(false);
        if (!result.Ok) return new ConnectStep(ConnectStepStatus.Failed, null, "Google refused the authorization code: " + result.Reason);
        var grant = result.Grant!;
        var missing = OAuthScopes.Missing(GmailOptions.Scopes, grant.Scopes);
        if (!missing.IsEmpty)
        {
            await oauth.RevokeAsync(grant.RefreshToken ?? grant.AccessToken, ct).ConfigureAwait(false);
            return new ConnectStep(ConnectStepStatus.Failed, null, "Not every permission was granted (missing " + string.Join(", ", missing) + "); connect again and allow all three.");
        }
        if (grant.RefreshToken is null)
            return new ConnectStep(ConnectStepStatus.Failed, null, "Google gave no refresh token; remove KruxOS from the account's third-party access and connect again.");
        var profile = await api.ProfileAsync(grant.AccessToken, ct).ConfigureAwait(false);
        var account = profile.Ok && profile.Body.TryGetProperty("emailAddress", out var ea) && ea.ValueKind == JsonValueKind.String ? ea.GetString() : null;
        if (string.IsNullOrEmpty(account) || account.Length > 320 || account.Any(char.IsControl))
            return new ConnectStep(ConnectStepStatus.Failed, null, "Could not read the Gmail account's address: " + (profile.Reason ?? "no address"));
        var credential = new GmailCredential(grant.AccessToken, grant.RefreshToken, grant.ExpiresAt, grant.Scopes, account, client.ClientId, client.ClientSecret);
        var bytes = credential.ToBytes();
        try
        {
            var stored = await connections().CompleteAsync(GmailTokens.Service, account, bytes, ct).ConfigureAwait(false);
            return stored.Ok
                ? new ConnectStep(ConnectStepStatus.Ok, null, "Gmail connected: " + account, account)
                : new ConnectStep(ConnectStepStatus.Failed, null, "Could not store the Gmail credential: " + stored.Message);
        }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    /// <summary>Pending authorizations and unused tickets (status).</summary>
    public int Pending
    {
        get { lock (_gate) return _flows.Count + _tickets.Count; }
    }

    private static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    private static string Hash(string ticket) => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ticket)));

    private static string Clean(string s)
    {
        var t = new string([.. s.Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')]);
        return t.Length > 64 ? t[..64] : t;
    }

    private sealed record Ticket(string ClientId, string ClientSecret, Uri RedirectUri, DateTimeOffset ExpiresAt)
    {
        public override string ToString() => $"Ticket({ClientId}, expires {ExpiresAt:O})";
    }
}
