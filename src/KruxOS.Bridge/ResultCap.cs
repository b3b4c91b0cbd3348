using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Bridge;

/// <summary>
/// Caps what the bridge writes to the client. A gateway message larger than the cap is replaced by a
/// smaller, still valid JSON-RPC message:
/// <list type="bullet">
/// <item>a <c>tools/call</c> result keeps its id and <c>isError</c>; its text content is joined, cut to
/// fit, and ends with a <c>[truncated]</c> marker; other content and <c>structuredContent</c> are dropped;</item>
/// <item>an error response keeps its code, with the message cut and <c>data</c> dropped;</item>
/// <item>any other response becomes a JSON-RPC error saying the result was too large;</item>
/// <item>an oversized notification or request from the gateway is dropped (returns null).</item>
/// </list>
/// </summary>
public static class ResultCap
{
    /// <summary>Room kept for the envelope, the marker and JSON escaping growth.</summary>
    private const int Overhead = 1024;

    /// <summary>The JSON-RPC error code for a non-tool result that was too large.</summary>
    public const int ResultTooLargeCode = -32000;

    /// <summary>Returns the text to write: unchanged when within the cap, otherwise a capped replacement or null (drop).</summary>
    /// <param name="text">The message as received.</param>
    /// <param name="utf8Length">Its UTF-8 size.</param>
    /// <param name="requestMethod">The method of the request it answers, when it is a response.</param>
    /// <param name="maxBytes">The cap.</param>
    public static string? Apply(string text, int utf8Length, string? requestMethod, int maxBytes)
    {
        if (utf8Length <= maxBytes) return text;
        JsonObject? root;
        try { root = JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return null; }
        if (root is null || root.ContainsKey("method")) return null;

        var id = root["id"]?.DeepClone();
        if (root["error"] is JsonObject error)
        {
            var code = error["code"] is JsonValue c && c.TryGetValue<int>(out var ci) ? ci : ResultTooLargeCode;
            var message = error["message"] is JsonValue mv && mv.TryGetValue<string>(out var ms) ? ms : "";
            return Serialize(Error(id, code, Cut(message, maxBytes - Overhead) + " [truncated]"));
        }

        if (requestMethod == "tools/call" && root["result"] is JsonObject result)
        {
            var joined = new StringBuilder();
            if (result["content"] is JsonArray content)
                foreach (var item in content)
                    if (item is JsonObject o && o["type"]?.GetValue<string>() == "text" && o["text"] is JsonValue t && t.TryGetValue<string>(out var s))
                    {
                        if (joined.Length > 0) joined.Append('\n');
                        joined.Append(s);
                        if (joined.Length > maxBytes) break; // enough to fill the budget
                    }
            var originalBytes = utf8Length;
            var marker = $"\n[truncated] result of {originalBytes} bytes exceeded the bridge limit of {maxBytes} bytes; re-read with offset/limit.";
            // JSON escaping can grow text up to 6x (\uXXXX); cut by the escaped size, not the raw size.
            var kept = CutEscaped(joined.ToString(), maxBytes - Overhead - Encoding.UTF8.GetByteCount(marker) * 2);
            var capped = new JsonObject
            {
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = kept + marker }),
            };
            if (result["isError"] is JsonNode isError) capped["isError"] = isError.DeepClone();
            return Serialize(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["result"] = capped });
        }

        return Serialize(Error(id, ResultTooLargeCode,
            $"[truncated] the gateway's result of {utf8Length} bytes for '{requestMethod ?? "?"}' exceeds the bridge limit of {maxBytes} bytes (KRUXOS_MAX_RESULT_BYTES)"));
    }

    private static JsonObject Error(JsonNode? id, int code, string message) => new()
    {
        ["jsonrpc"] = "2.0",
        ["id"] = id,
        ["error"] = new JsonObject { ["code"] = code, ["message"] = message },
    };

    private static string Serialize(JsonObject o) => o.ToJsonString();

    /// <summary>The longest prefix of <paramref name="s"/> whose UTF-8 size is at most <paramref name="maxBytes"/>, never splitting a surrogate pair.</summary>
    internal static string Cut(string s, int maxBytes)
    {
        if (maxBytes <= 0) return "";
        if (Encoding.UTF8.GetByteCount(s) <= maxBytes) return s;
        var bytes = 0;
        var i = 0;
        while (i < s.Length)
        {
            var width = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            var size = width == 2 ? 4 : s[i] < 0x80 ? 1 : s[i] < 0x800 ? 2 : 3;
            if (bytes + size > maxBytes) break;
            bytes += size;
            i += width;
        }
        return s[..i];
    }

    /// <summary>Like <see cref="Cut"/>, but counts each character at its worst-case JSON-escaped size.</summary>
    internal static string CutEscaped(string s, int maxBytes)
    {
        if (maxBytes <= 0) return "";
        var bytes = 0;
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            var width = char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            // System.Text.Json escapes control characters, quotes, '<', '>', '&', '+', '\'' and non-ASCII as \uXXXX (6 bytes each).
            var size = width == 2 ? 12 : c < 0x20 || c > 0x7E || c is '"' or '\\' or '<' or '>' or '&' or '+' or '\'' or '`' ? 6 : 1;
            if (bytes + size > maxBytes) break;
            bytes += size;
            i += width;
        }
        return s[..i];
    }
}
