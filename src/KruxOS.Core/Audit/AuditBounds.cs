using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace KruxOS.Core.Audit;

/// <summary>
/// The limits that keep every audit record far below the 1 MiB a record may be (docs/audit-format.md §3.4),
/// whatever a caller sends. What a limit cuts is recorded by size and SHA-256 and listed in the entry's
/// <c>metadata.details.elided</c>.
/// </summary>
public static class AuditLimits
{
    /// <summary>Longest string value in <c>inputs</c> or <c>metadata.details</c>, in bytes of UTF-8.</summary>
    public const int MaxTextBytes = 4096;

    /// <summary>How much of a longer string value is kept, in bytes of UTF-8.</summary>
    public const int TextHeadBytes = 256;

    /// <summary>Longest object key in <c>inputs</c> or <c>metadata.details</c>, in bytes of UTF-8.</summary>
    public const int MaxKeyBytes = 256;

    /// <summary>How much of a longer key is kept.</summary>
    public const int KeyHeadBytes = 64;

    /// <summary>Deepest nesting of objects and arrays kept in <c>inputs</c> or <c>metadata.details</c> (the value itself is level 1).</summary>
    public const int MaxDepth = 32;

    /// <summary>Largest <c>inputs</c>, as canonical CBOR after the other limits; larger inputs are recorded by size and hash only.</summary>
    public const int MaxInputsBytes = 64 * 1024;

    /// <summary>Largest <c>metadata.details</c>, as canonical CBOR after the other limits.</summary>
    public const int MaxDetailsBytes = 16 * 1024;

    /// <summary>Longest name-like text field (capability, session id, actor and client names, ids, rule, error type, decider).</summary>
    public const int MaxNameBytes = 256;

    /// <summary>How much of a longer name-like field is kept.</summary>
    public const int NameHeadBytes = 64;

    /// <summary>Longest <c>output_summary</c> and <c>policy_decision.reason</c>.</summary>
    public const int MaxSummaryBytes = 4096;

    /// <summary>How much of a longer summary or reason is kept.</summary>
    public const int SummaryHeadBytes = 1024;

    /// <summary>Most elisions listed in <c>metadata.details.elided</c>; the rest are counted in <c>elided_more</c>.</summary>
    public const int MaxListedElisions = 32;

    /// <summary>Longest path of a listed elision.</summary>
    public const int MaxPathBytes = 512;

    /// <summary>How much of a longer path is kept.</summary>
    public const int PathHeadBytes = 256;
}

/// <summary>
/// One value the audit log did not keep whole.
/// </summary>
/// <param name="Path">JSON Pointer (RFC 6901) of the value in the entry, e.g. <c>/inputs/content</c> or <c>/output_summary</c>.</param>
/// <param name="Reason"><c>text</c> (a string cut), <c>key</c> (an object key cut), <c>depth</c> (a subtree nested too deep),
/// <c>number</c> (a number outside the float64 range, kept as text), <c>size</c> (the whole value too large after the other
/// limits) or <c>unencodable</c> (the entry could not be encoded and was recorded in a minimal form).</param>
/// <param name="Bytes">Size of what was cut: UTF-8 of a text or key, raw JSON of a subtree or number, canonical CBOR for <c>size</c>; null when unknown.</param>
/// <param name="Sha256">Upper-case hex SHA-256 over those bytes; null for <c>depth</c> (the subtree was not sanitized) and <c>unencodable</c>.</param>
public sealed record AuditElision(string Path, string Reason, long? Bytes, string? Sha256);

/// <summary>
/// Rewrites a JSON value for the audit log in one pass: secret-named properties and token-looking text are redacted
/// (<see cref="InputSanitizer"/>), every string is made valid Unicode, and — when bounded — every limit of
/// <see cref="AuditLimits"/> is applied and each cut is recorded. Total: no input makes it throw, and the recursion
/// is bounded by the depth limit.
/// </summary>
internal sealed class JsonScrubber
{
    /// <summary>Nesting kept by the unbounded (redaction only) rewrite: what <see cref="JsonDocument"/> accepts by default.</summary>
    public const int UnboundedDepth = 64;

    private static readonly JsonDocumentOptions ReadBack = new() { MaxDepth = UnboundedDepth + 8 };
    private static readonly JsonWriterOptions WriteOptions = new() { MaxDepth = UnboundedDepth + 8 };

    private readonly bool _bounded;
    private readonly string _root;
    private readonly List<string> _segments = [];
    private readonly List<AuditElision>? _elisions;

    private JsonScrubber(bool bounded, string root, List<AuditElision>? elisions)
    {
        _bounded = bounded;
        _root = root;
        _elisions = elisions;
    }

    /// <summary>Elisions recorded beyond <see cref="AuditLimits.MaxListedElisions"/>.</summary>
    public int Unlisted { get; private set; }

    private int MaxDepth => _bounded ? AuditLimits.MaxDepth : UnboundedDepth;

    /// <summary>Redaction only (no limits): the approval queue and the entry factories use this.</summary>
    public static JsonElement Redact(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Undefined) return CoreJson.EmptyObject;
        var s = new JsonScrubber(bounded: false, "", null);
        return s.IsClean(value, 1) ? value.Clone() : s.Rewrite(value);
    }

    /// <summary>
    /// Redaction and every limit, for the value at <paramref name="root"/> (a JSON Pointer); cuts are appended to
    /// <paramref name="elisions"/>. A result larger than <paramref name="budget"/> bytes of canonical CBOR is
    /// replaced by a text naming its size and hash. Returns the value and the number of cuts not listed.
    /// </summary>
    public static (JsonElement Value, int Unlisted) Bound(JsonElement value, string root, int budget, List<AuditElision> elisions)
    {
        if (value.ValueKind == JsonValueKind.Undefined) return (CoreJson.EmptyObject, 0);
        var before = elisions.Count;
        var s = new JsonScrubber(bounded: true, root, elisions);
        var result = s.IsClean(value, 1) ? value : s.Rewrite(value);
        // canonical CBOR is at most three times the JSON it comes from (a float "0.5" becomes 9 bytes): measure only when it may not fit
        if ((long)JsonMarshal.GetRawUtf8Value(result).Length * 3 <= budget) return (result, s.Unlisted);
        var encoded = AuditCbor.EncodeJson(result);
        if (encoded.Length <= budget) return (result, s.Unlisted);
        // the cuts inside are replaced by the cut of the whole
        elisions.RemoveRange(before, elisions.Count - before);
        var sha = AuditText.Sha256(encoded);
        var unlisted = 0;
        Record(elisions, ref unlisted, root, "size", encoded.Length, sha);
        return (JsonSerializer.SerializeToElement($"[elided: {encoded.Length} bytes of canonical CBOR, sha256:{sha}]"), unlisted);
    }

    /// <summary>A capped entry text field (tokens redacted, valid Unicode); a cut is appended to <paramref name="elisions"/>.</summary>
    public static string Field(string? text, string path, int maxBytes, int headBytes, List<AuditElision> elisions, ref int unlisted)
    {
        var clean = InputSanitizer.RedactTokens(AuditText.Scalar(text));
        if (!AuditText.TryCap(clean, maxBytes, headBytes, out var capped, out var bytes, out var sha)) return clean;
        Record(elisions, ref unlisted, CapPath(path), "text", bytes, sha);
        return capped;
    }

    private static void Record(List<AuditElision> elisions, ref int unlisted, string path, string reason, long? bytes, string? sha)
    {
        if (elisions.Count < AuditLimits.MaxListedElisions) elisions.Add(new AuditElision(path, reason, bytes, sha));
        else unlisted++;
    }

    private void Record(string reason, long? bytes, string? sha)
    {
        if (_elisions is null) return;
        var unlisted = Unlisted;
        Record(_elisions, ref unlisted, CurrentPath(), reason, bytes, sha);
        Unlisted = unlisted;
    }

    private string CurrentPath()
    {
        var sb = new StringBuilder(_root);
        foreach (var segment in _segments) sb.Append('/').Append(segment.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal));
        return CapPath(sb.ToString());
    }

    private static string CapPath(string path) =>
        AuditText.TryCap(path, AuditLimits.MaxPathBytes, AuditLimits.PathHeadBytes, out var capped, out _, out _) ? capped : path;

    // ------------------------------------------------------------------ read-only check

    // True when the rewrite would reproduce the value unchanged (most arguments: nothing to redact, nothing too large).
    private bool IsClean(JsonElement e, int depth)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                if (depth > MaxDepth) return false;
                foreach (var p in e.EnumerateObject())
                {
                    if (!TryName(p, out var name)) return false;
                    if (name.Length >= 9 && InputSanitizer.ContainsToken(name)) return false;
                    if (_bounded && KeyTooLong(name)) return false;
                    if (InputSanitizer.IsSecretFieldName(name) && !IsRedactionOf(p.Value, name)) return false;
                    if (!IsClean(p.Value, depth + 1)) return false;
                }
                return true;
            case JsonValueKind.Array:
                if (depth > MaxDepth) return false;
                foreach (var item in e.EnumerateArray())
                    if (!IsClean(item, depth + 1)) return false;
                return true;
            case JsonValueKind.String:
                if (!TryString(e, out var text)) return false;
                if (text.Length >= 9 && InputSanitizer.ContainsToken(text)) return false;
                return !_bounded || !TextTooLong(text);
            case JsonValueKind.Number:
                return !_bounded || IsRepresentable(e);
            default:
                return true;
        }
    }

    private static bool TryName(JsonProperty p, out string name)
    {
        try
        {
            name = p.Name;
            return AuditText.Scalar(name) is var s && ReferenceEquals(s, name);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            name = "";
            return false;
        }
    }

    private static bool TryString(JsonElement e, out string text)
    {
        try
        {
            text = e.GetString()!;
            return AuditText.Scalar(text) is var s && ReferenceEquals(s, text);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            text = "";
            return false;
        }
    }

    private static bool TextTooLong(string text) => (long)text.Length * 3 > AuditLimits.MaxTextBytes && Encoding.UTF8.GetByteCount(text) > AuditLimits.MaxTextBytes;

    private static bool KeyTooLong(string key) => (long)key.Length * 3 > AuditLimits.MaxKeyBytes && Encoding.UTF8.GetByteCount(key) > AuditLimits.MaxKeyBytes;

    /// <summary>
    /// Whether a JSON number maps to CBOR as docs/audit-format.md §3.2 says: an integer that fits in 64 bits, or a
    /// number whose nearest double is finite (<c>1e400</c> is not).
    /// </summary>
    public static bool IsRepresentable(JsonElement number)
    {
        var raw = JsonMarshal.GetRawUtf8Value(number);
        if (raw.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0 && (number.TryGetInt64(out _) || number.TryGetUInt64(out _))) return true;
        return number.TryGetDouble(out var d) && double.IsFinite(d);
    }

    // Keeps sanitizing idempotent: an already redacted value is left as it is.
    private static bool IsRedactionOf(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.String && value.ValueEquals($"[REDACTED:{name}]");

    // ------------------------------------------------------------------ rewrite

    private JsonElement Rewrite(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriteOptions))
        {
            Write(writer, value, 1);
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory, ReadBack);
        return doc.RootElement.Clone();
    }

    private void Write(Utf8JsonWriter w, JsonElement e, int depth)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                if (depth > MaxDepth) { WriteTooDeep(w, e); return; }
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    var name = AuditText.ReadName(p);
                    var key = InputSanitizer.RedactTokens(name);
                    if (_bounded && AuditText.TryCap(key, AuditLimits.MaxKeyBytes, AuditLimits.KeyHeadBytes, out var capped, out var bytes, out var sha))
                    {
                        key = capped;
                        _segments.Add(key);
                        Record("key", bytes, sha);
                    }
                    else
                    {
                        _segments.Add(key);
                    }
                    w.WritePropertyName(key);
                    if (InputSanitizer.IsSecretFieldName(name) && !IsRedactionOf(p.Value, key))
                        w.WriteStringValue(Text($"[REDACTED:{key}]"));
                    else
                        Write(w, p.Value, depth + 1);
                    _segments.RemoveAt(_segments.Count - 1);
                }
                w.WriteEndObject();
                return;
            case JsonValueKind.Array:
                if (depth > MaxDepth) { WriteTooDeep(w, e); return; }
                w.WriteStartArray();
                var index = 0;
                foreach (var item in e.EnumerateArray())
                {
                    _segments.Add(index++.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    Write(w, item, depth + 1);
                    _segments.RemoveAt(_segments.Count - 1);
                }
                w.WriteEndArray();
                return;
            case JsonValueKind.String:
                w.WriteStringValue(Text(InputSanitizer.RedactTokens(AuditText.ReadString(e))));
                return;
            case JsonValueKind.Number when _bounded && !IsRepresentable(e):
                // kept as written, as text: its nearest double is infinite, and JSON has no way to show that
                var raw = JsonMarshal.GetRawUtf8Value(e);
                Record("number", raw.Length, AuditText.Sha256(raw));
                w.WriteStringValue(Text(Encoding.UTF8.GetString(raw), record: false));
                return;
            case JsonValueKind.Undefined:
                w.WriteNullValue();
                return;
            default:
                e.WriteTo(w);
                return;
        }
    }

    // A string value as written to the log: capped (and the cut recorded) when bounded.
    private string Text(string text, bool record = true)
    {
        if (!_bounded || !AuditText.TryCap(text, AuditLimits.MaxTextBytes, AuditLimits.TextHeadBytes, out var capped, out var bytes, out var sha)) return text;
        if (record) Record("text", bytes, sha);
        return capped;
    }

    // A subtree nested deeper than the limit: its size only. It was not sanitized, so a hash of it could be checked
    // against guesses of a secret inside; none is given.
    private void WriteTooDeep(Utf8JsonWriter w, JsonElement e)
    {
        var bytes = JsonMarshal.GetRawUtf8Value(e).Length;
        Record("depth", bytes, null);
        w.WriteStringValue($"[elided: nested deeper than {MaxDepth} levels, {bytes} bytes]");
    }
}
