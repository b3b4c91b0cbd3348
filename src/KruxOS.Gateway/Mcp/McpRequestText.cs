using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Gateway.Mcp;

/// <summary>
/// Malformed text in an MCP message, found before the SDK reads it. The SDK decodes <c>params</c> into a
/// <see cref="JsonNode"/>: an escaped lone surrogate (<c>"\ud800"</c>) then throws inside the SDK (the client gets
/// <c>-32603 "An error occurred."</c>, nothing is audited), and raw bytes that are not UTF-8 are silently replaced by
/// U+FFFD, so the call would run on text the agent never sent. Both transports therefore pass every incoming
/// message through <see cref="Inspect"/> first:
/// <list type="bullet">
/// <item>well-formed messages (the common case, found with one vectorized scan) go on unchanged;</item>
/// <item>a <c>tools/call</c> whose only malformed text is in <c>params.arguments</c> goes on with the arguments repaired
/// (<see cref="ArgumentText.Repair"/>) and a marker in <c>params._meta</c>: the session refuses it as
/// <c>InvalidInput</c> naming the field, and audits the refusal like any other;</item>
/// <item>anything else with malformed text (a method, an id, a tool name) is answered with a JSON-RPC error and not
/// passed on.</item>
/// </list>
/// The marker carries a per-process random nonce, so a client cannot forge one (it could only refuse its own call).
/// </summary>
public static class McpRequestText
{
    /// <summary>The <c>params._meta</c> key of the marker.</summary>
    public const string MetaField = "kruxos/invalid_text";

    private static readonly string Nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>What to do with one incoming message.</summary>
    /// <param name="Message">The bytes to pass on (the original ones unless rewritten); null when refused.</param>
    /// <param name="Refusal">The JSON-RPC error response to send instead, when refused.</param>
    public readonly record struct Verdict(ReadOnlyMemory<byte>? Message, byte[]? Refusal);

    /// <summary>Inspects one incoming message (a JSON-RPC object or a batch array).</summary>
    public static Verdict Inspect(ReadOnlyMemory<byte> message)
    {
        if (!MayHoldMalformedText(message.Span)) return new Verdict(message, null);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(message); }
        catch (JsonException) { return new Verdict(message, null); } // the SDK answers it as a parse error
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return ArgumentText.Find(root) is null ? new Verdict(message, null) : Refuse(null, "a message in the batch is not valid text");
            return InspectRequest(root, message);
        }
    }

    private static Verdict InspectRequest(JsonElement request, ReadOnlyMemory<byte> original)
    {
        var id = request.TryGetProperty("id", out var idElement) && idElement.ValueKind is JsonValueKind.String or JsonValueKind.Number
            && ArgumentText.Find(idElement) is null ? JsonNode.Parse(idElement.GetRawText()) : null;
        JsonElement? arguments = null;
        foreach (var property in request.EnumerateObject())
        {
            if (!ArgumentText.IsWellFormed(property)) return Refuse(id, "a member name is not valid text");
            if (property.Name == "params" && property.Value.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in property.Value.EnumerateObject())
                {
                    if (!ArgumentText.IsWellFormed(p)) return Refuse(id, "a member name of params is not valid text");
                    if (p.Name == "arguments") { arguments = p.Value; continue; }
                    if (ArgumentText.Find(p.Value, "params." + p.Name) is { } bad) return Refuse(id, $"'{bad.Field}' {bad.Reason}");
                }
                continue;
            }
            if (ArgumentText.Find(property.Value, property.Name) is { } malformed) return Refuse(id, $"'{malformed.Field}' {malformed.Reason}");
        }
        if (arguments is not { } args || ArgumentText.Find(args) is not { } found) return new Verdict(original, null);
        if (!request.TryGetProperty("method", out var method) || !method.ValueEquals("tools/call") || args.ValueKind != JsonValueKind.Object)
            return Refuse(id, $"'params.arguments.{found.Field}' {found.Reason}");
        return new Verdict(Rewrite(request, ArgumentText.Repair(args), found), null);
    }

    // The request with its arguments repaired and the marker added to params._meta; everything else copied as it came.
    private static byte[] Rewrite(JsonElement request, JsonElement repaired, MalformedText found)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var property in request.EnumerateObject())
            {
                if (property.Name != "params") { property.WriteTo(w); continue; }
                w.WritePropertyName("params");
                w.WriteStartObject();
                var meta = false;
                foreach (var p in property.Value.EnumerateObject())
                {
                    if (p.Name == "arguments") { w.WritePropertyName("arguments"); repaired.WriteTo(w); continue; }
                    if (p.Name == "_meta" && p.Value.ValueKind == JsonValueKind.Object)
                    {
                        meta = true;
                        w.WritePropertyName("_meta");
                        w.WriteStartObject();
                        foreach (var m in p.Value.EnumerateObject()) if (m.Name != MetaField) m.WriteTo(w);
                        WriteMarker(w, found);
                        w.WriteEndObject();
                        continue;
                    }
                    p.WriteTo(w);
                }
                if (!meta)
                {
                    w.WritePropertyName("_meta");
                    w.WriteStartObject();
                    WriteMarker(w, found);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteMarker(Utf8JsonWriter w, MalformedText found)
    {
        w.WritePropertyName(MetaField);
        w.WriteStartObject();
        w.WriteString("field", found.Field);
        w.WriteString("reason", found.Reason);
        w.WriteString("nonce", Nonce);
        w.WriteEndObject();
    }

    /// <summary>The refusal a <c>tools/call</c> carries when <see cref="Inspect"/> marked it (null for an unmarked or forged marker).</summary>
    public static StructuredError? RefusalOf(JsonObject? meta)
    {
        if (meta?[MetaField] is not JsonObject mark || mark["nonce"] is not JsonValue nonce || !nonce.TryGetValue<string>(out var n)
            || !string.Equals(n, Nonce, StringComparison.Ordinal))
            return null;
        return Errors.InvalidInput(mark["field"]?.GetValue<string>() ?? "arguments", mark["reason"]?.GetValue<string>() ?? "is not valid text");
    }

    private static Verdict Refuse(JsonNode? id, string why) =>
        new(null, JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = id,
            ["error"] = new JsonObject { ["code"] = -32600, ["message"] = "Invalid Request: " + why },
        }));

    /// <summary>
    /// True unless the bytes are valid UTF-8 with no <c>\u</c> escape of a surrogate: then every string decodes, and
    /// the message needs no closer look. (An escaped backslash before a <c>u</c> is a harmless false positive.)
    /// </summary>
    internal static bool MayHoldMalformedText(ReadOnlySpan<byte> bytes)
    {
        if (!Utf8.IsValid(bytes)) return true;
        for (var i = bytes.IndexOf("\\u"u8); i >= 0 && i + 3 < bytes.Length; )
        {
            if (bytes[i + 2] is (byte)'d' or (byte)'D' && bytes[i + 3] is >= (byte)'8' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F')
                return true;
            var next = bytes[(i + 2)..].IndexOf("\\u"u8);
            i = next < 0 ? -1 : i + 2 + next;
        }
        return false;
    }
}
