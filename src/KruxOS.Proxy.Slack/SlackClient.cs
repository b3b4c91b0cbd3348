using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Slack;

namespace KruxOS.Proxy.Slack;

/// <summary>
/// A typed client of the Slack Web API methods the adapter uses. Every call takes the token it is to use (lent by the
/// vault for that call), answers a <see cref="SlackResult{T}"/> and never throws for a provider, network or answer
/// problem: each becomes a <see cref="SlackError"/> classified transient, permanent or unauthorized. A rate limit whose
/// <c>Retry-After</c> is short is waited out and the call repeated (at most <see cref="SlackOptions.MaxRateLimitRetries"/>
/// times); a longer one is returned with its <c>RetryAfter</c>. Identifiers in answers are checked
/// (<see cref="SlackIds"/>) and items that fail are skipped, so nothing malformed reaches the replica.
/// </summary>
public sealed class SlackClient
{
    /// <summary>The metadata event type of messages this gateway posts; its payload names the write (the idempotency marker).</summary>
    public const string MarkerEventType = "kruxos_write";

    /// <summary>The longest message text kept (Slack truncates at 40,000 characters).</summary>
    public const int MaxTextLength = 40_000;

    private readonly HttpClient _http;
    private readonly SlackOptions _options;
    private readonly TimeProvider _time;

    /// <param name="http">A client that does not follow redirects (see <see cref="CreateHttpClient"/>).</param>
    /// <param name="options">Base URL and limits.</param>
    /// <param name="time">The clock for rate-limit waits.</param>
    public SlackClient(HttpClient http, SlackOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error) throw new ArgumentException(error, nameof(options));
        _http = http;
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The HTTP client the adapter uses: no redirects (a redirect never carries the token anywhere), no cookies, the request timeout.</summary>
    public static HttpClient CreateHttpClient(SlackOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate,
        };
        return new HttpClient(handler) { Timeout = options.RequestTimeout };
    }

    // ---- methods ------------------------------------------------------------------------------------------------------

    /// <summary><c>auth.test</c>: who the token is. A token that is not shaped like a bot token is refused before any call.</summary>
    public async Task<SlackResult<SlackIdentity>> AuthTestAsync(SlackToken token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (!token.IsBotToken) return new SlackError("auth.test", "not_a_bot_token", SlackFailureKind.Unauthorized);
        var r = await CallAsync(token, "auth.test", [], null, ct);
        if (r.Error is { } e) return e;
        var o = r.Value!;
        var user = Str(o, "user_id");
        var team = Str(o, "team_id");
        if (!SlackIds.IsUserId(user) || string.IsNullOrEmpty(team) || team.Length > SlackIds.MaxIdLength)
            return Malformed("auth.test");
        return SlackResult<SlackIdentity>.Success(new SlackIdentity(team, Bounded(Str(o, "team"), 200), user!, Str(o, "bot_id") is { } b && SlackIds.IsUserId(b) ? b : null, Bounded(Str(o, "url"), 500)));
    }

    /// <summary><c>auth.revoke</c>: revokes the token at the provider. A token that is already revoked or invalid counts as revoked.</summary>
    public async Task<SlackResult<bool>> RevokeAsync(SlackToken token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        var r = await CallAsync(token, "auth.revoke", [], null, ct);
        if (r.Error is { Kind: SlackFailureKind.Unauthorized }) return SlackResult<bool>.Success(true);
        if (r.Error is { } e) return e;
        return SlackResult<bool>.Success(r.Value!["revoked"]?.GetValueKind() == JsonValueKind.True);
    }

    /// <summary><c>conversations.list</c>: one page of public and private channels the bot can see (archived excluded).</summary>
    public async Task<SlackResult<SlackPage<SlackChannel>>> ListChannelsAsync(SlackToken token, string? cursor, int limit, CancellationToken ct)
    {
        var r = await CallAsync(token, "conversations.list",
            [new("types", "public_channel,private_channel"), new("exclude_archived", "true"), new("limit", Limit(limit)), .. Cursor(cursor)], null, ct);
        if (r.Error is { } e) return e;
        return SlackResult<SlackPage<SlackChannel>>.Success(new(Items(r.Value!, "channels", ParseChannel), NextCursor(r.Value!)));
    }

    /// <summary><c>conversations.info</c>: one channel.</summary>
    public async Task<SlackResult<SlackChannel>> ChannelInfoAsync(SlackToken token, string channelId, CancellationToken ct)
    {
        if (!SlackIds.IsChannelId(channelId)) return new SlackError("conversations.info", "invalid_channel", SlackFailureKind.Permanent);
        var r = await CallAsync(token, "conversations.info", [new("channel", channelId)], null, ct);
        if (r.Error is { } e) return e;
        return r.Value!["channel"] is JsonObject c && ParseChannel(c) is { } channel ? SlackResult<SlackChannel>.Success(channel) : Malformed("conversations.info");
    }

    /// <summary>
    /// <c>conversations.history</c>: a page of a channel's messages, newest first, strictly after <paramref name="oldest"/>
    /// when given; with the metadata of messages (so the write markers can be found).
    /// </summary>
    public async Task<SlackResult<SlackPage<SlackMessage>>> HistoryAsync(SlackToken token, string channelId, string? oldest, string? cursor, int limit, CancellationToken ct)
    {
        if (!SlackIds.IsChannelId(channelId)) return new SlackError("conversations.history", "invalid_channel", SlackFailureKind.Permanent);
        if (oldest is not null && !SlackIds.IsTs(oldest)) return new SlackError("conversations.history", "invalid_ts_oldest", SlackFailureKind.Permanent);
        List<KeyValuePair<string, string>> args = [new("channel", channelId), new("limit", Limit(limit)), new("include_all_metadata", "true"), .. Cursor(cursor)];
        if (oldest is not null) args.Add(new("oldest", oldest));
        var r = await CallAsync(token, "conversations.history", args, null, ct);
        if (r.Error is { } e) return e;
        return SlackResult<SlackPage<SlackMessage>>.Success(new(Items(r.Value!, "messages", m => ParseMessage(m, channelId)), NextCursor(r.Value!)));
    }

    /// <summary><c>conversations.replies</c>: a page of a thread, the parent first, then the replies in ts order (after <paramref name="oldest"/> when given).</summary>
    public async Task<SlackResult<SlackPage<SlackMessage>>> RepliesAsync(SlackToken token, string channelId, string threadTs, string? oldest, string? cursor, int limit, CancellationToken ct)
    {
        if (!SlackIds.IsChannelId(channelId) || !SlackIds.IsTs(threadTs)) return new SlackError("conversations.replies", "invalid_arguments", SlackFailureKind.Permanent);
        if (oldest is not null && !SlackIds.IsTs(oldest)) return new SlackError("conversations.replies", "invalid_ts_oldest", SlackFailureKind.Permanent);
        List<KeyValuePair<string, string>> args = [new("channel", channelId), new("ts", threadTs), new("limit", Limit(limit)), new("include_all_metadata", "true"), .. Cursor(cursor)];
        if (oldest is not null) args.Add(new("oldest", oldest));
        var r = await CallAsync(token, "conversations.replies", args, null, ct);
        if (r.Error is { } e) return e;
        return SlackResult<SlackPage<SlackMessage>>.Success(new(Items(r.Value!, "messages", m => ParseMessage(m, channelId)), NextCursor(r.Value!)));
    }

    /// <summary><c>users.list</c>: one page of the workspace's users.</summary>
    public async Task<SlackResult<SlackPage<SlackUser>>> ListUsersAsync(SlackToken token, string? cursor, int limit, CancellationToken ct)
    {
        var r = await CallAsync(token, "users.list", [new("limit", Limit(limit)), .. Cursor(cursor)], null, ct);
        if (r.Error is { } e) return e;
        return SlackResult<SlackPage<SlackUser>>.Success(new(Items(r.Value!, "members", ParseUser), NextCursor(r.Value!)));
    }

    /// <summary><c>users.info</c>: one user.</summary>
    public async Task<SlackResult<SlackUser>> UserInfoAsync(SlackToken token, string userId, CancellationToken ct)
    {
        if (!SlackIds.IsUserId(userId)) return new SlackError("users.info", "invalid_user", SlackFailureKind.Permanent);
        var r = await CallAsync(token, "users.info", [new("user", userId)], null, ct);
        if (r.Error is { } e) return e;
        return r.Value!["user"] is JsonObject u && ParseUser(u) is { } user ? SlackResult<SlackUser>.Success(user) : Malformed("users.info");
    }

    /// <summary>
    /// <c>chat.postMessage</c> (JSON body): posts <paramref name="text"/> to a channel, or into a thread, carrying
    /// <paramref name="writeMarker"/> as message metadata (<c>event_type</c> <see cref="MarkerEventType"/>), which
    /// <see cref="HistoryAsync"/> reads back: the idempotency marker of a buffered write.
    /// </summary>
    public async Task<SlackResult<SlackPosted>> PostMessageAsync(SlackToken token, string channelId, string text, string? threadTs, string writeMarker, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentException.ThrowIfNullOrEmpty(writeMarker);
        if (!SlackIds.IsChannelId(channelId) || (threadTs is not null && !SlackIds.IsTs(threadTs)))
            return new SlackError("chat.postMessage", "invalid_arguments", SlackFailureKind.Permanent);
        var body = new JsonObject
        {
            ["channel"] = channelId,
            ["text"] = text,
            ["metadata"] = new JsonObject
            {
                ["event_type"] = MarkerEventType,
                ["event_payload"] = new JsonObject { ["write_id"] = writeMarker },
            },
        };
        if (threadTs is not null) body["thread_ts"] = threadTs;
        var r = await CallAsync(token, "chat.postMessage", [], body, ct);
        if (r.Error is { } e) return e;
        var ts = Str(r.Value!, "ts");
        var channel = Str(r.Value!, "channel") ?? channelId;
        return SlackIds.IsTs(ts) && SlackIds.IsChannelId(channel) ? SlackResult<SlackPosted>.Success(new(channel, ts!)) : Malformed("chat.postMessage");
    }

    /// <summary><c>chat.delete</c>: deletes a message the bot posted (the rollback of a send or reply).</summary>
    public async Task<SlackResult<bool>> DeleteMessageAsync(SlackToken token, string channelId, string ts, CancellationToken ct)
    {
        if (!SlackIds.IsChannelId(channelId) || !SlackIds.IsTs(ts)) return new SlackError("chat.delete", "invalid_arguments", SlackFailureKind.Permanent);
        var r = await CallAsync(token, "chat.delete", [new("channel", channelId), new("ts", ts)], null, ct);
        return r.Error is { } e ? e : SlackResult<bool>.Success(true);
    }

    /// <summary><c>reactions.add</c>.</summary>
    public Task<SlackResult<bool>> AddReactionAsync(SlackToken token, string channelId, string ts, string name, CancellationToken ct) =>
        ReactionAsync(token, "reactions.add", channelId, ts, name, ct);

    /// <summary><c>reactions.remove</c>.</summary>
    public Task<SlackResult<bool>> RemoveReactionAsync(SlackToken token, string channelId, string ts, string name, CancellationToken ct) =>
        ReactionAsync(token, "reactions.remove", channelId, ts, name, ct);

    private async Task<SlackResult<bool>> ReactionAsync(SlackToken token, string method, string channelId, string ts, string name, CancellationToken ct)
    {
        if (!SlackIds.IsChannelId(channelId) || !SlackIds.IsTs(ts) || !SlackIds.IsReactionName(name))
            return new SlackError(method, "invalid_arguments", SlackFailureKind.Permanent);
        var r = await CallAsync(token, method, [new("channel", channelId), new("timestamp", ts), new("name", name)], null, ct);
        return r.Error is { } e ? e : SlackResult<bool>.Success(true);
    }

    // ---- transport ----------------------------------------------------------------------------------------------------

    /// <summary>
    /// One method call: form-encoded arguments (or a JSON body), the bearer header from the token, rate limits waited
    /// out when short, the answer's <c>ok</c>/<c>error</c> envelope classified.
    /// </summary>
    private async Task<SlackResult<JsonObject>> CallAsync(SlackToken token, string method, IReadOnlyList<KeyValuePair<string, string>> form, JsonObject? json, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        for (var attempt = 0; ; attempt++)
        {
            var result = await SendOnceAsync(token, method, form, json, ct);
            if (result.Error is { Code: "ratelimited", RetryAfter: { } wait } && attempt < _options.MaxRateLimitRetries && wait <= _options.MaxRateLimitWait)
            {
                await Task.Delay(wait, _time, ct);
                continue;
            }
            return result;
        }
    }

    private async Task<SlackResult<JsonObject>> SendOnceAsync(SlackToken token, string method, IReadOnlyList<KeyValuePair<string, string>> form, JsonObject? json, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_options.Base, method));
        request.Content = json is null
            ? new FormUrlEncodedContent(form)
            : new StringContent(json.ToJsonString(), Encoding.UTF8, "application/json");
        try
        {
            token.Authorize(request);
        }
        catch (InvalidOperationException)
        {
            // a refused lease, a disposed value, a stored credential that is not a bot token: never sent
            return new SlackError(method, "invalid_credential", SlackFailureKind.Unauthorized);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new SlackError(method, "timeout", SlackFailureKind.Transient);
        }
        catch (HttpRequestException)
        {
            return new SlackError(method, "connection_failed", SlackFailureKind.Transient);
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                return new SlackError(method, "ratelimited", SlackFailureKind.Transient, RetryAfter(response));
            if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.RequestTimeout)
                return new SlackError(method, "http_" + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), SlackFailureKind.Transient);
            if (response.StatusCode != HttpStatusCode.OK)
                return new SlackError(method, "http_" + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture),
                    response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? SlackFailureKind.Unauthorized : SlackFailureKind.Permanent);

            byte[] body;
            try
            {
                body = await ReadBoundedAsync(response.Content, _options.MaxResponseBytes, ct);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return new SlackError(method, "timeout", SlackFailureKind.Transient);
            }
            catch (HttpRequestException)
            {
                return new SlackError(method, "connection_failed", SlackFailureKind.Transient);
            }
            catch (InvalidDataException)
            {
                return new SlackError(method, "response_too_large", SlackFailureKind.Transient);
            }

            JsonObject? answer;
            try
            {
                answer = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = 64 }) as JsonObject;
            }
            catch (JsonException)
            {
                answer = null;
            }
            if (answer is null || answer["ok"] is not JsonValue okValue || okValue.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                return Malformed(method);
            if (okValue.GetValueKind() == JsonValueKind.True) return SlackResult<JsonObject>.Success(answer);
            var code = Str(answer, "error") is { Length: > 0 and <= 100 } c && c.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_') ? c : "unknown_error";
            return new SlackError(method, code, Classify(code), code == "ratelimited" ? RetryAfter(response) : null);
        }
    }

    /// <summary>The kind of a Slack <c>error</c> code (Web API "Errors" sections and the rate-limit guide).</summary>
    public static SlackFailureKind Classify(string code) => code switch
    {
        "ratelimited" or "internal_error" or "fatal_error" or "service_unavailable" or "request_timeout" or "team_added_to_org" or "timeout"
            or "connection_failed" or "invalid_response" or "response_too_large" => SlackFailureKind.Transient,
        "not_authed" or "invalid_auth" or "token_revoked" or "token_expired" or "account_inactive" or "no_permission" or "org_login_required"
            or "ekm_access_denied" or "not_a_bot_token" or "invalid_credential" or "two_factor_setup_required" => SlackFailureKind.Unauthorized,
        _ => SlackFailureKind.Permanent,
    };

    private TimeSpan RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta && delta >= TimeSpan.Zero) return delta > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : delta;
        if (header?.Date is { } date)
        {
            var d = date - _time.GetUtcNow();
            return d < TimeSpan.Zero ? TimeSpan.Zero : d > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : d;
        }
        return TimeSpan.FromSeconds(60); // Slack always sends one; without it, a minute
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, long max, CancellationToken ct)
    {
        if (content.Headers.ContentLength is { } length && length > max) throw new InvalidDataException("too large");
        await using var stream = await content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > max) throw new InvalidDataException("too large");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    // ---- parsing ------------------------------------------------------------------------------------------------------

    private static SlackError Malformed(string method) => new(method, "invalid_response", SlackFailureKind.Transient);

    private static string Limit(int limit) => Math.Clamp(limit, 1, 1000).ToString(CultureInfo.InvariantCulture);

    private static IEnumerable<KeyValuePair<string, string>> Cursor(string? cursor) =>
        string.IsNullOrEmpty(cursor) ? [] : [new("cursor", cursor)];

    private static string? NextCursor(JsonObject o) =>
        o["response_metadata"] is JsonObject meta && Str(meta, "next_cursor") is { Length: > 0 and <= 1000 } next ? next : null;

    private static List<T> Items<T>(JsonObject o, string field, Func<JsonObject, T?> parse) where T : class =>
        o[field] is JsonArray array ? [.. array.OfType<JsonObject>().Select(parse).OfType<T>()] : [];

    private static SlackChannel? ParseChannel(JsonObject c)
    {
        var id = Str(c, "id");
        if (!SlackIds.IsChannelId(id)) return null;
        var topic = c["topic"] is JsonObject t ? Str(t, "value") : null;
        var members = c["num_members"] is JsonValue n && n.TryGetValue<int>(out var count) && count >= 0 ? count : 0;
        return new SlackChannel(id!, Bounded(Str(c, "name") ?? id, 200), Bounded(topic, 1000), members,
            c["is_private"]?.GetValueKind() == JsonValueKind.True, c["is_archived"]?.GetValueKind() == JsonValueKind.True);
    }

    private static SlackUser? ParseUser(JsonObject u)
    {
        var id = Str(u, "id");
        if (!SlackIds.IsUserId(id)) return null;
        var real = Str(u, "real_name") ?? (u["profile"] is JsonObject p ? Str(p, "real_name") : null);
        return new SlackUser(id!, Bounded(Str(u, "name") ?? id, 200), Bounded(real, 200), u["deleted"]?.GetValueKind() == JsonValueKind.True);
    }

    private static SlackMessage? ParseMessage(JsonObject m, string channelId)
    {
        var ts = Str(m, "ts");
        if (!SlackIds.IsTs(ts)) return null;
        var user = Str(m, "user") is { } u && SlackIds.IsUserId(u) ? u : Str(m, "bot_id") is { } b && SlackIds.IsUserId(b) ? b : "";
        var threadTs = Str(m, "thread_ts") is { } t && SlackIds.IsTs(t) ? t : null;
        var replyCount = m["reply_count"] is JsonValue rc && rc.TryGetValue<int>(out var n) && n >= 0 ? n : 0;
        var latest = Str(m, "latest_reply") is { } l && SlackIds.IsTs(l) ? l : null;
        List<SlackReaction> reactions = [];
        if (m["reactions"] is JsonArray rs)
            foreach (var r in rs.OfType<JsonObject>().Take(50))
            {
                var name = Str(r, "name");
                if (!SlackIds.IsReactionName(name)) continue;
                List<string> users = r["users"] is JsonArray us ? [.. us.Select(x => x is JsonValue v && v.TryGetValue<string>(out var s) ? s : null).OfType<string>().Where(SlackIds.IsUserId).Take(100)] : [];
                var count = r["count"] is JsonValue c && c.TryGetValue<int>(out var k) && k >= 0 ? k : users.Count;
                reactions.Add(new SlackReaction(name!, count, users));
            }
        string? marker = null;
        if (m["metadata"] is JsonObject meta && Str(meta, "event_type") == MarkerEventType && meta["event_payload"] is JsonObject payload
            && Str(payload, "write_id") is { Length: > 0 and <= 100 } w)
            marker = w;
        return new SlackMessage(channelId, ts!, user, Bounded(Str(m, "text"), MaxTextLength), threadTs, replyCount, latest, reactions, marker);
    }

    private static string? Str(JsonObject o, string name) =>
        o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static string Bounded(string? value, int max) => value is null ? "" : value.Length <= max ? value : value[..max];
}
