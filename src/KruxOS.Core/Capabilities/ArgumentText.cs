using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace KruxOS.Core.Capabilities;

/// <summary>Where in a call's arguments text is malformed, and how.</summary>
/// <param name="Field">The argument, as a path from the arguments object: <c>path</c>, <c>args[2]</c>, <c>environment.HOME</c>;
/// <c>arguments</c> when the malformed text is a top-level property name.</param>
/// <param name="Reason">What is wrong, without repeating the text.</param>
public sealed record MalformedText(string Field, string Reason);

/// <summary>
/// Checks that every string and property name of a JSON value is well-formed Unicode text, before anything
/// decodes it. <see cref="JsonDocument"/> keeps string tokens as they arrived: raw bytes that are not UTF-8 and
/// <c>\uD800</c>-style escapes of lone surrogates both parse, and only throw later, when something decodes them
/// (<c>GetString</c>, <c>WriteTo</c>, hashing, logging, audit encoding). The pipeline therefore checks the whole
/// argument tree at the boundary (<see cref="Find(JsonElement)"/>) and refuses malformed text as <c>InvalidInput</c>, and
/// records such a refusal with <see cref="Repair"/>ed arguments, which every later stage can encode.
/// </summary>
public static class ArgumentText
{
    /// <summary>Deepest nesting of arrays and objects accepted in arguments (the edges' JSON readers allow 64 as well).</summary>
    public const int MaxDepth = 64;

    /// <summary>Finds the first malformed string or property name in <paramref name="value"/>, or null when all text is well-formed.</summary>
    public static MalformedText? Find(JsonElement value) => Find(value, "arguments", 0, topLevel: true);

    /// <summary>As <see cref="Find(JsonElement)"/>, for a value that is itself the field <paramref name="field"/>.</summary>
    public static MalformedText? Find(JsonElement value, string field) => Find(value, field, 0, topLevel: false);

    /// <summary>True when the property's name is well-formed text.</summary>
    public static bool IsWellFormed(JsonProperty property) => Check(JsonMarshal.GetRawUtf8PropertyName(property), quoted: false) is null;

    private static MalformedText? Find(JsonElement value, string where, int depth, bool topLevel)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return Check(JsonMarshal.GetRawUtf8Value(value)) is { } why ? new MalformedText(where, why) : null;
            case JsonValueKind.Object:
                if (depth >= MaxDepth) return new MalformedText(where, $"is nested deeper than {MaxDepth} levels");
                foreach (var property in value.EnumerateObject())
                {
                    if (Check(JsonMarshal.GetRawUtf8PropertyName(property), quoted: false) is { } bad)
                        return new MalformedText(where, $"has a property name that {bad}");
                    var name = property.Name;
                    if (Find(property.Value, topLevel ? name : where + "." + name, depth + 1, false) is { } found) return found;
                }
                return null;
            case JsonValueKind.Array:
                if (depth >= MaxDepth) return new MalformedText(where, $"is nested deeper than {MaxDepth} levels");
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (Find(item, $"{where}[{i}]", depth + 1, false) is { } found) return found;
                    i++;
                }
                return null;
            default:
                return null;
        }
    }

    // The raw token of a string, quotes included (a property name comes without them): valid UTF-8, and every
    // \u escape of a surrogate is one half of a correctly ordered pair.
    private static string? Check(ReadOnlySpan<byte> raw, bool quoted = true)
    {
        if (quoted && raw.Length >= 2) raw = raw[1..^1];
        if (!Utf8.IsValid(raw)) return "is not valid UTF-8";
        var slash = raw.IndexOf((byte)'\\');
        if (slash < 0) return null;
        var expectLow = false;
        for (var i = slash; i < raw.Length; i++)
        {
            if (raw[i] != (byte)'\\')
            {
                if (expectLow) return LoneSurrogate;
                continue;
            }
            if (i + 1 >= raw.Length) return "ends inside an escape sequence";
            if (raw[i + 1] != (byte)'u')
            {
                if (expectLow) return LoneSurrogate;
                i++;
                continue;
            }
            if (i + 5 >= raw.Length) return "ends inside an escape sequence";
            if (!KruxOS.Core.Serialization.JsonEscapes.TryParseUnit(raw.Slice(i + 2, 4), out var unit)) return "has a malformed \\u escape";
            i += 5;
            var high = unit is >= 0xD800 and <= 0xDBFF;
            var low = unit is >= 0xDC00 and <= 0xDFFF;
            if (expectLow)
            {
                if (!low) return LoneSurrogate;
                expectLow = false;
                continue;
            }
            if (low) return LoneSurrogate;
            expectLow = high;
        }
        return expectLow ? LoneSurrogate : null;
    }

    private const string LoneSurrogate = "contains an unpaired surrogate (a \\uD800-\\uDFFF escape without its pair), which is not text";

    /// <summary>
    /// A copy of <paramref name="value"/> that any JSON writer can encode: each malformed string or property name
    /// is decoded with U+FFFD in place of every invalid byte sequence and unpaired surrogate; nesting deeper than
    /// <see cref="MaxDepth"/> is replaced by the string <c>"(nested too deep)"</c>. Well-formed text is unchanged.
    /// Used to record a refused call's arguments; never to run one.
    /// </summary>
    public static JsonElement Repair(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = false, MaxDepth = MaxDepth + 2 }))
            Write(writer, value, 0);
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    private static void Write(Utf8JsonWriter w, JsonElement e, int depth)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                if (depth >= MaxDepth) { w.WriteStringValue("(nested too deep)"); return; }
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    w.WritePropertyName(NameOf(p));
                    Write(w, p.Value, depth + 1);
                }
                w.WriteEndObject();
                return;
            case JsonValueKind.Array:
                if (depth >= MaxDepth) { w.WriteStringValue("(nested too deep)"); return; }
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray()) Write(w, item, depth + 1);
                w.WriteEndArray();
                return;
            case JsonValueKind.String:
                w.WriteStringValue(TextOf(e));
                return;
            default:
                e.WriteTo(w);
                return;
        }
    }

    /// <summary>
    /// The text of a string element, never throwing: <see cref="JsonElement.GetString"/> when it is well-formed, the
    /// lenient decoding of <see cref="Repair"/> otherwise.
    /// </summary>
    public static string TextOf(JsonElement value)
    {
        var raw = JsonMarshal.GetRawUtf8Value(value);
        return Check(raw) is null ? value.GetString()! : Decode(raw.Length >= 2 ? raw[1..^1] : raw);
    }

    /// <summary>The name of a property, never throwing (see <see cref="TextOf"/>).</summary>
    public static string NameOf(JsonProperty property)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        return Check(raw, quoted: false) is null ? property.Name : Decode(raw);
    }

    /// <summary>Decodes a raw JSON string body (no quotes) leniently: invalid UTF-8 and unpaired surrogates become U+FFFD.</summary>
    internal static string Decode(ReadOnlySpan<byte> raw)
    {
        // Encoding.UTF8 replaces invalid sequences with U+FFFD; the escapes are still literal text after it.
        var text = Encoding.UTF8.GetString(raw);
        if (!text.Contains('\\')) return text;
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '\\' || i + 1 >= text.Length) { sb.Append(c); continue; }
            var next = text[++i];
            switch (next)
            {
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'u' when i + 4 < text.Length && int.TryParse(text.AsSpan(i + 1, 4), System.Globalization.NumberStyles.AllowHexSpecifier,
                    System.Globalization.CultureInfo.InvariantCulture, out var unit):
                    sb.Append((char)unit);
                    i += 4;
                    break;
                default: sb.Append(next); break;
            }
        }
        // Pair what pairs; every surrogate left alone becomes U+FFFD.
        var chars = sb.ToString().ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) { i++; continue; }
            if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }
}
