using System.Buffers.Text;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace KruxOS.Proxy.Gmail;

/// <summary>What the replica keeps of a message (from <c>format=full</c> limited to <see cref="GmailMessages.SyncFields"/>): never a body.</summary>
public sealed record GmailMessageMeta(string Id, string ThreadId, string From, string To, string Subject, string Snippet,
    ImmutableArray<string> Labels, DateTimeOffset Date, bool IsRead, bool HasAttachments, string? MessageIdHeader);

/// <summary>A message body (from <c>format=full</c>).</summary>
public sealed record GmailBody(string? TextPlain, string? TextHtml);

/// <summary>
/// Reads Gmail message resources defensively: everything is provider input; missing or malformed fields give empty
/// values, never exceptions; lengths are bounded and the MIME walk's depth and part count are limited.
/// </summary>
public static class GmailMessages
{
    /// <summary>Longest header value kept.</summary>
    public const int MaxHeader = 2048;

    /// <summary>Longest snippet kept.</summary>
    public const int MaxSnippet = 512;

    /// <summary>Largest body part kept (per text kind).</summary>
    public const int MaxBodyChars = 2 * 1024 * 1024;

    private const int MaxDepth = 16;

    /// <summary>How deep <see cref="SyncFields"/> reaches into the MIME tree (attachments nested deeper are not seen).</summary>
    public const int SyncStructureDepth = 10;

    /// <summary>
    /// What a sync asks <c>messages.get</c> for: <c>format=full</c> (Gmail's <c>format=metadata</c> answers carry the headers
    /// but no MIME parts, so whether a message has attachments cannot be seen in them) limited by this partial-response
    /// selection to the metadata and the MIME tree's shape — each part's type, file name and attachment id, never a body's
    /// data (which the replica only fetches for <c>email.read</c>).
    /// </summary>
    public static readonly string SyncFields = "id,threadId,labelIds,snippet,historyId,internalDate,payload(" + PartFields(SyncStructureDepth) + ",headers)";

    private static string PartFields(int depth) =>
        "mimeType,filename,body/attachmentId" + (depth > 0 ? ",parts(" + PartFields(depth - 1) + ")" : "");
    private const int MaxParts = 512;

    /// <summary>The metadata of a message resource; null when it has no valid id.</summary>
    public static GmailMessageMeta? ReadMeta(JsonElement m)
    {
        if (m.ValueKind != JsonValueKind.Object) return null;
        var id = Str(m, "id");
        if (!GmailApiClient.IsValidId(id)) return null;
        var thread = Str(m, "threadId");
        var labels = m.TryGetProperty("labelIds", out var l) && l.ValueKind == JsonValueKind.Array
            ? [.. l.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).Where(GmailApiClient.IsValidId).Distinct(StringComparer.Ordinal).Take(200)]
            : ImmutableArray<string>.Empty;
        var headers = m.TryGetProperty("payload", out var p) && p.ValueKind == JsonValueKind.Object ? Headers(p) : new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var date = Str(m, "internalDate") is { } ms && long.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var millis)
                   && millis is > 0 and < 253402300799999
            ? DateTimeOffset.FromUnixTimeMilliseconds(millis)
            : DateTimeOffset.UnixEpoch;
        return new GmailMessageMeta(id!, GmailApiClient.IsValidId(thread) ? thread! : id!, Cut(headers.GetValueOrDefault("From"), MaxHeader),
            Cut(headers.GetValueOrDefault("To"), MaxHeader), Cut(headers.GetValueOrDefault("Subject"), MaxHeader), Cut(Str(m, "snippet"), MaxSnippet),
            labels, date, !labels.Contains("UNREAD"), p.ValueKind == JsonValueKind.Object && HasAttachment(p, 0),
            headers.TryGetValue("Message-ID", out var mid) ? Cut(mid, 998) : null);
    }

    /// <summary>The text/plain and text/html bodies of a <c>format=full</c> resource (first of each kind, not attachments).</summary>
    public static GmailBody ReadBody(JsonElement m)
    {
        string? plain = null, html = null;
        var budget = MaxParts;
        if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("payload", out var p)) Walk(p, 0, ref plain, ref html, ref budget);
        return new GmailBody(plain, html);
    }

    private static void Walk(JsonElement part, int depth, ref string? plain, ref string? html, ref int budget)
    {
        if (depth > MaxDepth || part.ValueKind != JsonValueKind.Object || --budget < 0) return;
        var mime = (Str(part, "mimeType") ?? "").ToLowerInvariant();
        var isAttachment = !string.IsNullOrEmpty(Str(part, "filename"));
        if (!isAttachment && (mime == "text/plain" || mime == "text/html") && part.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.Object
            && Str(b, "data") is { } data)
        {
            var text = Decode(data);
            if (text is not null)
            {
                if (mime == "text/plain") plain ??= Cut(text, MaxBodyChars);
                else html ??= Cut(text, MaxBodyChars);
            }
        }
        if (part.TryGetProperty("parts", out var parts) && parts.ValueKind == JsonValueKind.Array)
            foreach (var child in parts.EnumerateArray()) Walk(child, depth + 1, ref plain, ref html, ref budget);
    }

    private static bool HasAttachment(JsonElement part, int depth)
    {
        if (depth > MaxDepth || part.ValueKind != JsonValueKind.Object) return false;
        if (!string.IsNullOrEmpty(Str(part, "filename"))) return true;
        if (part.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.Object && !string.IsNullOrEmpty(Str(b, "attachmentId"))) return true;
        if (part.TryGetProperty("parts", out var parts) && parts.ValueKind == JsonValueKind.Array)
            foreach (var child in parts.EnumerateArray().Take(MaxParts))
                if (HasAttachment(child, depth + 1)) return true;
        return false;
    }

    private static Dictionary<string, string> Headers(JsonElement payload)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!payload.TryGetProperty("headers", out var h) || h.ValueKind != JsonValueKind.Array) return headers;
        foreach (var e in h.EnumerateArray().Take(500))
            if (Str(e, "name") is { } n && Str(e, "value") is { } v) headers.TryAdd(n, v);
        return headers;
    }

    private static string? Decode(string data)
    {
        try { return Encoding.UTF8.GetString(Base64Url.DecodeFromChars(data.TrimEnd('='))); }
        catch (FormatException) { return null; }
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Cut(string? s, int max)
    {
        if (string.IsNullOrEmpty(s)) return "";
        var clean = s.Length <= max ? s : s[..max];
        return clean.Replace('\0', ' ');
    }
}
