using System.Text;

namespace KruxOS.Vault.Scrubbing;

/// <summary>
/// Text decoded one way (as it is, percent-decoded, JSON-unescaped) into UTF-8 bytes, with, for every byte, the range
/// of original characters it came from. A value searched in the bytes maps back to the characters to redact.
/// </summary>
internal sealed class DecodedView
{
    private byte[] _data;
    private int[] _start;
    private int[] _end;
    private int _count;

    private DecodedView(int capacity)
    {
        _data = new byte[Math.Max(capacity, 4)];
        _start = new int[_data.Length];
        _end = new int[_data.Length];
    }

    public ReadOnlySpan<byte> Data => _data.AsSpan(0, _count);

    /// <summary>The first original character of decoded byte <paramref name="i"/>.</summary>
    public int Start(int i) => _start[i];

    /// <summary>One past the last original character of decoded byte <paramref name="i"/>.</summary>
    public int End(int i) => _end[i];

    /// <summary>Zeroes the decoded bytes.</summary>
    public void Clear()
    {
        Array.Clear(_data);
        _count = 0;
    }

    /// <summary>The text as it is.</summary>
    public static DecodedView Raw(ReadOnlySpan<char> text)
    {
        var view = new DecodedView(text.Length + 16);
        for (var i = 0; i < text.Length;)
            i = view.AddChar(text, i, i);
        return view;
    }

    /// <summary>
    /// Percent-decoded: <c>%HH</c> (either case) is one byte; with <paramref name="doubleDecode"/>, <c>%25HH</c> is one
    /// byte too (a URL encoded twice); with <paramref name="plusIsSpace"/>, <c>+</c> is a space (form encoding).
    /// </summary>
    public static DecodedView Percent(ReadOnlySpan<char> text, bool plusIsSpace, bool doubleDecode)
    {
        var view = new DecodedView(text.Length + 16);
        for (var i = 0; i < text.Length;)
        {
            var c = text[i];
            if (c == '%' && Hex(text, i + 1, 2, out var b))
            {
                if (doubleDecode && b == 0x25 && Hex(text, i + 3, 2, out var inner))
                {
                    view.Add((byte)inner, i, i + 5);
                    i += 5;
                    continue;
                }
                view.Add((byte)b, i, i + 3);
                i += 3;
                continue;
            }
            if (plusIsSpace && c == '+')
            {
                view.Add((byte)' ', i, i + 1);
                i++;
                continue;
            }
            i = view.AddChar(text, i, i);
        }
        return view;
    }

    /// <summary>
    /// JSON-unescaped: <c>\uXXXX</c> (surrogate pairs joined), <c>\"</c>, <c>\\</c>, <c>\/</c>, <c>\b</c>, <c>\f</c>, <c>\n</c>,
    /// <c>\r</c>, <c>\t</c>; with <paramref name="twice"/>, the result is unescaped again (JSON carried in a JSON string).
    /// </summary>
    public static DecodedView Json(ReadOnlySpan<char> text, bool twice = false)
    {
        if (twice)
        {
            // First pass to characters with their origins, then the ordinary pass over those characters.
            var (once, starts, ends) = JsonChars(text);
            var inner = Json(once);
            for (var i = 0; i < inner._count; i++)
            {
                inner._start[i] = starts[inner._start[i]];
                inner._end[i] = ends[inner._end[i] - 1];
            }
            Array.Clear(once);
            return inner;
        }
        var view = new DecodedView(text.Length + 16);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < text.Length;)
        {
            if (text[i] == '\\' && i + 1 < text.Length)
            {
                var e = text[i + 1];
                if (e == 'u' && Hex(text, i + 2, 4, out var unit))
                {
                    var length = 6;
                    Rune rune;
                    if (char.IsHighSurrogate((char)unit) && i + 12 <= text.Length && text[i + 6] == '\\' && text[i + 7] == 'u'
                        && Hex(text, i + 8, 4, out var low) && char.IsLowSurrogate((char)low))
                    {
                        rune = new Rune((char)unit, (char)low);
                        length = 12;
                    }
                    else rune = Rune.TryCreate((char)unit, out var r) ? r : Rune.ReplacementChar;
                    var n = rune.EncodeToUtf8(utf8);
                    foreach (var b in utf8[..n]) view.Add(b, i, i + length);
                    i += length;
                    continue;
                }
                var simple = e switch { '"' => '"', '\\' => '\\', '/' => '/', 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => '\0' };
                if (simple != '\0')
                {
                    view.Add((byte)simple, i, i + 2);
                    i += 2;
                    continue;
                }
            }
            i = view.AddChar(text, i, i);
        }
        return view;
    }

    // One pass of JSON unescaping to UTF-16 characters, with each character's range in the original text.
    private static (char[] Chars, int[] Starts, int[] Ends) JsonChars(ReadOnlySpan<char> text)
    {
        var chars = new char[text.Length];
        var starts = new int[text.Length];
        var ends = new int[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length;)
        {
            var length = 1;
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                var e = text[i + 1];
                if (e == 'u' && Hex(text, i + 2, 4, out var unit)) { c = (char)unit; length = 6; }
                else
                {
                    var simple = e switch { '"' => '"', '\\' => '\\', '/' => '/', 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => '\0' };
                    if (simple != '\0') { c = simple; length = 2; }
                }
            }
            chars[n] = c;
            starts[n] = i;
            ends[n] = i + length;
            n++;
            i += length;
        }
        return (chars[..n], starts[..n], ends[..n]);
    }

    // Adds the UTF-8 bytes of the character (or surrogate pair) at i; returns the next index.
    private int AddChar(ReadOnlySpan<char> text, int i, int origin)
    {
        Span<byte> utf8 = stackalloc byte[4];
        var c = text[i];
        int consumed;
        Rune rune;
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            rune = new Rune(c, text[i + 1]);
            consumed = 2;
        }
        else
        {
            rune = Rune.TryCreate(c, out var r) ? r : Rune.ReplacementChar;
            consumed = 1;
        }
        if (rune.Value < 0x80)
        {
            Add((byte)rune.Value, origin, origin + consumed);
            return i + consumed;
        }
        var n = rune.EncodeToUtf8(utf8);
        foreach (var b in utf8[..n]) Add(b, origin, origin + consumed);
        return i + consumed;
    }

    private void Add(byte b, int start, int end)
    {
        if (_count == _data.Length)
        {
            Array.Resize(ref _data, _data.Length * 2);
            Array.Resize(ref _start, _data.Length);
            Array.Resize(ref _end, _data.Length);
        }
        _data[_count] = b;
        _start[_count] = start;
        _end[_count] = end;
        _count++;
    }

    private static bool Hex(ReadOnlySpan<char> text, int at, int digits, out int value)
    {
        value = 0;
        if (at + digits > text.Length) return false;
        for (var k = 0; k < digits; k++)
        {
            var d = text[at + k];
            var v = d is >= '0' and <= '9' ? d - '0' : d is >= 'a' and <= 'f' ? d - 'a' + 10 : d is >= 'A' and <= 'F' ? d - 'A' + 10 : -1;
            if (v < 0) return false;
            value = value * 16 + v;
        }
        return true;
    }
}
