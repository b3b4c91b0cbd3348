using System.Text.Json;

namespace KruxOS.Bridge;

/// <summary>What kind of JSON-RPC message a line or frame is.</summary>
public enum FrameKind
{
    Request,
    Notification,
    Response,
    /// <summary>Valid JSON that is not a single JSON-RPC message (a batch, or an object without method/id).</summary>
    Other,
    Invalid,
}

/// <summary>
/// A JSON-RPC message as the bridge sees it: the raw UTF-8 text (forwarded verbatim) plus the few fields
/// the bridge needs (kind, id as raw JSON text, method). The bridge never rewrites what it forwards,
/// except for the size cap on the way back.
/// </summary>
public sealed record JsonRpcFrame(FrameKind Kind, string Text, string? IdKey, string? Method)
{
    /// <summary>Classifies one message.</summary>
    public static JsonRpcFrame Parse(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return new JsonRpcFrame(FrameKind.Other, text, null, null);
            string? method = root.TryGetProperty("method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            string? id = root.TryGetProperty("id", out var i) && i.ValueKind is JsonValueKind.String or JsonValueKind.Number ? i.GetRawText() : null;
            var kind = (method, id) switch
            {
                (not null, not null) => FrameKind.Request,
                (not null, null) => FrameKind.Notification,
                (null, not null) when root.TryGetProperty("result", out _) || root.TryGetProperty("error", out _) => FrameKind.Response,
                (null, null) when root.TryGetProperty("error", out _) => FrameKind.Response,
                _ => FrameKind.Other,
            };
            return new JsonRpcFrame(kind, text, id, method);
        }
        catch (JsonException)
        {
            return new JsonRpcFrame(FrameKind.Invalid, text, null, null);
        }
    }

    /// <summary>A JSON-RPC error response for <paramref name="idKey"/> (raw JSON id text, or null).</summary>
    public static string ErrorResponse(string? idKey, int code, string message)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc", "2.0");
            w.WritePropertyName("id");
            if (idKey is null) w.WriteNullValue();
            else w.WriteRawValue(idKey);
            w.WriteStartObject("error");
            w.WriteNumber("code", code);
            w.WriteString("message", message);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
