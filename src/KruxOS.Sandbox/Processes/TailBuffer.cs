using System.Text;

namespace KruxOS.Sandbox.Processes;

/// <summary>Keeps the last <c>capacity</c> bytes of a stream and counts everything that passed through.</summary>
internal sealed class TailBuffer(int capacity)
{
    private readonly object _gate = new();
    private byte[] _data = new byte[Math.Min(capacity, 64 * 1024)];
    private int _length;

    /// <summary>Bytes ever written.</summary>
    public long Total { get; private set; }

    /// <summary>Bytes dropped from the front.</summary>
    public long Dropped => Total - _length;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            Total += bytes.Length;
            if (bytes.Length >= capacity)
            {
                if (_data.Length < capacity) _data = new byte[capacity];
                bytes[^capacity..].CopyTo(_data);
                _length = capacity;
                return;
            }
            var needed = _length + bytes.Length;
            if (needed > capacity)
            {
                var drop = needed - capacity;
                Buffer.BlockCopy(_data, drop, _data, 0, _length - drop);
                _length -= drop;
                needed = capacity;
            }
            if (needed > _data.Length) Array.Resize(ref _data, Math.Min(capacity, Math.Max(needed, _data.Length * 2)));
            bytes.CopyTo(_data.AsSpan(_length));
            _length += bytes.Length;
        }
    }

    /// <summary>Bytes [offset, offset+limit) of the whole stream, clipped to what is retained.</summary>
    public (byte[] Bytes, bool Truncated) Read(long offset, long limit)
    {
        lock (_gate)
        {
            var start = Math.Max(offset, Dropped);
            var truncated = offset < Dropped;
            var available = Total - start;
            if (available <= 0) return ([], truncated);
            var count = (int)Math.Min(available, limit);
            truncated |= count < available;
            return (_data.AsSpan((int)(start - Dropped), count).ToArray(), truncated);
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of what is retained.</summary>
    public string LastLines(int lines)
    {
        string text;
        lock (_gate) text = Encoding.UTF8.GetString(_data, 0, _length);
        if (lines <= 0 || text.Length == 0) return string.Empty;
        var trimmed = text.EndsWith('\n') ? text[..^1] : text;
        var parts = trimmed.Split('\n');
        return string.Join('\n', parts[Math.Max(0, parts.Length - lines)..]);
    }
}
