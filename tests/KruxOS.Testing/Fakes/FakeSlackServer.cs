using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KruxOS.Testing.Fakes;

/// <summary>How the fake Slack server fails a call it was told to fail.</summary>
public enum FakeSlackFailure
{
    /// <summary>HTTP 429 with <c>Retry-After</c> and <c>{"ok":false,"error":"ratelimited"}</c>.</summary>
    RateLimited,

    /// <summary>HTTP 500 with an empty body (a provider outage).</summary>
    ServerError,

    /// <summary>HTTP 200 with <c>{"ok":false,"error":"internal_error"}</c>.</summary>
    InternalError,

    /// <summary>HTTP 200 with <c>{"ok":false,"error":"channel_not_found"}</c> (a permanent refusal).</summary>
    ChannelNotFound,

    /// <summary>HTTP 302 to <see cref="FakeSlackServer.RedirectLocation"/> (a hostile or misconfigured server).</summary>
    Redirect,

    /// <summary>HTTP 200 with a 20 MiB body (larger than any answer the client reads).</summary>
    Huge,

    /// <summary>HTTP 200 with a body that is not JSON.</summary>
    Garbage,
}

/// <summary>A held answer (<see cref="FakeSlackServer.HoldNext"/>): <see cref="Arrived"/> completes when the call has taken effect.</summary>
public sealed class FakeSlackHold
{
    private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the held call reached the fake and took effect (its answer not yet written).</summary>
    public Task Arrived => _arrived.Task;

    internal Task Released => _released.Task;

    /// <summary>Writes the held answer (to a client that may be gone by then).</summary>
    public void Release() => _released.TrySetResult();

    internal void Arrive() => _arrived.TrySetResult();
}

/// <summary>A channel the fake workspace holds.</summary>
public sealed record FakeSlackChannel(string Id, string Name, string Topic, bool IsPrivate, int MemberCount);

/// <summary>A user of the fake workspace.</summary>
public sealed record FakeSlackUser(string Id, string Name, string RealName);

/// <summary>A message the fake workspace holds (reactions: name → users, in order added).</summary>
public sealed class FakeSlackMessage
{
    public required string ChannelId { get; init; }
    public required string Ts { get; init; }
    public required string User { get; init; }
    public required string Text { get; init; }
    public string? ThreadTs { get; init; }
    public string? BotId { get; init; }
    public JsonObject? Metadata { get; init; }

    /// <summary>When the fake took the message (for a bot message: when <c>chat.postMessage</c> reached it).</summary>
    public DateTimeOffset PostedAt { get; init; }

    public Dictionary<string, List<string>> Reactions { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// A stand-in for the Slack Web API on loopback (Kestrel, port chosen at runtime), to the published shapes: every method
/// is <c>POST /api/&lt;method&gt;</c> (GET with a query string is accepted too) with form-encoded or JSON arguments, a
/// bearer token, and an answer of <c>{"ok":true,…}</c> or <c>{"ok":false,"error":"…"}</c>; lists page with
/// <c>cursor</c>/<c>limit</c> and <c>response_metadata.next_cursor</c>. It counts every call per method, and can be
/// told to fail the next N calls of a method (<see cref="FailNext"/>), e.g. with <c>ratelimited</c> + <c>Retry-After</c>.
/// </summary>
public sealed class FakeSlackServer : IAsyncDisposable
{
    /// <summary>The bot user the token belongs to.</summary>
    public const string BotUserId = "U0KRUXBOT";

    /// <summary>The bot id on messages the bot posts.</summary>
    public const string BotId = "B0KRUXBOT";

    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<FakeSlackChannel> _channels = [];
    private readonly List<FakeSlackUser> _users = [];
    private readonly List<FakeSlackMessage> _messages = [];
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<(FakeSlackFailure Kind, int RetryAfter)>> _failures = new(StringComparer.Ordinal);
    private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeSlackHold> _holds = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Method, string? Authorization, string Body)> _requests = new();
    private long _clock;

    private FakeSlackServer(WebApplication app, string token)
    {
        _app = app;
        Token = token;
        _clock = DateTimeOffset.UtcNow.ToUnixTimeSeconds() * 1_000_000 - 3_600_000_000; // an hour ago, in µs
    }

    /// <summary>Where <see cref="FakeSlackFailure.Redirect"/> sends the client.</summary>
    public string RedirectLocation { get; set; } = "http://127.0.0.1:9/api/auth.test";

    /// <summary>The one bot token the fake accepts (until <c>auth.revoke</c>).</summary>
    public string Token { get; }

    /// <summary>The Web API base, e.g. <c>http://127.0.0.1:PORT/api/</c>.</summary>
    public string BaseUrl => _app.Urls.First().TrimEnd('/') + "/api/";

    /// <summary>True once <c>auth.revoke</c> revoked <see cref="Token"/>.</summary>
    public bool Revoked { get { lock (_gate) return _revoked.Contains(Token); } }

    /// <summary>Every request, in arrival order: method, Authorization header, body text.</summary>
    public IReadOnlyList<(string Method, string? Authorization, string Body)> Requests => [.. _requests];

    /// <summary>Starts a fake workspace on 127.0.0.1 with a random bot token.</summary>
    public static async Task<FakeSlackServer> StartAsync(string? token = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeSlackServer(app, token ?? "xoxb-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()));
        app.Map("/api/{method}", fake.HandleAsync);
        await app.StartAsync();
        return fake;
    }

    // ---- the workspace ------------------------------------------------------------------------------------------------

    public FakeSlackChannel AddChannel(string id, string name, string topic = "", bool isPrivate = false, int members = 3)
    {
        var c = new FakeSlackChannel(id, name, topic, isPrivate, members);
        lock (_gate) _channels.Add(c);
        return c;
    }

    public FakeSlackUser AddUser(string id, string name, string realName)
    {
        var u = new FakeSlackUser(id, name, realName);
        lock (_gate) _users.Add(u);
        return u;
    }

    /// <summary>Posts a message as <paramref name="user"/> (a fresh ts, later than every earlier one); returns its ts.</summary>
    public string Post(string channelId, string user, string text, string? threadTs = null)
    {
        lock (_gate) return Add(channelId, user, text, threadTs, botId: null, metadata: null).Ts;
    }

    /// <summary>Adds a reaction as <paramref name="user"/> (no API call counted).</summary>
    public void React(string channelId, string ts, string name, string user)
    {
        lock (_gate)
        {
            var m = _messages.Single(x => x.ChannelId == channelId && x.Ts == ts);
            if (!m.Reactions.TryGetValue(name, out var users)) m.Reactions[name] = users = [];
            users.Add(user);
        }
    }

    /// <summary>A copy of the messages of a channel (top level and replies), oldest first.</summary>
    public IReadOnlyList<FakeSlackMessage> Messages(string channelId)
    {
        lock (_gate) return [.. _messages.Where(m => m.ChannelId == channelId).OrderBy(m => m.Ts, StringComparer.Ordinal)];
    }

    /// <summary>The messages the bot posted (through <c>chat.postMessage</c>) and that still exist.</summary>
    public IReadOnlyList<FakeSlackMessage> BotMessages()
    {
        lock (_gate) return [.. _messages.Where(m => m.BotId == BotId).OrderBy(m => m.Ts, StringComparer.Ordinal)];
    }

    /// <summary>The users who reacted with <paramref name="name"/> to a message (empty when none).</summary>
    public IReadOnlyList<string> ReactionUsers(string channelId, string ts, string name)
    {
        lock (_gate)
        {
            var m = _messages.SingleOrDefault(x => x.ChannelId == channelId && x.Ts == ts);
            return m is not null && m.Reactions.TryGetValue(name, out var users) ? [.. users] : [];
        }
    }

    // ---- counting and failing -----------------------------------------------------------------------------------------

    /// <summary>How many requests reached <paramref name="method"/> (failed ones included).</summary>
    public int Calls(string method) => _calls.TryGetValue(method, out var n) ? n : 0;

    /// <summary>How many requests reached the fake, all methods.</summary>
    public int TotalCalls => _calls.Values.Sum();

    /// <summary>The calls per method so far (a copy).</summary>
    public IReadOnlyDictionary<string, int> CallCounts => new Dictionary<string, int>(_calls, StringComparer.Ordinal);

    /// <summary>Fails the next <paramref name="times"/> calls of <paramref name="method"/> with <paramref name="kind"/>.</summary>
    public void FailNext(string method, int times, FakeSlackFailure kind, int retryAfterSeconds = 1)
    {
        lock (_gate)
        {
            if (!_failures.TryGetValue(method, out var q)) _failures[method] = q = new();
            for (var i = 0; i < times; i++) q.Enqueue((kind, retryAfterSeconds));
        }
    }

    /// <summary>
    /// Holds the answer to the next call of <paramref name="method"/>: the call takes effect (a posted message exists) but
    /// its answer is written only when <see cref="FakeSlackHold.Release"/> is called — so a test can kill the client while
    /// the provider has done the work and the client has not heard of it.
    /// </summary>
    public FakeSlackHold HoldNext(string method)
    {
        var hold = new FakeSlackHold();
        lock (_gate) _holds[method] = hold;
        return hold;
    }

    /// <summary>Drops every pending failure.</summary>
    public void ClearFailures()
    {
        lock (_gate) _failures.Clear();
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    // ---- the API ------------------------------------------------------------------------------------------------------

    private async Task HandleAsync(HttpContext http)
    {
        var method = (string)http.Request.RouteValues["method"]!;
        _calls.AddOrUpdate(method, 1, (_, n) => n + 1);
        var args = await ReadArgumentsAsync(http.Request);
        var authorization = http.Request.Headers.Authorization.ToString();
        _requests.Enqueue((method, authorization.Length == 0 ? null : authorization, args.ToJsonString()));

        (FakeSlackFailure Kind, int RetryAfter)? failure = null;
        lock (_gate)
        {
            if (_failures.TryGetValue(method, out var q) && q.Count > 0) failure = q.Dequeue();
        }
        if (failure is { } f)
        {
            switch (f.Kind)
            {
                case FakeSlackFailure.RateLimited:
                    http.Response.StatusCode = 429;
                    http.Response.Headers.RetryAfter = f.RetryAfter.ToString(CultureInfo.InvariantCulture);
                    await http.Response.WriteAsJsonAsync(Error("ratelimited"));
                    return;
                case FakeSlackFailure.ServerError:
                    http.Response.StatusCode = 500;
                    return;
                case FakeSlackFailure.InternalError:
                    await http.Response.WriteAsJsonAsync(Error("internal_error"));
                    return;
                case FakeSlackFailure.ChannelNotFound:
                    await http.Response.WriteAsJsonAsync(Error("channel_not_found"));
                    return;
                case FakeSlackFailure.Redirect:
                    http.Response.StatusCode = 302;
                    http.Response.Headers.Location = RedirectLocation;
                    return;
                case FakeSlackFailure.Huge:
                    http.Response.ContentType = "application/json";
                    await http.Response.WriteAsync("{\"ok\":true,\"pad\":\"");
                    var block = new string('x', 1024 * 1024);
                    for (var i = 0; i < 20; i++) await http.Response.WriteAsync(block);
                    await http.Response.WriteAsync("\"}");
                    return;
                case FakeSlackFailure.Garbage:
                    http.Response.ContentType = "text/html";
                    await http.Response.WriteAsync("<html>upstream error</html>");
                    return;
            }
        }

        JsonObject answer;
        FakeSlackHold? held;
        lock (_gate)
        {
            answer = Answer(method, authorization, args);
            if (_holds.Remove(method, out held)) held.Arrive();
        }
        if (held is not null)
        {
            // bounded: a test that never releases must not keep the server's shutdown waiting
            try { await held.Released.WaitAsync(TimeSpan.FromMinutes(3), http.RequestAborted); }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException) { return; }
        }
        try { await http.Response.WriteAsJsonAsync(answer); }
        catch (Exception e) when (e is OperationCanceledException or IOException) { } // the client is gone (killed)
    }

    private static async Task<JsonObject> ReadArgumentsAsync(HttpRequest request)
    {
        var args = new JsonObject();
        foreach (var (k, v) in request.Query) args[k] = v.ToString();
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync();
            foreach (var (k, v) in form) args[k] = v.ToString();
        }
        else if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
        {
            if (await JsonNode.ParseAsync(request.Body) is JsonObject body)
                foreach (var (k, v) in body.ToList()) { body.Remove(k); args[k] = v; }
        }
        return args;
    }

    private JsonObject Answer(string method, string authorization, JsonObject args)
    {
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal)) return Error("not_authed");
        var token = authorization["Bearer ".Length..];
        if (_revoked.Contains(token)) return Error("token_revoked");
        if (!string.Equals(token, Token, StringComparison.Ordinal)) return Error("invalid_auth");

        return method switch
        {
            "auth.test" => Ok(new JsonObject
            {
                ["url"] = "https://kruxos-test.slack.com/", ["team"] = "KruxOS Test", ["user"] = "kruxos",
                ["team_id"] = "T0KRUXOS", ["user_id"] = BotUserId, ["bot_id"] = BotId, ["is_enterprise_install"] = false,
            }),
            "auth.revoke" => Revoke(token, args),
            "conversations.list" => Page(_channels.OrderBy(c => c.Id, StringComparer.Ordinal).Select(ChannelJson).ToList(), "channels", args, 100),
            "conversations.info" => Find(args, out var channel) ? Ok(new JsonObject { ["channel"] = ChannelJson(channel!) }) : Error("channel_not_found"),
            "conversations.history" => History(args),
            "conversations.replies" => Replies(args),
            "users.list" => Page(_users.OrderBy(u => u.Id, StringComparer.Ordinal).Select(UserJson).ToList(), "members", args, 100),
            "users.info" => _users.FirstOrDefault(u => u.Id == Str(args, "user")) is { } user ? Ok(new JsonObject { ["user"] = UserJson(user) }) : Error("user_not_found"),
            "chat.postMessage" => PostMessage(args),
            "chat.delete" => Delete(args),
            "reactions.add" => Reaction(args, add: true),
            "reactions.remove" => Reaction(args, add: false),
            _ => Error("unknown_method"),
        };
    }

    private JsonObject Revoke(string token, JsonObject args)
    {
        if (Str(args, "test") is "true" or "1") return Ok(new JsonObject { ["revoked"] = false });
        _revoked.Add(token);
        return Ok(new JsonObject { ["revoked"] = true });
    }

    private JsonObject History(JsonObject args)
    {
        if (!Find(args, out var channel)) return Error("channel_not_found");
        var oldest = Str(args, "oldest") ?? "0";
        var latest = Str(args, "latest");
        var inclusive = Str(args, "inclusive") is "true" or "1";
        var withMetadata = Str(args, "include_all_metadata") is "true" or "1";
        // the channel's history: top-level messages (replies only live in their thread), newest first
        var items = _messages
            .Where(m => m.ChannelId == channel!.Id && (m.ThreadTs is null || m.ThreadTs == m.Ts))
            .Where(m => inclusive ? TsCompare(m.Ts, oldest) >= 0 : TsCompare(m.Ts, oldest) > 0)
            .Where(m => latest is null || (inclusive ? TsCompare(m.Ts, latest) <= 0 : TsCompare(m.Ts, latest) < 0))
            .OrderByDescending(m => m.Ts, Comparer<string>.Create(TsCompare))
            .Select(m => MessageJson(m, withMetadata))
            .ToList();
        var page = Page(items, "messages", args, 100);
        page["has_more"] = page["response_metadata"]!["next_cursor"]!.GetValue<string>().Length > 0;
        return page;
    }

    private JsonObject Replies(JsonObject args)
    {
        if (!Find(args, out var channel)) return Error("channel_not_found");
        var ts = Str(args, "ts");
        var parent = _messages.FirstOrDefault(m => m.ChannelId == channel!.Id && m.Ts == ts);
        if (parent is null) return Error("thread_not_found");
        var threadTs = parent.ThreadTs ?? parent.Ts;
        var oldest = Str(args, "oldest");
        var items = _messages
            .Where(m => m.ChannelId == channel!.Id && (m.Ts == threadTs || m.ThreadTs == threadTs))
            .Where(m => oldest is null || m.Ts == threadTs || TsCompare(m.Ts, oldest) > 0)
            .OrderBy(m => m.Ts, Comparer<string>.Create(TsCompare))
            .Select(m => MessageJson(m, Str(args, "include_all_metadata") is "true" or "1"))
            .ToList();
        var page = Page(items, "messages", args, 100);
        page["has_more"] = page["response_metadata"]!["next_cursor"]!.GetValue<string>().Length > 0;
        return page;
    }

    private JsonObject PostMessage(JsonObject args)
    {
        if (!Find(args, out var channel)) return Error("channel_not_found");
        var text = Str(args, "text");
        if (string.IsNullOrEmpty(text)) return Error("no_text");
        if (text.Length > 40_000) return Error("msg_too_long");
        var threadTs = Str(args, "thread_ts");
        if (threadTs is not null && !_messages.Any(m => m.ChannelId == channel!.Id && m.Ts == threadTs)) return Error("thread_not_found");
        var metadata = args["metadata"] switch
        {
            JsonObject o => (JsonObject)o.DeepClone(),
            JsonValue v when v.TryGetValue<string>(out var s) => JsonNode.Parse(s) as JsonObject,
            _ => null,
        };
        var m = Add(channel!.Id, BotUserId, text, threadTs, BotId, metadata);
        return Ok(new JsonObject { ["channel"] = channel.Id, ["ts"] = m.Ts, ["message"] = MessageJson(m, withMetadata: true) });
    }

    private JsonObject Delete(JsonObject args)
    {
        if (!Find(args, out var channel)) return Error("channel_not_found");
        var ts = Str(args, "ts");
        var m = _messages.FirstOrDefault(x => x.ChannelId == channel!.Id && x.Ts == ts);
        if (m is null) return Error("message_not_found");
        if (m.BotId != BotId) return Error("cant_delete_message");
        _messages.Remove(m);
        return Ok(new JsonObject { ["channel"] = channel!.Id, ["ts"] = ts });
    }

    private JsonObject Reaction(JsonObject args, bool add)
    {
        if (!Find(args, out var channel)) return Error("channel_not_found");
        var ts = Str(args, "timestamp");
        var name = Str(args, "name");
        if (string.IsNullOrEmpty(name) || name.Contains(':')) return Error("invalid_name");
        var m = _messages.FirstOrDefault(x => x.ChannelId == channel!.Id && x.Ts == ts);
        if (m is null) return Error("message_not_found");
        m.Reactions.TryGetValue(name, out var users);
        if (add)
        {
            if (users?.Contains(BotUserId) == true) return Error("already_reacted");
            if (users is null) m.Reactions[name] = users = [];
            users.Add(BotUserId);
        }
        else
        {
            if (users?.Remove(BotUserId) != true) return Error("no_reaction");
            if (users.Count == 0) m.Reactions.Remove(name);
        }
        return Ok([]);
    }

    private FakeSlackMessage Add(string channelId, string user, string text, string? threadTs, string? botId, JsonObject? metadata)
    {
        // 1 ms apart: ts strictly increase. Seeded messages start an hour ago; a message the bot posts gets the time it was
        // posted, as on Slack (the marker lookup searches the history from the write's own time onwards).
        _clock = botId is null ? _clock + 1000 : Math.Max(_clock + 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        var ts = string.Create(CultureInfo.InvariantCulture, $"{_clock / 1_000_000}.{_clock % 1_000_000:D6}");
        var m = new FakeSlackMessage { ChannelId = channelId, Ts = ts, User = user, Text = text, ThreadTs = threadTs, BotId = botId, Metadata = metadata,
            PostedAt = DateTimeOffset.UtcNow };
        _messages.Add(m);
        return m;
    }

    private bool Find(JsonObject args, out FakeSlackChannel? channel)
    {
        var id = Str(args, "channel");
        channel = _channels.FirstOrDefault(c => c.Id == id);
        return channel is not null;
    }

    private JsonObject MessageJson(FakeSlackMessage m, bool withMetadata)
    {
        var o = new JsonObject { ["type"] = "message", ["user"] = m.User, ["text"] = m.Text, ["ts"] = m.Ts };
        if (m.BotId is not null) o["bot_id"] = m.BotId;
        var replies = _messages.Where(r => r.ThreadTs == m.Ts && r.Ts != m.Ts).OrderBy(r => r.Ts, Comparer<string>.Create(TsCompare)).ToList();
        if (m.ThreadTs is not null) o["thread_ts"] = m.ThreadTs;
        else if (replies.Count > 0) o["thread_ts"] = m.Ts;
        if (replies.Count > 0)
        {
            o["reply_count"] = replies.Count;
            o["latest_reply"] = replies[^1].Ts;
        }
        if (m.Reactions.Count > 0)
            o["reactions"] = new JsonArray([.. m.Reactions.Select(r => (JsonNode)new JsonObject
            {
                ["name"] = r.Key, ["users"] = new JsonArray([.. r.Value.Select(u => (JsonNode)JsonValue.Create(u))]), ["count"] = r.Value.Count,
            })]);
        if (withMetadata && m.Metadata is not null) o["metadata"] = m.Metadata.DeepClone();
        return o;
    }

    private static JsonObject ChannelJson(FakeSlackChannel c) => new()
    {
        ["id"] = c.Id, ["name"] = c.Name, ["is_channel"] = !c.IsPrivate, ["is_group"] = false, ["is_private"] = c.IsPrivate,
        ["is_archived"] = false, ["is_member"] = true, ["num_members"] = c.MemberCount,
        ["topic"] = new JsonObject { ["value"] = c.Topic, ["creator"] = "", ["last_set"] = 0 },
        ["purpose"] = new JsonObject { ["value"] = "", ["creator"] = "", ["last_set"] = 0 },
    };

    private static JsonObject UserJson(FakeSlackUser u) => new()
    {
        ["id"] = u.Id, ["team_id"] = "T0KRUXOS", ["name"] = u.Name, ["real_name"] = u.RealName, ["deleted"] = false, ["is_bot"] = false,
        ["profile"] = new JsonObject { ["real_name"] = u.RealName, ["display_name"] = u.Name },
    };

    /// <summary>Slack's cursor paging: an opaque cursor (here base64 of the offset), <c>limit</c> capped at 1000.</summary>
    private static JsonObject Page(List<JsonObject> items, string field, JsonObject args, int defaultLimit)
    {
        var limit = int.TryParse(Str(args, "limit"), NumberStyles.None, CultureInfo.InvariantCulture, out var l) && l > 0 ? Math.Min(l, 1000) : defaultLimit;
        var offset = 0;
        if (Str(args, "cursor") is { Length: > 0 } cursor)
        {
            try { offset = int.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(cursor))["offset:".Length..], CultureInfo.InvariantCulture); }
            catch (FormatException) { return Error("invalid_cursor"); }
            catch (ArgumentOutOfRangeException) { return Error("invalid_cursor"); }
        }
        var page = items.Skip(offset).Take(limit).ToList();
        var next = offset + page.Count < items.Count ? Convert.ToBase64String(Encoding.UTF8.GetBytes($"offset:{offset + page.Count}")) : "";
        return Ok(new JsonObject
        {
            [field] = new JsonArray([.. page.Cast<JsonNode>()]),
            ["response_metadata"] = new JsonObject { ["next_cursor"] = next },
        });
    }

    private static int TsCompare(string? a, string? b) => TsValue(a).CompareTo(TsValue(b));

    private static decimal TsValue(string? ts) =>
        decimal.TryParse(ts, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) ? v : 0m;

    private static string? Str(JsonObject args, string name) => args[name] switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v => v.ToJsonString(),
        _ => null,
    };

    private static JsonObject Ok(JsonObject o)
    {
        var r = new JsonObject { ["ok"] = true };
        foreach (var (k, v) in o.ToList()) { o.Remove(k); r[k] = v; }
        return r;
    }

    private static JsonObject Error(string error) => new() { ["ok"] = false, ["error"] = error };
}
