using System.Text;

namespace KruxOS.Vault.Scrubbing;

/// <summary>
/// Scrubs a text that arrives in chunks (a streamed response body): the output is the same as
/// <see cref="SecretScrubber.Scrub"/> of the whole text, however the chunks fall. It holds back the tail that could
/// still be the start of an occurrence (at most a few times the longest secret, see
/// <see cref="SecretScrubber.HoldBack"/>) and writes everything before it. Cuts are placed outside any occurrence and
/// outside any escape sequence, so the next chunk decodes from a clean boundary.
/// </summary>
public sealed class StreamingScrub : IDisposable
{
    // Work in batches: re-scanning the held-back tail for every tiny chunk would cost O(chunks × hold-back).
    internal const int MinBatch = 16 * 1024;
    private const int MaxCutSearch = 64;

    private readonly SecretScrubber _owner;
    private char[] _buffer;
    private int _length;
    private bool _completed;

    internal StreamingScrub(SecretScrubber owner)
    {
        _owner = owner;
        _buffer = new char[Math.Max(owner.HoldBack * 2 + MinBatch, 1024)];
    }

    /// <summary>Characters received but not yet written (held back or waiting for a batch).</summary>
    public int Pending => _length;

    /// <summary>Adds a chunk; writes to <paramref name="output"/> whatever is now known to be safe.</summary>
    public void Append(ReadOnlySpan<char> chunk, StringBuilder output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_completed) throw new InvalidOperationException("the stream is complete");
        if (_length + chunk.Length > _buffer.Length)
        {
            var bigger = new char[Math.Max(_buffer.Length * 2, _length + chunk.Length)];
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            Array.Clear(_buffer);
            _buffer = bigger;
        }
        chunk.CopyTo(_buffer.AsSpan(_length));
        _length += chunk.Length;
        if (_length >= _owner.HoldBack + MinBatch) Process(final: false, output);
    }

    /// <summary>Writes the rest. The stream cannot be used afterwards.</summary>
    public void Complete(StringBuilder output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_completed) return;
        Process(final: true, output);
        _completed = true;
        Array.Clear(_buffer);
    }

    /// <summary>Forgets what is held back without writing it (an aborted response).</summary>
    public void Dispose()
    {
        _completed = true;
        Array.Clear(_buffer);
        _length = 0;
    }

    private void Process(bool final, StringBuilder output)
    {
        var text = _buffer.AsSpan(0, _length);
        var ranges = _owner.FindRanges(text);
        var cut = final ? _length : Cut(text, ranges, _length - _owner.HoldBack);
        if (cut <= 0) return;
        SecretScrubber.Write(text, ranges, 0, cut, output);
        text[cut..].CopyTo(_buffer);
        _length -= cut;
        Array.Clear(_buffer, _length, _buffer.Length - _length);
    }

    // The last position at or before `candidate` that is outside every occurrence and every escape sequence.
    private static int Cut(ReadOnlySpan<char> text, List<(int Start, int End)> ranges, int candidate)
    {
        var cut = candidate;
        for (var step = 0; step < MaxCutSearch && cut > 0; step++)
        {
            var straddled = Straddled(ranges, cut);
            if (straddled is { } r)
            {
                // An occurrence crosses the cut: cut before it, or, when it reaches back to the start of the
                // buffer, after it (it was found whole, so it is redacted whole).
                if (r.Start > 0) { cut = r.Start; continue; }
                return r.End;
            }
            if (InsideEscape(text, cut)) { cut--; continue; }
            return cut;
        }
        // Escapes everywhere (a percent-encoded body): cut outside occurrences only.
        return Straddled(ranges, cut) is { } last ? (last.Start > 0 ? last.Start : last.End) : cut;
    }

    private static (int Start, int End)? Straddled(List<(int Start, int End)> ranges, int cut)
    {
        foreach (var r in ranges)
        {
            if (r.Start >= cut) break;
            if (r.End > cut) return r;
        }
        return null;
    }

    // A percent escape is at most 5 characters (%25HH), a JSON escape at most 12 (a surrogate pair), 14 when escaped
    // twice: if no escape can have started close enough before the cut to reach past it, the cut is on a boundary in
    // every decoding.
    private static bool InsideEscape(ReadOnlySpan<char> text, int cut)
    {
        for (var i = Math.Max(0, cut - 15); i < cut; i++)
        {
            if (text[i] == '\\') return true;
            if (text[i] == '%' && i >= cut - 4) return true;
        }
        return false;
    }
}
