using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KruxOS.Core.State;

/// <summary>
/// A JSON value as the gateway stores it (state values, scheduled inputs, alert context): the canonical
/// UTF-8 text, validated once at the boundary and never re-interpreted.
/// <para>
/// <b>Canonical form</b> — the one <see cref="Approvals.ApprovalArguments.Canonical"/> uses: no insignificant
/// whitespace; object properties sorted by the ordinal order of their names, recursively; array order
/// kept; strings escaped minimally (System.Text.Json's relaxed encoder); numbers keep their literal text.
/// The size of a value is the byte length of this text, so it does not depend on how the caller
/// formatted it.
/// </para>
/// <para>
/// <b>Refused</b> (the reason names the problem): a string or property name that is not valid Unicode
/// (a lone surrogate or invalid UTF-8 — the writer would otherwise silently replace it with U+FFFD and
/// store something the caller never sent), an object with two properties of the same name (parsers
/// disagree on which wins, so readers of a shared value could see different values), nesting deeper
/// than <see cref="MaxDepth"/>, and anything longer than the caller's byte limit (the writer stops as
/// soon as the limit is passed).
/// </para>
/// The type is immutable; equality is byte equality of the canonical text.
/// </summary>
[JsonConverter(typeof(StoredJsonConverter))]
public sealed class StoredJson : IEquatable<StoredJson>
{
    /// <summary>Deepest nesting accepted (the System.Text.Json reader's default).</summary>
    public const int MaxDepth = 64;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    private readonly byte[] _utf8;

    private StoredJson(byte[] utf8) => _utf8 = utf8;

    /// <summary>The JSON literal <c>null</c> (also what an absent value reads as).</summary>
    public static readonly StoredJson Null = new("null"u8.ToArray());

    /// <summary>An empty JSON object.</summary>
    public static readonly StoredJson EmptyObject = new("{}"u8.ToArray());

    /// <summary>The length of the canonical UTF-8 text.</summary>
    public int ByteCount => _utf8.Length;

    /// <summary>The canonical UTF-8 text.</summary>
    public ReadOnlySpan<byte> Utf8 => _utf8;

    /// <summary>The canonical text.</summary>
    public string Text => Encoding.UTF8.GetString(_utf8);

    /// <summary>The kind of the top-level value.</summary>
    public JsonValueKind Kind => _utf8[0] switch
    {
        (byte)'{' => JsonValueKind.Object,
        (byte)'[' => JsonValueKind.Array,
        (byte)'"' => JsonValueKind.String,
        (byte)'t' => JsonValueKind.True,
        (byte)'f' => JsonValueKind.False,
        (byte)'n' => JsonValueKind.Null,
        _ => JsonValueKind.Number,
    };

    /// <summary>A parsed copy of the value (for handlers that must look inside it).</summary>
    public JsonElement ToElement()
    {
        using var doc = JsonDocument.Parse(_utf8);
        return doc.RootElement.Clone();
    }

    /// <summary>
    /// Validates and canonicalizes a value. On failure <paramref name="reason"/> says why, in words fit for an
    /// <c>InvalidInput</c> error, and nothing is allocated beyond <paramref name="maxBytes"/>.
    /// </summary>
    public static bool TryCreate(JsonElement value, int maxBytes, out StoredJson stored, out string reason)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        stored = Null;
        var buffer = new ArrayBufferWriter<byte>(Math.Min(maxBytes, 4096));
        try
        {
            using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            {
                if (!Write(writer, value, 1, maxBytes, out reason)) return false;
                writer.Flush();
            }
        }
        catch (InvalidOperationException)
        {
            // JsonElement.GetString / property names throw for text that is not valid UTF-8 or UTF-16.
            reason = "contains text that is not valid Unicode (a lone surrogate or invalid UTF-8)";
            return false;
        }
        if (buffer.WrittenCount > maxBytes)
        {
            reason = $"is larger than {maxBytes} bytes as canonical JSON";
            return false;
        }
        stored = new StoredJson(buffer.WrittenSpan.ToArray());
        reason = string.Empty;
        return true;
    }

    /// <summary>Parses JSON text (journal, tests); throws <see cref="FormatException"/> when it is refused.</summary>
    public static StoredJson Parse(string json, int maxBytes = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var doc = JsonDocument.Parse(json);
        return TryCreate(doc.RootElement, maxBytes, out var stored, out var reason) ? stored : throw new FormatException("JSON value " + reason);
    }

    private static bool Write(Utf8JsonWriter w, JsonElement e, int depth, int maxBytes, out string reason)
    {
        reason = string.Empty;
        if (depth > MaxDepth)
        {
            reason = $"is nested deeper than {MaxDepth} levels";
            return false;
        }
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = new List<JsonProperty>();
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                {
                    var name = p.Name;
                    if (!IsValidUnicode(name)) { reason = "contains text that is not valid Unicode (a lone surrogate or invalid UTF-8)"; return false; }
                    if (!names.Add(name)) { reason = $"has the property '{Shorten(name)}' more than once"; return false; }
                    properties.Add(p);
                }
                properties.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                w.WriteStartObject();
                foreach (var p in properties)
                {
                    w.WritePropertyName(p.Name);
                    if (!Write(w, p.Value, depth + 1, maxBytes, out reason)) return false;
                }
                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray())
                    if (!Write(w, item, depth + 1, maxBytes, out reason)) return false;
                w.WriteEndArray();
                break;
            case JsonValueKind.String:
                var text = e.GetString()!;
                if (!IsValidUnicode(text)) { reason = "contains text that is not valid Unicode (a lone surrogate or invalid UTF-8)"; return false; }
                w.WriteStringValue(text);
                break;
            case JsonValueKind.Number:
                w.WriteRawValue(e.GetRawText(), skipInputValidation: true);
                break;
            case JsonValueKind.True: w.WriteBooleanValue(true); break;
            case JsonValueKind.False: w.WriteBooleanValue(false); break;
            case JsonValueKind.Null: w.WriteNullValue(); break;
            default:
                reason = "is not a JSON value";
                return false;
        }
        if (w.BytesCommitted + w.BytesPending > maxBytes)
        {
            reason = $"is larger than {maxBytes} bytes as canonical JSON";
            return false;
        }
        return true;
    }

    /// <summary>True when every surrogate in <paramref name="text"/> is half of a pair.</summary>
    internal static bool IsValidUnicode(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c)) return false;
        }
        return true;
    }

    private static string Shorten(string name) => name.Length <= 40 ? name : name[..40] + "…";

    /// <inheritdoc />
    public bool Equals(StoredJson? other) => other is not null && _utf8.AsSpan().SequenceEqual(other._utf8);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is StoredJson other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(_utf8);
        return h.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    /// <summary>Writes the value as raw JSON; reads (and re-validates) any JSON value, so a tampered journal cannot smuggle a non-canonical value in.</summary>
    internal sealed class StoredJsonConverter : JsonConverter<StoredJson>
    {
        public override bool HandleNull => true;

        public override StoredJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var doc = JsonDocument.ParseValue(ref reader);
            return TryCreate(doc.RootElement, int.MaxValue, out var stored, out var reason)
                ? stored
                : throw new JsonException("stored JSON value " + reason);
        }

        public override void Write(Utf8JsonWriter writer, StoredJson? value, JsonSerializerOptions options)
        {
            if (value is null) writer.WriteNullValue();
            else writer.WriteRawValue(value._utf8, skipInputValidation: true);
        }
    }
}
