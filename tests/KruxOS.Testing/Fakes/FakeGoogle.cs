using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KruxOS.Testing.Fakes;

/// <summary>
/// A fake Google OAuth 2.0 server and Gmail API v1 on 127.0.0.1 and a port chosen at runtime, to the published shapes:
/// the authorization endpoint (consents at once and redirects back with <c>code</c> and <c>state</c>), the token endpoint
/// (<c>authorization_code</c> with PKCE S256 verification, <c>refresh_token</c>), the revocation endpoint, and the Gmail
/// resources the adapter uses (profile, messages list/get/send/trash/untrash/modify, history, drafts, labels). Access tokens
/// expire; every call is counted per method; a method can be told to fail its next N calls. One mailbox, one account.
/// </summary>
public sealed class FakeGoogle : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly Dictionary<string, AuthCode> _codes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _accessTokens = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refreshTokens = new(StringComparer.Ordinal);
    private readonly List<FakeMessage> _messages = [];
    private readonly List<JsonObject> _history = [];
    private readonly List<(string Id, string Raw)> _drafts = [];
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (int Remaining, int Status)> _failures = new(StringComparer.Ordinal);
    private long _historyId = 1000;
    private int _bodiesServed;
    private int _nextId;

    private FakeGoogle(WebApplication app) => _app = app;

    /// <summary>The client id the fake accepts.</summary>
    public string ClientId { get; } = "kruxos-test.apps.googleusercontent.com";

    /// <summary>The client secret the fake accepts.</summary>
    public string ClientSecret { get; } = "GOCSPX-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>The mailbox's address (change it to simulate connecting another account).</summary>
    public string Account { get; set; } = "operator@example.com";

    /// <summary>Lifetime of new access tokens (<c>expires_in</c>).</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Scopes granted at the consent step; null grants what was asked.</summary>
    public string? GrantedScopeOverride { get; set; }

    /// <summary>When true the refresh grant answers <c>invalid_grant</c> (the user revoked access).</summary>
    public bool RefreshFails { get; set; }

    /// <summary>Base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string BaseUrl => _app.Urls.First();

    /// <summary>The authorization endpoint.</summary>
    public Uri AuthorizeEndpoint => new(BaseUrl + "/o/oauth2/v2/auth");

    /// <summary>The token endpoint.</summary>
    public Uri TokenEndpoint => new(BaseUrl + "/token");

    /// <summary>The revocation endpoint.</summary>
    public Uri RevokeEndpoint => new(BaseUrl + "/revoke");

    /// <summary>The Gmail API root (the path prefix <c>gmail/v1/</c> follows).</summary>
    public Uri GmailBase => new(BaseUrl + "/");

    /// <summary>Tokens revoked so far (access or refresh).</summary>
    public ConcurrentQueue<string> Revoked { get; } = new();

    /// <summary>Raw RFC 822 text of every message accepted by <c>messages.send</c>, in order.</summary>
    public ConcurrentQueue<string> SentRaw { get; } = new();

    /// <summary>Starts the fake.</summary>
    public static async Task<FakeGoogle> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeGoogle(app);
        app.MapGet("/o/oauth2/v2/auth", fake.Authorize);
        app.MapPost("/token", (Delegate)fake.TokenAsync);
        app.MapPost("/revoke", (Delegate)fake.RevokeAsync);
        const string u = "/gmail/v1/users/{user}";
        app.MapGet(u + "/profile", (HttpContext h, string user) => fake.Api(h, user, "gmail.users.getProfile", () => Task.FromResult(fake.Profile())));
        app.MapGet(u + "/messages", (HttpContext h, string user) => fake.Api(h, user, "gmail.messages.list", () => Task.FromResult(fake.List(h.Request.Query))));
        app.MapGet(u + "/messages/{id}", (HttpContext h, string user, string id) => fake.Api(h, user, "gmail.messages.get", () => Task.FromResult(fake.Get(id, h.Request.Query["format"], h.Request.Query["fields"]))));
        app.MapPost(u + "/messages/send", (HttpContext h, string user) => fake.Api(h, user, "gmail.messages.send", () => fake.SendAsync(h)));
        app.MapPost(u + "/messages/{id}/trash", (HttpContext h, string user, string id) => fake.Api(h, user, "gmail.messages.trash", () => Task.FromResult(fake.Relabel(id, ["TRASH"], ["INBOX"]))));
        app.MapPost(u + "/messages/{id}/untrash", (HttpContext h, string user, string id) => fake.Api(h, user, "gmail.messages.untrash", () => Task.FromResult(fake.Untrash(id))));
        app.MapPost(u + "/messages/{id}/modify", (HttpContext h, string user, string id) => fake.Api(h, user, "gmail.messages.modify", () => fake.ModifyAsync(h, id)));
        app.MapGet(u + "/history", (HttpContext h, string user) => fake.Api(h, user, "gmail.history.list", () => Task.FromResult(fake.History(h.Request.Query))));
        app.MapPost(u + "/drafts", (HttpContext h, string user) => fake.Api(h, user, "gmail.drafts.create", () => fake.DraftAsync(h)));
        app.MapGet(u + "/labels", (HttpContext h, string user) => fake.Api(h, user, "gmail.labels.list", () => Task.FromResult(fake.Labels())));
        await app.StartAsync();
        return fake;
    }

    /// <summary>Calls of one method so far (e.g. <c>gmail.messages.send</c>, <c>oauth.token</c>).</summary>
    public int Calls(string method) => _calls.TryGetValue(method, out var n) ? n : 0;

    /// <summary>How many <c>messages.get</c> answers carried body data (a part's <c>body.data</c>).</summary>
    public int BodiesServed => Volatile.Read(ref _bodiesServed);

    /// <summary>Calls of every Gmail API method so far (OAuth endpoints excluded).</summary>
    public int GmailCalls => _calls.Where(kv => kv.Key.StartsWith("gmail.", StringComparison.Ordinal)).Sum(kv => kv.Value);

    /// <summary>Makes the next <paramref name="times"/> calls of <paramref name="method"/> fail with <paramref name="status"/>.</summary>
    public void FailNext(string method, int times, int status = 503) => _failures[method] = (times, status);

    /// <summary>Invalidates every access token now (as if they had expired).</summary>
    public void ExpireAccessTokens()
    {
        lock (_gate)
            foreach (var k in _accessTokens.Keys.ToList()) _accessTokens[k] = DateTimeOffset.UtcNow.AddSeconds(-1);
    }

    /// <summary>Issues tokens directly (a connected account without the browser step): access and refresh token.</summary>
    public (string Access, string Refresh) IssueTokens()
    {
        lock (_gate) return Issue(withRefresh: true);
    }

    /// <summary>
    /// Puts a message into the mailbox (recorded in the history). With <c>withAttachment</c>, <c>attachmentDepth</c> 1 puts
    /// the attachment beside the text parts; each level more wraps it in another <c>multipart/mixed</c> part (a forwarded or
    /// re-wrapped message).
    /// </summary>
    public string AddMessage(string from, string to, string subject, string textBody, string? htmlBody = null,
        IEnumerable<string>? labels = null, bool withAttachment = false, DateTimeOffset? date = null, int attachmentDepth = 1)
    {
        lock (_gate)
        {
            var m = new FakeMessage(NewId(), from, to, subject, textBody, htmlBody, withAttachment, date ?? DateTimeOffset.UtcNow, null)
            { Labels = [.. labels ?? ["INBOX", "UNREAD"]], AttachmentDepth = Math.Max(1, attachmentDepth) };
            _messages.Add(m);
            Record("messagesAdded", m);
            return m.Id;
        }
    }

    /// <summary>A message's labels now (null when it does not exist).</summary>
    public IReadOnlyList<string>? LabelsOf(string id)
    {
        lock (_gate) return _messages.FirstOrDefault(m => m.Id == id)?.Labels.ToList();
    }

    /// <summary>Number of drafts created.</summary>
    public int DraftCount
    {
        get { lock (_gate) return _drafts.Count; }
    }

    /// <summary>Empties the mailbox and the history (another account).</summary>
    public void ResetMailbox()
    {
        lock (_gate) { _messages.Clear(); _history.Clear(); _drafts.Clear(); _historyId += 1000; }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    // ---- OAuth ----

    private IResult Authorize(HttpContext h)
    {
        Count("oauth.authorize");
        var q = h.Request.Query;
        string? Get(string k) => q[k].Count == 1 ? q[k][0] : null;
        if (Get("client_id") != ClientId) return Results.BadRequest("invalid_client");
        if (Get("response_type") != "code") return Results.BadRequest("unsupported_response_type");
        var redirect = Get("redirect_uri");
        if (!Uri.TryCreate(redirect, UriKind.Absolute, out var redirectUri)) return Results.BadRequest("redirect_uri_mismatch");
        if (Get("code_challenge_method") != "S256" || string.IsNullOrEmpty(Get("code_challenge"))) return Results.BadRequest("invalid_request: PKCE S256 required");
        var code = "4/" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(24));
        lock (_gate) _codes[code] = new AuthCode(Get("code_challenge")!, redirect!, GrantedScopeOverride ?? Get("scope") ?? "", DateTimeOffset.UtcNow.AddMinutes(10));
        var sep = string.IsNullOrEmpty(redirectUri.Query) ? "?" : "&";
        var state = Get("state");
        var target = redirect + sep + "code=" + Uri.EscapeDataString(code) + (state is null ? "" : "&state=" + Uri.EscapeDataString(state))
                     + "&scope=" + Uri.EscapeDataString(GrantedScopeOverride ?? Get("scope") ?? "");
        return Results.Redirect(target);
    }

    private async Task<IResult> TokenAsync(HttpContext h)
    {
        Count("oauth.token");
        if (TakeFailure("oauth.token") is { } status) return Results.Json(new JsonObject { ["error"] = "temporarily_unavailable" }, statusCode: status);
        if (!h.Request.HasFormContentType) return OAuthError("invalid_request");
        var f = await h.Request.ReadFormAsync();
        string? Get(string k) => f[k].Count == 1 ? f[k][0] : null;
        if (Get("client_id") != ClientId || Get("client_secret") != ClientSecret) return OAuthError("invalid_client", 401);
        lock (_gate)
        {
            switch (Get("grant_type"))
            {
                case "authorization_code":
                {
                    var code = Get("code");
                    if (code is null || !_codes.Remove(code, out var c)) return OAuthError("invalid_grant");
                    if (c.ExpiresAt < DateTimeOffset.UtcNow || c.RedirectUri != Get("redirect_uri")) return OAuthError("invalid_grant");
                    var verifier = Get("code_verifier");
                    if (verifier is null || S256(verifier) != c.Challenge) return OAuthError("invalid_grant", description: "code_verifier mismatch");
                    var (access, refresh) = Issue(withRefresh: true);
                    return TokenResponse(access, refresh, c.Scope);
                }
                case "refresh_token":
                {
                    var refresh = Get("refresh_token");
                    if (RefreshFails || refresh is null || !_refreshTokens.Contains(refresh)) return OAuthError("invalid_grant", description: "Token has been expired or revoked.");
                    var (access, _) = Issue(withRefresh: false);
                    return TokenResponse(access, null, "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.modify");
                }
                default:
                    return OAuthError("unsupported_grant_type");
            }
        }
    }

    private async Task<IResult> RevokeAsync(HttpContext h)
    {
        Count("oauth.revoke");
        string? token = h.Request.Query["token"].FirstOrDefault();
        if (token is null && h.Request.HasFormContentType) token = (await h.Request.ReadFormAsync())["token"].FirstOrDefault();
        if (string.IsNullOrEmpty(token)) return OAuthError("invalid_request");
        lock (_gate)
        {
            var known = _accessTokens.Remove(token) | _refreshTokens.Remove(token);
            if (!known) return OAuthError("invalid_token");
            // revoking a refresh token also ends the access tokens issued from it (one grant per fake)
            _accessTokens.Clear();
        }
        Revoked.Enqueue(token);
        return Results.Ok();
    }

    private (string Access, string Refresh) Issue(bool withRefresh)
    {
        var access = "ya29." + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(24));
        _accessTokens[access] = DateTimeOffset.UtcNow + AccessTokenLifetime;
        var refresh = "";
        if (withRefresh)
        {
            refresh = "1//" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(24));
            _refreshTokens.Add(refresh);
        }
        return (access, refresh);
    }

    private IResult TokenResponse(string access, string? refresh, string scope)
    {
        var body = new JsonObject
        {
            ["access_token"] = access, ["token_type"] = "Bearer", ["scope"] = scope,
            ["expires_in"] = (long)AccessTokenLifetime.TotalSeconds,
        };
        if (!string.IsNullOrEmpty(refresh)) body["refresh_token"] = refresh;
        return Results.Json(body);
    }

    private static IResult OAuthError(string error, int status = 400, string? description = null)
    {
        var body = new JsonObject { ["error"] = error };
        if (description is not null) body["error_description"] = description;
        return Results.Json(body, statusCode: status);
    }

    private static string S256(string verifier) => Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    // ---- Gmail ----

    private async Task<IResult> Api(HttpContext h, string user, string method, Func<Task<JsonNode?>> body)
    {
        Count(method);
        var auth = h.Request.Headers.Authorization.ToString();
        bool valid;
        lock (_gate)
            valid = auth.StartsWith("Bearer ", StringComparison.Ordinal) && _accessTokens.TryGetValue(auth[7..], out var exp) && exp > DateTimeOffset.UtcNow;
        if (!valid) return GmailError(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED");
        if (user != "me" && user != Account) return GmailError(403, "Delegation denied", "PERMISSION_DENIED");
        if (TakeFailure(method) is { } status) return GmailError(status, "Backend Error", status == 429 ? "RESOURCE_EXHAUSTED" : "UNAVAILABLE");
        JsonNode? result;
        try { result = await body(); }
        catch (BadRequestException e) { return GmailError(400, e.Message, "INVALID_ARGUMENT"); }
        catch (System.Text.Json.JsonException) { return GmailError(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"); }
        return result is null ? GmailError(404, "Requested entity was not found.", "NOT_FOUND") : Results.Json(result);
    }

    private static IResult GmailError(int status, string message, string reason) =>
        Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = status, ["message"] = message, ["status"] = reason } }, statusCode: status);

    private JsonNode? Profile()
    {
        lock (_gate)
            return new JsonObject { ["emailAddress"] = Account, ["messagesTotal"] = _messages.Count, ["threadsTotal"] = _messages.Count, ["historyId"] = Hid() };
    }

    private JsonNode? List(IQueryCollection q)
    {
        lock (_gate)
        {
            IEnumerable<FakeMessage> all = _messages.OrderByDescending(m => m.Date).ThenByDescending(m => m.Seq);
            var labelIds = q["labelIds"].Where(l => !string.IsNullOrEmpty(l)).ToList();
            var includeSpamTrash = q["includeSpamTrash"].FirstOrDefault() == "true";
            if (!includeSpamTrash) all = all.Where(m => !m.Labels.Contains("TRASH") && !m.Labels.Contains("SPAM"));
            if (labelIds.Count > 0) all = all.Where(m => labelIds.All(l => m.Labels.Contains(l!)));
            var query = q["q"].FirstOrDefault();
            if (!string.IsNullOrWhiteSpace(query)) all = all.Where(m => Matches(m, query!));
            var max = int.TryParse(q["maxResults"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var mr) ? Math.Clamp(mr, 1, 500) : 100;
            var start = int.TryParse(q["pageToken"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var pt) ? pt : 0;
            var list = all.ToList();
            var page = list.Skip(start).Take(max).ToList();
            var body = new JsonObject
            {
                ["messages"] = new JsonArray([.. page.Select(m => (JsonNode)new JsonObject { ["id"] = m.Id, ["threadId"] = m.ThreadId })]),
                ["resultSizeEstimate"] = list.Count,
            };
            if (start + max < list.Count) body["nextPageToken"] = (start + max).ToString(CultureInfo.InvariantCulture);
            return body;
        }
    }

    private static bool Matches(FakeMessage m, string query)
    {
        foreach (var term in query.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (term.StartsWith("rfc822msgid:", StringComparison.OrdinalIgnoreCase))
            {
                var id = term["rfc822msgid:".Length..].Trim('<', '>');
                if (!string.Equals(m.MessageIdHeader?.Trim('<', '>'), id, StringComparison.Ordinal)) return false;
            }
            else if (term.StartsWith("in:", StringComparison.OrdinalIgnoreCase))
            {
                if (!m.Labels.Contains(term[3..].ToUpperInvariant())) return false;
            }
            else if (!(m.Subject + " " + m.From + " " + m.To + " " + m.Text).Contains(term, StringComparison.OrdinalIgnoreCase)) return false;
        }
        return true;
    }

    // users.messages.get as Gmail answers it: format full (the default) has the MIME tree with the text parts' data and each
    // attachment's filename and attachmentId; metadata has the id, labels and the top-level headers only — no parts, no body;
    // minimal has no payload at all. The `fields` system parameter (a partial response) is applied last; a field the
    // resource does not have is a 400, as at Google.
    private JsonNode? Get(string id, string? format, string? fields)
    {
        var mask = FieldMask.Parse(fields);
        var answer = GetResource(id, format ?? "full");
        if (answer is null) return null;
        var result = mask is null ? answer : mask.Apply(answer, FieldMask.Message);
        if (HasBodyData(result)) Interlocked.Increment(ref _bodiesServed);
        return result;
    }

    private static bool HasBodyData(JsonNode? node) => node switch
    {
        JsonObject o => o.Any(kv => (kv.Key == "data" && kv.Value is JsonValue) || HasBodyData(kv.Value)),
        JsonArray a => a.Any(HasBodyData),
        _ => false,
    };

    private JsonNode? GetResource(string id, string format)
    {
        if (format is not ("full" or "metadata" or "minimal")) return Invalid("Invalid format: " + format);
        lock (_gate)
        {
            var m = _messages.FirstOrDefault(x => x.Id == id);
            if (m is null) return null;
            var headers = new JsonArray(
                Header("From", m.From), Header("To", m.To), Header("Subject", m.Subject),
                Header("Date", m.Date.ToUniversalTime().ToString("r", CultureInfo.InvariantCulture)));
            if (m.MessageIdHeader is not null) headers.Add(Header("Message-ID", m.MessageIdHeader));
            var body = new JsonObject
            {
                ["id"] = m.Id, ["threadId"] = m.ThreadId, ["labelIds"] = new JsonArray([.. m.Labels.Select(l => (JsonNode)JsonValue.Create(l))]),
                ["snippet"] = m.Text.Length > 100 ? m.Text[..100] : m.Text, ["historyId"] = Hid(),
                ["internalDate"] = m.Date.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), ["sizeEstimate"] = m.Text.Length + 200,
            };
            if (format == "minimal") return body;
            if (format == "metadata")
            {
                body["payload"] = new JsonObject { ["mimeType"] = "multipart/mixed", ["headers"] = headers };
                return body;
            }
            var payload = new JsonObject { ["mimeType"] = "multipart/mixed", ["headers"] = headers, ["body"] = new JsonObject { ["size"] = 0 } };
            var parts = new JsonArray();
            var alt = new JsonObject { ["partId"] = "0", ["mimeType"] = "multipart/alternative", ["headers"] = new JsonArray(), ["body"] = new JsonObject { ["size"] = 0 } };
            var altParts = new JsonArray(Part("0.0", "text/plain", m.Text, format == "full"));
            if (m.Html is not null) altParts.Add(Part("0.1", "text/html", m.Html, format == "full"));
            alt["parts"] = altParts;
            parts.Add(alt);
            if (m.Attachment)
            {
                JsonNode attachment = new JsonObject
                {
                    ["partId"] = "1", ["mimeType"] = "application/pdf", ["filename"] = "report.pdf",
                    ["headers"] = new JsonArray(Header("Content-Disposition", "attachment; filename=\"report.pdf\"")),
                    ["body"] = new JsonObject { ["attachmentId"] = "att-" + m.Id, ["size"] = 1234 },
                };
                for (var level = 1; level < m.AttachmentDepth; level++)
                    attachment = new JsonObject
                    {
                        ["partId"] = "1", ["mimeType"] = "multipart/mixed", ["filename"] = "", ["headers"] = new JsonArray(),
                        ["body"] = new JsonObject { ["size"] = 0 }, ["parts"] = new JsonArray(attachment),
                    };
                parts.Add(attachment);
            }
            payload["parts"] = parts;
            body["payload"] = payload;
            return body;
        }
    }

    private static JsonObject Part(string partId, string mime, string text, bool withData)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var b = new JsonObject { ["size"] = bytes.Length };
        if (withData) b["data"] = Base64Url.EncodeToString(bytes);
        return new JsonObject { ["partId"] = partId, ["mimeType"] = mime, ["filename"] = "", ["headers"] = new JsonArray(Header("Content-Type", mime + "; charset=UTF-8")), ["body"] = b };
    }

    private static JsonObject Header(string name, string value) => new() { ["name"] = name, ["value"] = value };

    private async Task<JsonNode?> SendAsync(HttpContext h)
    {
        var body = await JsonNode.ParseAsync(h.Request.Body);
        var raw = body?["raw"]?.GetValue<string>();
        if (raw is null) return Invalid("raw required");
        string text;
        try { text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(raw)); }
        catch (FormatException) { return Invalid("raw is not base64url"); }
        var (headers, content) = ParseRfc822(text);
        if (!headers.TryGetValue("to", out var to) || string.IsNullOrWhiteSpace(to)) return Invalid("Recipient address required");
        lock (_gate)
        {
            var m = new FakeMessage(NewId(), headers.GetValueOrDefault("from", Account), to, headers.GetValueOrDefault("subject", ""), content, null, false,
                DateTimeOffset.UtcNow, headers.GetValueOrDefault("message-id")) { Labels = ["SENT"] };
            _messages.Add(m);
            Record("messagesAdded", m);
            SentRaw.Enqueue(text);
            return new JsonObject { ["id"] = m.Id, ["threadId"] = m.ThreadId, ["labelIds"] = new JsonArray("SENT") };
        }
    }

    private async Task<JsonNode?> DraftAsync(HttpContext h)
    {
        var body = await JsonNode.ParseAsync(h.Request.Body);
        var raw = body?["message"]?["raw"]?.GetValue<string>();
        if (raw is null) return Invalid("message.raw required");
        string text;
        try { text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(raw)); }
        catch (FormatException) { return Invalid("raw is not base64url"); }
        lock (_gate)
        {
            var draftId = "r" + NewId();
            _drafts.Add((draftId, text));
            var messageId = NewId();
            return new JsonObject { ["id"] = draftId, ["message"] = new JsonObject { ["id"] = messageId, ["threadId"] = messageId, ["labelIds"] = new JsonArray("DRAFT") } };
        }
    }

    private async Task<JsonNode?> ModifyAsync(HttpContext h, string id)
    {
        var body = await JsonNode.ParseAsync(h.Request.Body);
        var add = (body?["addLabelIds"] as JsonArray ?? []).Select(n => n!.GetValue<string>()).ToList();
        var remove = (body?["removeLabelIds"] as JsonArray ?? []).Select(n => n!.GetValue<string>()).ToList();
        return Relabel(id, add, remove);
    }

    private JsonNode? Untrash(string id) => Relabel(id, [], ["TRASH"], restoreInbox: true);

    private JsonNode? Relabel(string id, IReadOnlyList<string> add, IReadOnlyList<string> remove, bool restoreInbox = false)
    {
        lock (_gate)
        {
            var m = _messages.FirstOrDefault(x => x.Id == id);
            if (m is null) return null;
            if (restoreInbox && m.Labels.Contains("TRASH") && !m.Labels.Contains("SENT")) m.Labels.Add("INBOX");
            var removed = remove.Where(m.Labels.Remove).ToList();
            var added = add.Where(m.Labels.Add).ToList();
            if (removed.Count > 0) Record("labelsRemoved", m, removed);
            if (added.Count > 0) Record("labelsAdded", m, added);
            return new JsonObject { ["id"] = m.Id, ["threadId"] = m.ThreadId, ["labelIds"] = new JsonArray([.. m.Labels.Select(l => (JsonNode)JsonValue.Create(l))]) };
        }
    }

    private JsonNode? History(IQueryCollection q)
    {
        if (!long.TryParse(q["startHistoryId"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var start)) return Invalid("startHistoryId required");
        lock (_gate)
        {
            var oldest = _history.Count == 0 ? _historyId : _history[0]["id"]!.GetValue<long>() - 1;
            if (start < oldest - 1) return null; // Google answers 404 when the start is older than the history kept
            var after = _history.Where(r => r["id"]!.GetValue<long>() > start).ToList();
            var max = int.TryParse(q["maxResults"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var mr) ? Math.Clamp(mr, 1, 500) : 100;
            var skip = int.TryParse(q["pageToken"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var pt) ? pt : 0;
            var page = after.Skip(skip).Take(max).ToList();
            var body = new JsonObject { ["history"] = new JsonArray([.. page.Select(r => r.DeepClone())]), ["historyId"] = Hid() };
            if (skip + max < after.Count) body["nextPageToken"] = (skip + max).ToString(CultureInfo.InvariantCulture);
            return body;
        }
    }

    private JsonNode? Labels()
    {
        lock (_gate)
        {
            var system = new[] { "INBOX", "SENT", "TRASH", "SPAM", "DRAFT", "UNREAD", "STARRED", "IMPORTANT" };
            var user = _messages.SelectMany(m => m.Labels).Where(l => !system.Contains(l)).Distinct().Order(StringComparer.Ordinal);
            return new JsonObject
            {
                ["labels"] = new JsonArray([
                    .. system.Select(l => (JsonNode)new JsonObject { ["id"] = l, ["name"] = l, ["type"] = "system" }),
                    .. user.Select(l => (JsonNode)new JsonObject { ["id"] = l, ["name"] = l.Replace("Label_", "", StringComparison.Ordinal), ["type"] = "user" })]),
            };
        }
    }

    private static JsonNode? Invalid(string message) => throw new BadRequestException(message);

    private void Record(string kind, FakeMessage m, IReadOnlyList<string>? labels = null)
    {
        _historyId++;
        var msg = new JsonObject { ["id"] = m.Id, ["threadId"] = m.ThreadId, ["labelIds"] = new JsonArray([.. m.Labels.Select(l => (JsonNode)JsonValue.Create(l))]) };
        var entry = new JsonObject { ["message"] = msg };
        if (labels is not null) entry["labelIds"] = new JsonArray([.. labels.Select(l => (JsonNode)JsonValue.Create(l))]);
        _history.Add(new JsonObject { ["id"] = _historyId, ["messages"] = new JsonArray(msg.DeepClone()), [kind] = new JsonArray(entry) });
    }

    private string Hid() => _historyId.ToString(CultureInfo.InvariantCulture);

    private string NewId() => (0x18c0000000000000L + Interlocked.Increment(ref _nextId)).ToString("x", CultureInfo.InvariantCulture);

    private void Count(string method) => _calls.AddOrUpdate(method, 1, (_, n) => n + 1);

    private int? TakeFailure(string method)
    {
        while (_failures.TryGetValue(method, out var f) && f.Remaining > 0)
            if (_failures.TryUpdate(method, (f.Remaining - 1, f.Status), f)) return f.Status;
        return null;
    }

    /// <summary>Splits RFC 822 text into lower-cased headers (unfolded) and the body.</summary>
    public static (Dictionary<string, string> Headers, string Body) ParseRfc822(string text)
    {
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        var split = normalized.IndexOf("\n\n", StringComparison.Ordinal);
        var head = split < 0 ? normalized : normalized[..split];
        var body = split < 0 ? "" : normalized[(split + 2)..];
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? last = null;
        foreach (var line in head.Split('\n'))
        {
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t') && last is not null) { headers[last] += " " + line.Trim(); continue; }
            var colon = line.IndexOf(':');
            if (colon <= 0) continue;
            last = line[..colon].Trim().ToLowerInvariant();
            headers[last] = line[(colon + 1)..].Trim();
        }
        return (headers, body);
    }

    private sealed class BadRequestException(string message) : Exception(message);

    private sealed record AuthCode(string Challenge, string RedirectUri, string Scope, DateTimeOffset ExpiresAt);

    private sealed class FakeMessage(string id, string from, string to, string subject, string text, string? html, bool attachment,
        DateTimeOffset date, string? messageIdHeader)
    {
        private static long _seq;
        public string Id { get; } = id;
        public string ThreadId { get; } = id;
        public string From { get; } = from;
        public string To { get; } = to;
        public string Subject { get; } = subject;
        public string Text { get; } = text;
        public string? Html { get; } = html;
        public bool Attachment { get; } = attachment;
        public DateTimeOffset Date { get; } = date;
        public string? MessageIdHeader { get; } = messageIdHeader;
        public long Seq { get; } = Interlocked.Increment(ref _seq);
        public HashSet<string> Labels { get; init; } = [];
        public int AttachmentDepth { get; init; } = 1;
    }

    /// <summary>
    /// Google's partial-response syntax (<c>fields=a,b/c,d(e,f(g))</c>) over the Message resource: names are checked against
    /// the resource's fields (an unknown one is a 400, "Invalid field selection"), objects keep only what is selected, arrays
    /// apply the selection to each element.
    /// </summary>
    private sealed class FieldMask
    {
        public const string Message = "Message";

        private static readonly Dictionary<string, Dictionary<string, string?>> Schema = new(StringComparer.Ordinal)
        {
            [Message] = new(StringComparer.Ordinal)
            {
                ["id"] = null, ["threadId"] = null, ["labelIds"] = null, ["snippet"] = null, ["historyId"] = null, ["internalDate"] = null,
                ["sizeEstimate"] = null, ["raw"] = null, ["payload"] = "MessagePart",
            },
            ["MessagePart"] = new(StringComparer.Ordinal)
            {
                ["partId"] = null, ["mimeType"] = null, ["filename"] = null, ["headers"] = "Header", ["body"] = "MessagePartBody", ["parts"] = "MessagePart",
            },
            ["Header"] = new(StringComparer.Ordinal) { ["name"] = null, ["value"] = null },
            ["MessagePartBody"] = new(StringComparer.Ordinal) { ["attachmentId"] = null, ["size"] = null, ["data"] = null },
        };

        // selected name → its own selection (null: the whole field)
        private readonly Dictionary<string, FieldMask?> _fields = new(StringComparer.Ordinal);

        public static FieldMask? Parse(string? text)
        {
            if (string.IsNullOrWhiteSpace(text)) return null;
            var pos = 0;
            var mask = ParseList(text, ref pos);
            if (pos != text.Length) throw new BadRequestException("Invalid field selection " + text);
            return mask;
        }

        private static FieldMask ParseList(string text, ref int pos)
        {
            var mask = new FieldMask();
            while (true)
            {
                var path = new List<string>();
                while (true)
                {
                    var start = pos;
                    while (pos < text.Length && (char.IsAsciiLetterOrDigit(text[pos]) || text[pos] == '_')) pos++;
                    if (pos == start) throw new BadRequestException("Invalid field selection " + text);
                    path.Add(text[start..pos]);
                    if (pos < text.Length && text[pos] == '/') { pos++; continue; }
                    break;
                }
                FieldMask? sub = null;
                if (pos < text.Length && text[pos] == '(')
                {
                    pos++;
                    sub = ParseList(text, ref pos);
                    if (pos >= text.Length || text[pos] != ')') throw new BadRequestException("Invalid field selection " + text);
                    pos++;
                }
                mask.Add(path, sub);
                if (pos < text.Length && text[pos] == ',') { pos++; continue; }
                return mask;
            }
        }

        private void Add(List<string> path, FieldMask? leaf)
        {
            var node = this;
            for (var i = 0; i < path.Count; i++)
            {
                var last = i == path.Count - 1;
                if (last)
                {
                    node._fields[path[i]] = node._fields.TryGetValue(path[i], out var existing) && existing is not null && leaf is not null ? existing.Merge(leaf) : leaf;
                    return;
                }
                if (!node._fields.TryGetValue(path[i], out var next) || next is null)
                {
                    if (node._fields.ContainsKey(path[i])) return; // the whole field is selected already
                    node._fields[path[i]] = next = new FieldMask();
                }
                node = next;
            }
        }

        private FieldMask Merge(FieldMask other)
        {
            foreach (var (k, v) in other._fields) Add([k], v);
            return this;
        }

        public JsonNode Apply(JsonNode node, string type)
        {
            Validate(type);
            return Select(node, type);
        }

        private void Validate(string type)
        {
            foreach (var (name, sub) in _fields)
            {
                if (!Schema[type].TryGetValue(name, out var child)) throw new BadRequestException("Invalid field selection " + name);
                if (sub is null) continue;
                if (child is null) throw new BadRequestException("Invalid field selection " + name);
                sub.Validate(child);
            }
        }

        private JsonNode Select(JsonNode node, string type)
        {
            if (node is JsonArray array) return new JsonArray([.. array.Select(e => e is null ? null : Select(e, type))]);
            if (node is not JsonObject o) return node.DeepClone();
            var kept = new JsonObject();
            foreach (var (name, sub) in _fields)
            {
                if (!o.TryGetPropertyValue(name, out var value) || value is null) continue;
                kept[name] = sub is null ? value.DeepClone() : sub.Select(value, Schema[type][name]!);
            }
            return kept;
        }
    }
}
