using System.Net.Http.Headers;
using System.Text;

namespace KruxOS.Proxy.Slack;

/// <summary>
/// A bot token lent to one request: it writes the <c>Authorization: Bearer …</c> header and nothing else can read it.
/// The gateway's tokens come only from the vault entry <c>service/slack/oauth</c>, lent per use
/// (<see cref="FromLease"/>); the token is never put in a URL, a body, a log or an exception.
/// </summary>
public abstract class SlackToken
{
    /// <summary>True when the token has the shape of a Slack bot token (<c>xoxb-…</c>).</summary>
    public abstract bool IsBotToken { get; }

    /// <summary>Sets the request's bearer header.</summary>
    public abstract void Authorize(HttpRequestMessage request);

    /// <summary>A token lent by the vault for one use (the lease is disposed by its owner after the call).</summary>
    public static SlackToken FromLease(CredentialLease lease) => new LeaseToken(lease);

    /// <summary>A token the operator just gave to <c>kruxos connect slack</c> (only read; its owner zeroes the buffer).</summary>
    internal static SlackToken FromBytes(ReadOnlyMemory<byte> bytes) => new BytesToken(bytes);

    /// <summary>Never the value.</summary>
    public override string ToString() => "SlackToken";

    private static void SetBearer(ReadOnlySpan<byte> bytes, HttpRequestMessage request)
    {
        // refuse anything that could not be a header value as it is (the shape check is the gate; this is the backstop)
        if (!IsBotTokenShape(bytes)) throw new InvalidOperationException("the stored Slack credential is not a bot token");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Encoding.ASCII.GetString(bytes));
    }

    private sealed class LeaseToken(CredentialLease lease) : SlackToken
    {
        public override bool IsBotToken => lease.Use(0, static (bytes, _) => IsBotTokenShape(bytes));

        public override void Authorize(HttpRequestMessage request) =>
            lease.Use(request, static (bytes, r) => { SetBearer(bytes, r); return true; });
    }

    private sealed class BytesToken(ReadOnlyMemory<byte> bytes) : SlackToken
    {
        public override bool IsBotToken => IsBotTokenShape(bytes.Span);

        public override void Authorize(HttpRequestMessage request) => SetBearer(bytes.Span, request);
    }

    /// <summary>
    /// <c>xoxb-</c> followed by letters, digits and dashes only (so the value can be put in a header as it is, and a
    /// user or legacy token is refused before any call).
    /// </summary>
    public static bool IsBotTokenShape(ReadOnlySpan<byte> token)
    {
        if (token.Length is < 10 or > 256 || !token.StartsWith("xoxb-"u8)) return false;
        foreach (var b in token)
            if (!(b is >= (byte)'a' and <= (byte)'z' || b is >= (byte)'A' and <= (byte)'Z' || b is >= (byte)'0' and <= (byte)'9' || b == (byte)'-'))
                return false;
        return true;
    }
}

/// <summary>How a failed Slack call is to be treated.</summary>
public enum SlackFailureKind
{
    /// <summary>Worth retrying later: rate limit, provider outage, network failure, timeout, malformed answer.</summary>
    Transient,

    /// <summary>The provider refused the request itself (unknown channel, message gone, invalid name…); a retry fails the same way.</summary>
    Permanent,

    /// <summary>The token is not (or no longer) valid: the connection needs the operator.</summary>
    Unauthorized,
}

/// <summary>A failed Slack call: the method, Slack's error code (or ours: <c>http_500</c>, <c>connection_failed</c>, …), its kind.</summary>
/// <param name="Method">The Web API method, e.g. <c>chat.postMessage</c>.</param>
/// <param name="Code">Slack's <c>error</c> string, or a code of the client for failures below the API.</param>
/// <param name="Kind">Transient, permanent or unauthorized.</param>
/// <param name="RetryAfter">When the provider said when to come back (<c>Retry-After</c> of a rate limit).</param>
public sealed record SlackError(string Method, string Code, SlackFailureKind Kind, TimeSpan? RetryAfter = null)
{
    public override string ToString() => $"{Method}: {Code} ({Kind})";
}

/// <summary>The answer to one Slack call: a value or an error, never both.</summary>
public readonly record struct SlackResult<T>
{
    private SlackResult(T? value, SlackError? error)
    {
        Value = value;
        Error = error;
    }

    public T? Value { get; }
    public SlackError? Error { get; }
    public bool Ok => Error is null;

    public static SlackResult<T> Success(T value) => new(value, null);
    public static SlackResult<T> Failure(SlackError error) => new(default, error);

    public static implicit operator SlackResult<T>(SlackError error) => Failure(error);
}

/// <summary>Who the token is (<c>auth.test</c>).</summary>
public sealed record SlackIdentity(string TeamId, string Team, string UserId, string? BotId, string Url);

/// <summary>A conversation (<c>conversations.list</c>/<c>info</c>).</summary>
public sealed record SlackChannel(string Id, string Name, string Topic, int MemberCount, bool IsPrivate, bool IsArchived);

/// <summary>A user (<c>users.list</c>/<c>info</c>).</summary>
public sealed record SlackUser(string Id, string Name, string RealName, bool Deleted);

/// <summary>One reaction on a message.</summary>
public sealed record SlackReaction(string Name, int Count, IReadOnlyList<string> Users);

/// <summary>
/// A message (<c>conversations.history</c>/<c>replies</c>). <paramref name="WriteMarker"/> is the KruxOS write id a
/// message posted by this gateway carries in its metadata (the idempotency marker), when present.
/// </summary>
public sealed record SlackMessage(
    string ChannelId, string Ts, string UserId, string Text, string? ThreadTs, int ReplyCount, string? LatestReply,
    IReadOnlyList<SlackReaction> Reactions, string? WriteMarker);

/// <summary>One page of a cursor-paged list.</summary>
public sealed record SlackPage<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>A message <c>chat.postMessage</c> created.</summary>
public sealed record SlackPosted(string ChannelId, string Ts);
