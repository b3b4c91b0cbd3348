using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KruxOS.Core.Audit;

/// <summary>
/// Text as the audit log can always store it: valid Unicode (CBOR text strings must be valid UTF-8, so a lone UTF-16
/// surrogate becomes U+FFFD), and no longer than a limit (a longer text keeps its first bytes and names the rest by
/// size and SHA-256). Every function here is total: no input makes it throw.
/// </summary>
public static class AuditText
{
    /// <summary>What a lone surrogate (or an invalid UTF-8 sequence) becomes.</summary>
    public const char Replacement = '\uFFFD';

    /// <summary>
    /// <paramref name="text"/> with every lone UTF-16 surrogate replaced by U+FFFD; the same instance when it has
    /// none, and <c>""</c> for null.
    /// </summary>
    public static string Scalar(string? text)
    {
        if (text is null) return "";
        var span = text.AsSpan();
        var first = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0 || LoneSurrogateAt(span, first) < 0) return text;
        var chars = text.ToCharArray();
        for (var i = first; i < chars.Length; i++)
        {
            if (!char.IsSurrogate(chars[i])) continue;
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) { i++; continue; }
            chars[i] = Replacement;
        }
        return new string(chars);
    }

    // The index of the first lone surrogate at or after `from`, or -1.
    private static int LoneSurrogateAt(ReadOnlySpan<char> s, int from)
    {
        for (var i = from; i < s.Length; i++)
        {
            if (!char.IsSurrogate(s[i])) continue;
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            return i;
        }
        return -1;
    }

    /// <summary>
    /// The text of a JSON string element, whatever it holds: escaped lone surrogates and invalid UTF-8 (which make
    /// <see cref="JsonElement.GetString"/> throw) become U+FFFD instead. An element of another kind gives its raw JSON.
    /// </summary>
    public static string ReadString(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.String) return Lenient(JsonMarshal.GetRawUtf8Value(element), quoted: false);
        try
        {
            return Scalar(element.GetString());
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            return Lenient(JsonMarshal.GetRawUtf8Value(element), quoted: true);
        }
    }

    /// <summary>The name of a JSON property, whatever it holds (see <see cref="ReadString"/>).</summary>
    public static string ReadName(JsonProperty property)
    {
        try
        {
            return Scalar(property.Name);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            return Lenient(JsonMarshal.GetRawUtf8PropertyName(property), quoted: false);
        }
    }

    // Decodes the raw UTF-8 of a JSON string token (escapes included, surrounding quotes when `quoted`) without
    // failing: invalid UTF-8 and lone surrogates become U+FFFD, an unknown or cut escape is kept as written.
    private static string Lenient(ReadOnlySpan<byte> raw, bool quoted)
    {
        if (quoted && raw.Length >= 2 && raw[0] == (byte)'"' && raw[^1] == (byte)'"') raw = raw[1..^1];
        var sb = new StringBuilder(raw.Length);
        var runStart = 0;
        var i = 0;
        while (i < raw.Length)
        {
            if (raw[i] != (byte)'\\') { i++; continue; }
            sb.Append(Encoding.UTF8.GetString(raw[runStart..i]));
            if (i + 1 >= raw.Length) { sb.Append('\\'); i++; runStart = i; break; }
            var c = raw[i + 1];
            var consumed = 2;
            switch (c)
            {
                case (byte)'"': sb.Append('"'); break;
                case (byte)'\\': sb.Append('\\'); break;
                case (byte)'/': sb.Append('/'); break;
                case (byte)'b': sb.Append('\b'); break;
                case (byte)'f': sb.Append('\f'); break;
                case (byte)'n': sb.Append('\n'); break;
                case (byte)'r': sb.Append('\r'); break;
                case (byte)'t': sb.Append('\t'); break;
                case (byte)'u' when i + 6 <= raw.Length && KruxOS.Core.Serialization.JsonEscapes.TryParseUnit(raw.Slice(i + 2, 4), out var unit):
                    sb.Append((char)unit);
                    consumed = 6;
                    break;
                default:
                    sb.Append('\\').Append((char)c);
                    break;
            }
            i += consumed;
            runStart = i;
        }
        if (runStart < raw.Length) sb.Append(Encoding.UTF8.GetString(raw[runStart..]));
        return Scalar(sb.ToString());
    }

    /// <summary>
    /// The SHA-256 of <paramref name="bytes"/> as the audit log writes it: upper-case hex, so the token redaction
    /// (which matches 64 <em>lower-case</em> hex characters, the shape of an agent token) never takes it for a token.
    /// </summary>
    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexString(SHA256.HashData(bytes));

    /// <summary>The SHA-256 of a text's UTF-8 (see <see cref="Sha256(ReadOnlySpan{byte})"/>); the text must be valid Unicode.</summary>
    public static string Sha256(string text)
    {
        var length = Encoding.UTF8.GetByteCount(text);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(text, buffer);
            return Sha256(buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Caps a valid-Unicode text at <paramref name="maxBytes"/> bytes of UTF-8. A longer text becomes its first
    /// whole characters, at most <paramref name="headBytes"/> bytes, followed by
    /// <c>…[elided: N bytes, sha256:HEX]</c>, where N and the hash are those of the whole text's UTF-8.
    /// Returns false (and the text itself) when it fits. The result of a cap always fits again, so capping twice
    /// changes nothing.
    /// </summary>
    public static bool TryCap(string text, int maxBytes, int headBytes, out string capped, out long bytes, out string sha256)
    {
        ArgumentNullException.ThrowIfNull(text);
        // at most 3 bytes of UTF-8 per UTF-16 code unit: short texts need no count
        if ((long)text.Length * 3 <= maxBytes || Encoding.UTF8.GetByteCount(text) is var count && count <= maxBytes)
        {
            capped = text;
            bytes = 0;
            sha256 = "";
            return false;
        }
        bytes = count;
        sha256 = Sha256(text);
        capped = string.Concat(Head(text, headBytes), $"…[elided: {count} bytes, sha256:{sha256}]");
        return true;
    }

    // The longest prefix of whole characters whose UTF-8 is at most `bytes` long.
    private static ReadOnlySpan<char> Head(string text, int bytes)
    {
        var used = 0;
        var end = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (used + rune.Utf8SequenceLength > bytes) break;
            used += rune.Utf8SequenceLength;
            end += rune.Utf16SequenceLength;
        }
        return text.AsSpan(0, end);
    }
}
