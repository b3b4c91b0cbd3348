using System.Globalization;
using System.Text;
using KruxOS.Core.Errors;

namespace KruxOS.Core.State;

/// <summary>
/// The rules for state keys (session, persistent and shared) and key prefixes. Keys are shown to the
/// operator (<c>kruxos state list</c>, the dashboard) and to other agents (shared state, watch events),
/// so a key must look like what it is:
/// <list type="bullet">
/// <item>1 to <see cref="MaxKeyBytes"/> bytes of UTF-8;</item>
/// <item>valid Unicode — a lone surrogate is refused, never replaced;</item>
/// <item>no control characters (C0, DEL, C1), no format characters (zero-width and bidirectional
/// controls, which make two keys look alike or reorder what an operator reads), no line or paragraph
/// separators;</item>
/// <item>no leading or trailing white space;</item>
/// <item>in Unicode normalization form C, so <c>é</c> written two ways is one key, not two.</item>
/// </list>
/// Keys are compared ordinally everywhere (culture-aware comparison treats some distinct strings as
/// equal, e.g. <c>"a\0b"</c> and <c>"ab"</c>). A prefix follows the same character rules, may be empty
/// (everything) and may end in white space.
/// </summary>
public static class StateKeys
{
    /// <summary>Longest key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 256;

    /// <summary>Checks a key; null when valid, otherwise an <c>InvalidInput</c> error naming <paramref name="field"/>.</summary>
    public static StructuredError? Validate(string? key, string field = "key")
    {
        if (string.IsNullOrEmpty(key)) return Errors.Errors.InvalidInput(field, "must not be empty");
        if (CheckCharacters(key) is { } reason) return Errors.Errors.InvalidInput(field, reason);
        if (Rune.IsWhiteSpace(Rune.GetRuneAt(key, 0)) || char.IsWhiteSpace(key[^1]))
            return Errors.Errors.InvalidInput(field, "must not begin or end with white space");
        if (!key.IsNormalized(NormalizationForm.FormC))
            return Errors.Errors.InvalidInput(field, "must be in Unicode normalization form C (NFC)");
        return null;
    }

    /// <summary>Checks a prefix (null or empty means every key); null when valid.</summary>
    public static StructuredError? ValidatePrefix(string? prefix, string field = "prefix")
    {
        if (string.IsNullOrEmpty(prefix)) return null;
        return CheckCharacters(prefix) is { } reason ? Errors.Errors.InvalidInput(field, reason) : null;
    }

    /// <summary>True when <paramref name="key"/> starts with <paramref name="prefix"/> (ordinal; null or empty matches all).</summary>
    public static bool Matches(string key, string? prefix) =>
        string.IsNullOrEmpty(prefix) || key.StartsWith(prefix, StringComparison.Ordinal);

    /// <summary>The UTF-8 length of a key.</summary>
    public static int ByteCount(string key) => Encoding.UTF8.GetByteCount(key);

    private static string? CheckCharacters(string text)
    {
        if (!StoredJson.IsValidUnicode(text)) return "is not valid Unicode (it contains a lone surrogate)";
        if (Encoding.UTF8.GetByteCount(text) > MaxKeyBytes) return $"must be at most {MaxKeyBytes} bytes of UTF-8";
        foreach (var rune in text.EnumerateRunes())
        {
            switch (Rune.GetUnicodeCategory(rune))
            {
                case UnicodeCategory.Control:
                    return $"must not contain control characters (U+{rune.Value:X4})";
                case UnicodeCategory.Format:
                    return $"must not contain invisible format characters such as zero-width or bidirectional controls (U+{rune.Value:X4})";
                case UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator:
                    return $"must not contain line or paragraph separators (U+{rune.Value:X4})";
                case UnicodeCategory.OtherNotAssigned when (rune.Value & 0xFFFE) == 0xFFFE || rune.Value is >= 0xFDD0 and <= 0xFDEF:
                    return $"must not contain Unicode noncharacters (U+{rune.Value:X4})";
            }
        }
        return null;
    }
}
