using System.Text;
using System.Text.Json.Serialization;

namespace KruxOS.Vault.Scrubbing;

/// <summary>
/// Replaces every occurrence of one or more secret values in text an agent will see (a response body, header
/// values, an error message, the final URL) with <see cref="Redacted"/>. An occurrence is found in the forms that
/// carry a value through HTTP:
/// <list type="bullet">
/// <item>the value itself (as UTF-8 text);</item>
/// <item>percent-encoded, byte by byte or partly, in upper or lower case, also double-encoded (<c>%2541</c>), and in
/// form encoding with <c>+</c> for a space;</item>
/// <item>JSON-escaped (<c>\u0041</c>, <c>\/</c>, <c>\"</c>, surrogate pairs), also twice (JSON carried in a JSON string);</item>
/// <item>base64 and base64url of any text that contains it (Basic auth's <c>user:secret</c>, a token wrapped in
/// JSON): the characters that depend only on the value are matched at each of the three alignments, and the one
/// partial character at each end is redacted with them; also inside percent-encoded or JSON-escaped text.</item>
/// </list>
/// The scrubber holds copies of the patterns in pinned memory, zeroed by <see cref="Dispose"/>; it prints as
/// <c>SecretScrubber(N secrets)</c> and refuses JSON serialisation. For a streamed body use <see cref="Start"/>.
/// </summary>
[JsonConverter(typeof(NeverSerializeConverter<SecretScrubber>))]
public sealed class SecretScrubber : IDisposable
{
    /// <summary>What replaces an occurrence.</summary>
    public const string Redacted = "[REDACTED]";

    private readonly List<Pattern> _patterns = [];
    private readonly List<SecretBytes> _owned = [];
    private readonly bool _plusIsSpaceView;
    private bool _disposed;

    private SecretScrubber(IEnumerable<ReadOnlyMemory<byte>> secrets)
    {
        var longest = 0;
        foreach (var secret in secrets)
        {
            if (secret.Length == 0) continue;
            longest = Math.Max(longest, secret.Length);
            AddPattern(secret.Span, PatternKind.Value, false, false);
            if (secret.Span.Contains((byte)' ')) _plusIsSpaceView = true;
            for (var alignment = 0; alignment < 3; alignment++)
                AddBase64Cores(secret.Span, alignment);
        }
        SecretCount = _patterns.Count(p => p.Kind == PatternKind.Value);
        // The longest a match can be in the original text: every character of a base64 core JSON-escaped twice
        // (7 characters for 3/4 of a byte) is the worst case. A streamed body holds back twice that, plus slack for
        // the partial characters and escape sequences at a cut.
        MaxMatchChars = 10 * longest + 32;
        HoldBack = 2 * MaxMatchChars + 64;
    }

    /// <summary>How many distinct values are scrubbed.</summary>
    public int SecretCount { get; }

    /// <summary>The longest an occurrence can be, in characters of the scrubbed text.</summary>
    internal int MaxMatchChars { get; }

    /// <summary>How many characters a stream holds back until it knows they cannot start an occurrence.</summary>
    internal int HoldBack { get; }

    /// <summary>A scrubber for the values of opened secrets.</summary>
    public static SecretScrubber For(params SecretValue[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var copies = new List<SecretBytes>();
        try
        {
            foreach (var value in values)
                copies.Add(value.Use(0, static (bytes, _) =>
                {
                    var copy = new SecretBytes(bytes.Length);
                    bytes.CopyTo(copy.Span);
                    return copy;
                }));
            return new SecretScrubber(copies.Select(c => c.Memory));
        }
        finally { foreach (var c in copies) c.Dispose(); }
    }

    /// <summary>A scrubber for raw byte values (tests and callers that already hold the bytes).</summary>
    internal static SecretScrubber ForBytes(params byte[][] values) => new(values.Select(v => (ReadOnlyMemory<byte>)v));

    /// <summary>Scrubs a whole text.</summary>
    public string Scrub(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? string.Empty;
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ranges = FindRanges(text);
        if (ranges.Count == 0) return text;
        var sb = new StringBuilder(text.Length);
        Write(text, ranges, 0, text.Length, sb);
        return sb.ToString();
    }

    /// <summary>Starts scrubbing a streamed text: feed it in chunks of any size, then complete it.</summary>
    public StreamingScrub Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new StreamingScrub(this);
    }

    /// <summary>Zeroes the patterns.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var b in _owned) b.Dispose();
    }

    /// <summary>How many values, never which.</summary>
    public override string ToString() => $"SecretScrubber({SecretCount} secrets)";

    /// <summary>The occurrences in <paramref name="text"/> as sorted, non-overlapping ranges [start, end).</summary>
    internal List<(int Start, int End)> FindRanges(ReadOnlySpan<char> text)
    {
        var found = new List<(int Start, int End)>();
        if (text.IsEmpty || _patterns.Count == 0) return found;
        var views = new List<DecodedView>
        {
            DecodedView.Raw(text),
            DecodedView.Percent(text, plusIsSpace: false, doubleDecode: false),
            DecodedView.Percent(text, plusIsSpace: false, doubleDecode: true),
            DecodedView.Json(text),
            DecodedView.Json(text, twice: true),
        };
        if (_plusIsSpaceView) views.Add(DecodedView.Percent(text, plusIsSpace: true, doubleDecode: false));
        try
        {
            foreach (var view in views)
            foreach (var pattern in _patterns)
                Search(view, pattern, found);
        }
        finally { foreach (var v in views) v.Clear(); }
        if (found.Count == 0) return found;
        found.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.End.CompareTo(a.End));
        var merged = new List<(int Start, int End)> { found[0] };
        for (var i = 1; i < found.Count; i++)
        {
            var (s, e) = found[i];
            var last = merged[^1];
            if (s < last.End) { if (e > last.End) merged[^1] = (last.Start, e); }
            else merged.Add((s, e));
        }
        return merged;
    }

    /// <summary>Writes <paramref name="text"/>[from, to) with the ranges inside it replaced.</summary>
    internal static void Write(ReadOnlySpan<char> text, List<(int Start, int End)> ranges, int from, int to, StringBuilder output)
    {
        var at = from;
        foreach (var (s, e) in ranges)
        {
            if (e <= from) continue;
            if (s >= to) break;
            if (s > at) output.Append(text[at..s]);
            output.Append(Redacted);
            at = Math.Max(at, e);
        }
        if (at < to) output.Append(text[at..to]);
    }

    private static void Search(DecodedView view, Pattern pattern, List<(int, int)> found)
    {
        var data = view.Data;
        var needle = pattern.Bytes.Span;
        var from = 0;
        while (from <= data.Length - needle.Length)
        {
            var idx = data[from..].IndexOf(needle);
            if (idx < 0) break;
            var first = from + idx;
            var last = first + needle.Length - 1;
            if (pattern.Kind == PatternKind.Base64)
            {
                // The characters at each end that mix bits of the value with bits of its neighbours.
                if (pattern.LeadPartial && first > 0 && IsBase64(data[first - 1], pattern.UrlAlphabet)) first--;
                if (pattern.TrailPartial && last + 1 < data.Length && IsBase64(data[last + 1], pattern.UrlAlphabet)) last++;
            }
            found.Add((view.Start(first), view.End(last)));
            from += idx + 1;
        }
    }

    private static bool IsBase64(byte b, bool url) =>
        b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9')
        || (url ? b is (byte)'-' or (byte)'_' : b is (byte)'+' or (byte)'/');

    private void AddPattern(ReadOnlySpan<byte> bytes, PatternKind kind, bool lead, bool trail, bool url = false)
    {
        foreach (var p in _patterns)
            if (p.Kind == kind && p.Bytes.Span.SequenceEqual(bytes)) return;
        var copy = new SecretBytes(bytes.Length);
        bytes.CopyTo(copy.Span);
        _owned.Add(copy);
        _patterns.Add(new Pattern(copy, kind, lead, trail, url));
    }

    // Base64 of any text containing the value at byte offset ≡ alignment (mod 3): the characters whose six bits all
    // come from the value are fixed, whatever surrounds it. Encode the value behind `alignment` filler bytes and keep
    // those characters.
    private void AddBase64Cores(ReadOnlySpan<byte> secret, int alignment)
    {
        var total = alignment + secret.Length;
        var padded = new SecretBytes((total + 2) / 3 * 3);
        var encoded = new SecretBytes(padded.Length / 3 * 4);
        try
        {
            secret.CopyTo(padded.Span[alignment..]);
            System.Buffers.Text.Base64.EncodeToUtf8(padded.Span, encoded.Span, out _, out var written);
            var startBit = 8 * alignment;
            var endBit = 8 * total;
            var firstChar = (startBit + 5) / 6;
            var endChar = endBit / 6;
            if (endChar - firstChar < 4) return; // too short to tell apart from other base64
            var core = encoded.Span[firstChar..endChar];
            var lead = startBit % 6 != 0;
            var trail = endBit % 6 != 0;
            AddPattern(core, PatternKind.Base64, lead, trail);
            var url = new SecretBytes(core.Length);
            try
            {
                core.CopyTo(url.Span);
                for (var i = 0; i < url.Length; i++)
                    url.Span[i] = url.Span[i] switch { (byte)'+' => (byte)'-', (byte)'/' => (byte)'_', var b => b };
                if (!url.Span.SequenceEqual(core)) AddPattern(url.Span, PatternKind.Base64, lead, trail, url: true);
            }
            finally { url.Dispose(); }
        }
        finally
        {
            padded.Dispose();
            encoded.Dispose();
        }
    }

    private enum PatternKind { Value, Base64 }

    private sealed record Pattern(SecretBytes Bytes, PatternKind Kind, bool LeadPartial, bool TrailPartial, bool UrlAlphabet);
}
