using System.Buffers;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Approvals;

/// <summary>
/// What an approval binds to: the canonical hash of the call's (normalized) arguments, and the
/// redacted copy of the arguments that is stored and shown to the approver.
/// <para>
/// <b>Canonical form.</b> The JSON value is re-written as UTF-8 with no insignificant whitespace;
/// object properties are sorted by the ordinal order of their (unescaped) names, recursively; array
/// order is kept; strings are escaped minimally (<c>"</c>, <c>\</c> and control characters only,
/// as System.Text.Json's relaxed encoder does); numbers, <c>true</c>, <c>false</c> and <c>null</c>
/// keep their literal text. The hash is <c>sha256:</c> + the lower-case hex SHA-256 of those bytes.
/// Two calls get the same hash exactly when their arguments are the same JSON value up to property
/// order and whitespace; <c>1</c> and <c>1.0</c> differ (the argument validator normalizes first).
/// </para>
/// </summary>
public static class ApprovalArguments
{
    private static readonly JsonWriterOptions Writer = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The canonical text of a JSON value (see the type's remarks).</summary>
    public static string Canonical(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, Writer)) Write(w, value);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The canonical hash of a call's arguments: <c>sha256:&lt;hex&gt;</c>.</summary>
    public static string Hash(JsonElement arguments) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Canonical(arguments))));

    /// <summary>The arguments with secret-named fields and token-looking values redacted (<see cref="InputSanitizer"/>).</summary>
    public static JsonElement Redact(JsonElement arguments) => InputSanitizer.Sanitize(arguments);

    private static void Write(Utf8JsonWriter w, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var (name, value) in e.EnumerateObject().Select(p => (ArgumentText.NameOf(p), p.Value)).OrderBy(p => p.Item1, StringComparer.Ordinal))
                {
                    w.WritePropertyName(name);
                    Write(w, value);
                }
                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray()) Write(w, item);
                w.WriteEndArray();
                break;
            case JsonValueKind.String:
                // Never throws: malformed text (refused at the boundary anyway) is hashed in its lenient decoding.
                w.WriteStringValue(ArgumentText.TextOf(e));
                break;
            case JsonValueKind.Number:
                w.WriteRawValue(e.GetRawText(), skipInputValidation: true);
                break;
            case JsonValueKind.True: w.WriteBooleanValue(true); break;
            case JsonValueKind.False: w.WriteBooleanValue(false); break;
            default: w.WriteNullValue(); break;
        }
    }
}
