using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Buffers.Text;

namespace KruxOS.Core.OAuth;

/// <summary>
/// One authorization the operator started and has not finished: the <c>state</c> sent to the provider, the PKCE verifier
/// that only the gateway knows, who started it (a binding derived from the dashboard session, never the cookie itself)
/// and until when it may finish.
/// </summary>
/// <param name="State">The opaque <c>state</c> parameter (256 random bits, base64url).</param>
/// <param name="Verifier">The PKCE verifier; sent only in the back-channel token request.</param>
/// <param name="SessionBinding">Who may finish it: a hash identifying the operator's dashboard session.</param>
/// <param name="Service">The adapter being connected (e.g. <c>gmail</c>).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="ExpiresAt">After this the callback is refused.</param>
public sealed record PendingAuthorization(string State, string Verifier, string SessionBinding, string Service,
    DateTimeOffset StartedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>Never prints the verifier.</summary>
    public override string ToString() => $"PendingAuthorization({Service}, started {StartedAt:O}, expires {ExpiresAt:O})";
}

/// <summary>How a callback's <c>state</c> was judged.</summary>
public enum CallbackVerdict
{
    /// <summary>Known, unexpired, same session, same service: exchange the code.</summary>
    Accepted,
    /// <summary>No such pending authorization (never started, already used, or dropped by a restart).</summary>
    UnknownState,
    /// <summary>Started too long ago.</summary>
    Expired,
    /// <summary>Started by another dashboard session (a forged or leaked link).</summary>
    WrongSession,
    /// <summary>Started for another service.</summary>
    WrongService,
}

/// <summary>The result of judging a callback: the verdict, the pending authorization when accepted, and the new set.</summary>
public sealed record CallbackDecision(CallbackVerdict Verdict, PendingAuthorization? Pending, OAuthFlows Flows);

/// <summary>
/// The pending authorizations of one node as an immutable value with pure transitions. A <c>state</c> is single use:
/// judging a callback removes its entry whatever the verdict, so a replayed or probed <c>state</c> never succeeds twice.
/// The number kept is bounded; the oldest are dropped first.
/// </summary>
public sealed class OAuthFlows
{
    /// <summary>Most pending authorizations kept at once.</summary>
    public const int MaxPending = 32;

    /// <summary>How long an operator has between starting and the callback, unless configured otherwise (spec: 300 s).</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromMinutes(5);

    /// <summary>No pending authorization.</summary>
    public static readonly OAuthFlows Empty = new(ImmutableDictionary<string, PendingAuthorization>.Empty.WithComparers(StringComparer.Ordinal));

    private readonly ImmutableDictionary<string, PendingAuthorization> _pending;

    private OAuthFlows(ImmutableDictionary<string, PendingAuthorization> pending) => _pending = pending;

    /// <summary>Pending authorizations now held.</summary>
    public int Count => _pending.Count;

    /// <summary>A new random <c>state</c> value (256 bits, base64url).</summary>
    public static string NewState()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>The binding of a dashboard session: SHA-256 of its per-session secret, so the flow table holds nothing replayable.</summary>
    public static string BindingOf(string sessionSecret) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("kruxos.oauth.session.v1/" + sessionSecret)));

    /// <summary>Adds a pending authorization (expired ones are dropped, and the oldest beyond <see cref="MaxPending"/>).</summary>
    public OAuthFlows Begin(PendingAuthorization pending, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(pending);
        var kept = Prune(now)._pending.SetItem(pending.State, pending);
        while (kept.Count > MaxPending)
            kept = kept.Remove(kept.Values.MinBy(p => p.StartedAt)!.State);
        return new OAuthFlows(kept);
    }

    /// <summary>
    /// Judges a callback: the <c>state</c> must name a pending authorization of this <paramref name="service"/>, started by
    /// the same session, not expired. The entry is consumed in every case.
    /// </summary>
    public CallbackDecision Complete(string? state, string sessionBinding, string service, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(state) || state.Length > 256 || !_pending.TryGetValue(state, out var pending))
            return new CallbackDecision(CallbackVerdict.UnknownState, null, Prune(now));
        var rest = new OAuthFlows(_pending.Remove(state)).Prune(now);
        if (now >= pending.ExpiresAt) return new CallbackDecision(CallbackVerdict.Expired, null, rest);
        if (!FixedEquals(pending.SessionBinding, sessionBinding)) return new CallbackDecision(CallbackVerdict.WrongSession, null, rest);
        if (!string.Equals(pending.Service, service, StringComparison.Ordinal)) return new CallbackDecision(CallbackVerdict.WrongService, null, rest);
        return new CallbackDecision(CallbackVerdict.Accepted, pending, rest);
    }

    /// <summary>Drops expired entries.</summary>
    public OAuthFlows Prune(DateTimeOffset now)
    {
        var expired = _pending.Values.Where(p => now >= p.ExpiresAt).Select(p => p.State).ToList();
        return expired.Count == 0 ? this : new OAuthFlows(_pending.RemoveRange(expired));
    }

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));
}
