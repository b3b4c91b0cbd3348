using System.Buffers.Text;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Proxy.Gmail;

/// <summary>
/// The Gmail API v1 calls the adapter makes, for the connected account (<c>users/me</c>). The access token is passed per
/// call (lent from the vault for that request) and only ever placed in the <c>Authorization</c> header. Answers are
/// classified (<see cref="GoogleResponse"/>); nothing throws for provider failures.
/// </summary>
public sealed class GmailApiClient(HttpClient http, GmailOptions options)
{
    /// <summary>Message and label ids: Gmail's are short hex or word characters; anything else is never put into a path.</summary>
    public static bool IsValidId(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    /// <summary><c>users.getProfile</c>: address and current history id.</summary>
    public Task<GoogleResponse> ProfileAsync(string token, CancellationToken ct) => GetAsync(token, "profile", ct);

    /// <summary><c>users.messages.list</c>.</summary>
    public Task<GoogleResponse> ListMessagesAsync(string token, string? q, IReadOnlyList<string>? labelIds, string? pageToken, int maxResults,
        bool includeSpamTrash, CancellationToken ct)
    {
        var query = new List<KeyValuePair<string, string>> { new("maxResults", maxResults.ToString(CultureInfo.InvariantCulture)) };
        if (!string.IsNullOrEmpty(q)) query.Add(new("q", q));
        foreach (var l in labelIds ?? []) query.Add(new("labelIds", l));
        if (!string.IsNullOrEmpty(pageToken)) query.Add(new("pageToken", pageToken));
        if (includeSpamTrash) query.Add(new("includeSpamTrash", "true"));
        return GetAsync(token, "messages" + Query(query), ct);
    }

    /// <summary><c>users.messages.get</c> with <c>format</c> <c>metadata</c>, <c>full</c> or <c>minimal</c>.</summary>
    public Task<GoogleResponse> GetMessageAsync(string token, string id, string format, CancellationToken ct) => GetMessageAsync(token, id, format, null, ct);

    /// <summary>
    /// <c>users.messages.get</c> with <c>format</c> <c>metadata</c>, <c>full</c> or <c>minimal</c>; <paramref name="fields"/>
    /// (Google's partial-response selection) limits what the answer carries.
    /// </summary>
    public Task<GoogleResponse> GetMessageAsync(string token, string id, string format, string? fields, CancellationToken ct) =>
        IsValidId(id)
            ? GetAsync(token, "messages/" + id + Query(fields is null ? [new("format", format)] : [new("format", format), new("fields", fields)]), ct)
            : Task.FromResult(BadId());

    /// <summary><c>users.history.list</c> from a history id.</summary>
    public Task<GoogleResponse> ListHistoryAsync(string token, ulong startHistoryId, string? pageToken, CancellationToken ct)
    {
        var query = new List<KeyValuePair<string, string>> { new("startHistoryId", startHistoryId.ToString(CultureInfo.InvariantCulture)), new("maxResults", "500") };
        if (!string.IsNullOrEmpty(pageToken)) query.Add(new("pageToken", pageToken));
        return GetAsync(token, "history" + Query(query), ct);
    }

    /// <summary><c>users.labels.list</c>.</summary>
    public Task<GoogleResponse> ListLabelsAsync(string token, CancellationToken ct) => GetAsync(token, "labels", ct);

    /// <summary><c>users.messages.send</c> with an RFC 822 message.</summary>
    public Task<GoogleResponse> SendAsync(string token, byte[] rfc822, CancellationToken ct) =>
        PostAsync(token, "messages/send", new JsonObject { ["raw"] = Base64Url.EncodeToString(rfc822) }, ct);

    /// <summary><c>users.drafts.create</c> with an RFC 822 message.</summary>
    public Task<GoogleResponse> CreateDraftAsync(string token, byte[] rfc822, CancellationToken ct) =>
        PostAsync(token, "drafts", new JsonObject { ["message"] = new JsonObject { ["raw"] = Base64Url.EncodeToString(rfc822) } }, ct);

    /// <summary><c>users.messages.trash</c>.</summary>
    public Task<GoogleResponse> TrashAsync(string token, string id, CancellationToken ct) =>
        IsValidId(id) ? PostAsync(token, "messages/" + id + "/trash", null, ct) : Task.FromResult(BadId());

    /// <summary><c>users.messages.untrash</c>.</summary>
    public Task<GoogleResponse> UntrashAsync(string token, string id, CancellationToken ct) =>
        IsValidId(id) ? PostAsync(token, "messages/" + id + "/untrash", null, ct) : Task.FromResult(BadId());

    /// <summary><c>users.messages.modify</c>.</summary>
    public Task<GoogleResponse> ModifyAsync(string token, string id, IReadOnlyList<string> add, IReadOnlyList<string> remove, CancellationToken ct) =>
        IsValidId(id)
            ? PostAsync(token, "messages/" + id + "/modify", new JsonObject
            {
                ["addLabelIds"] = new JsonArray([.. add.Select(l => (JsonNode)JsonValue.Create(l))]),
                ["removeLabelIds"] = new JsonArray([.. remove.Select(l => (JsonNode)JsonValue.Create(l))]),
            }, ct)
            : Task.FromResult(BadId());

    private Uri Url(string relative) => new(options.ApiBase, "gmail/v1/users/me/" + relative);

    private async Task<GoogleResponse> GetAsync(string token, string relative, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Url(relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await GoogleHttp.SendAsync(http, request, options.RequestTimeout, ct).ConfigureAwait(false);
    }

    private async Task<GoogleResponse> PostAsync(string token, string relative, JsonNode? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Url(relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Content = body is null ? new StringContent("", System.Text.Encoding.UTF8, "application/json") : JsonContent.Create(body);
        return await GoogleHttp.SendAsync(http, request, options.RequestTimeout, ct).ConfigureAwait(false);
    }

    private static string Query(IEnumerable<KeyValuePair<string, string>> pairs) =>
        "?" + string.Join('&', pairs.Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value)));

    private static GoogleResponse BadId() => new(GoogleStatus.Permanent, default, "not a Gmail id", null);
}
