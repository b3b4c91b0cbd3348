namespace KruxOS.Core.Network;

/// <summary>What to do with a response that may be a redirect.</summary>
public enum RedirectAction
{
    /// <summary>Not a redirect to follow (not 301/302/303/307/308, no <c>Location</c>, or following is off): return the response as it is.</summary>
    Return,
    /// <summary>Follow to <see cref="RedirectDecision.Next"/>, after resolving it and deciding it with <see cref="EgressPolicy.Decide(EgressTarget, IReadOnlyList{System.Net.IPAddress}, EgressAllowlist)"/>.</summary>
    Follow,
    /// <summary>Stop with an error: too many hops, a downgrade, an invalid or refused location.</summary>
    Refuse,
}

/// <summary>The decision about one redirect hop.</summary>
/// <param name="Action">Return, follow or refuse.</param>
/// <param name="Next">The next target when following (its name already checked, not yet its addresses).</param>
/// <param name="Method">The method of the next request (301/302 turn POST into GET, 303 turns everything but HEAD into GET).</param>
/// <param name="KeepBody">Whether the request body is sent again (307 and 308 only).</param>
/// <param name="KeepCredential">Whether an injected credential may be sent to the next hop: only to the origin it was meant for.</param>
/// <param name="Error">The error when refused.</param>
public sealed record RedirectDecision(RedirectAction Action, EgressTarget? Next, string Method, bool KeepBody, bool KeepCredential, Errors.StructuredError? Error);

/// <summary>
/// Redirects as a pure decision (ADR 0034): at most <see cref="MaxRedirects"/> hops; each hop's location must
/// be an http(s) URL, must not downgrade https to http, and must pass the egress policy like the first request
/// (its name here, its addresses when the caller has resolved it). A credential never follows a redirect to
/// another origin.
/// </summary>
public static class RedirectPolicy
{
    /// <summary>The most redirects followed for one request (spec §8.10).</summary>
    public const int MaxRedirects = 10;

    /// <summary>Decides the response to a request made to <paramref name="current"/>.</summary>
    /// <param name="origin">The target of the first request (what a credential is bound to).</param>
    /// <param name="current">The target the response came from.</param>
    /// <param name="method">The method of the request that got this response.</param>
    /// <param name="status">The response status.</param>
    /// <param name="location">The <c>Location</c> header, if any.</param>
    /// <param name="redirectsFollowed">How many redirects were already followed for this request.</param>
    /// <param name="allowlist">The principal's egress allowlist.</param>
    /// <param name="follow">False when the caller asked not to follow redirects.</param>
    public static RedirectDecision Decide(EgressTarget origin, EgressTarget current, string method, int status, string? location,
        int redirectsFollowed, EgressAllowlist allowlist, bool follow = true)
    {
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(allowlist);
        if (!follow || status is not (301 or 302 or 303 or 307 or 308) || string.IsNullOrEmpty(location))
            return new(RedirectAction.Return, null, method, false, false, null);
        if (redirectsFollowed >= MaxRedirects)
            return Refuse(NetworkErrors.RequestFailed($"more than {MaxRedirects} redirects"));
        if (!Uri.TryCreate(current.Uri, location, out var next))
            return Refuse(NetworkErrors.InvalidUrl("the redirect location is not a valid URL"));
        if (!EgressPolicy.TryParseTarget(next.AbsoluteUri, out var target, out var invalid))
            return Refuse(NetworkErrors.InvalidUrl("redirect: " + invalid.Reason));
        if (current.Scheme == "https" && target.Scheme == "http")
            return Refuse(NetworkErrors.RequestFailed($"a redirect from https to http ({target.Host}) was refused"));
        var byName = EgressPolicy.CheckName(target, allowlist);
        if (!byName.Allowed)
            return Refuse(NetworkErrors.DomainNotAllowed(target.Host, "redirect: " + byName.Reason));
        var nextMethod = status switch
        {
            303 when method != "HEAD" => "GET",
            301 or 302 when method == "POST" => "GET",
            _ => method,
        };
        var keepBody = status is 307 or 308;
        return new(RedirectAction.Follow, target, nextMethod, keepBody, target.Origin == origin.Origin, null);
    }

    private static RedirectDecision Refuse(Errors.StructuredError error) => new(RedirectAction.Refuse, null, string.Empty, false, false, error);
}
