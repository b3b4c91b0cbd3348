using System.Buffers.Binary;

namespace KruxOS.Sandbox.Protocol;

/// <summary>
/// Frames of the gateway ⇄ worker pipe protocol: a 4-byte big-endian length followed by that many
/// bytes of UTF-8 JSON. Requests carry an <c>id</c>; responses echo it; events carry none.
/// </summary>
internal static class Framing
{
    /// <summary>Largest frame either side accepts (a 1 MiB read base64-encodes to ~1.4 MiB; edits may carry more).</summary>
    public const int MaxFrameBytes = 64 * 1024 * 1024;

    /// <summary>Reads one frame; null at a clean end of stream.</summary>
    public static async Task<byte[]?> ReadAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[4];
        if (!await ReadExactlyOrEndAsync(stream, header, ct).ConfigureAwait(false)) return null;
        var length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length is < 0 or > MaxFrameBytes) throw new InvalidDataException($"frame length {length} is out of range");
        var body = new byte[length];
        if (!await ReadExactlyOrEndAsync(stream, body, ct).ConfigureAwait(false))
            throw new EndOfStreamException("stream ended inside a frame");
        return body;
    }

    /// <summary>Writes one frame; callers serialise writers.</summary>
    public static async Task WriteAsync(Stream stream, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        if (body.Length > MaxFrameBytes) throw new InvalidDataException($"frame of {body.Length} bytes exceeds {MaxFrameBytes}");
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, body.Length);
        await stream.WriteAsync(header, ct).ConfigureAwait(false);
        await stream.WriteAsync(body, ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
    }

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (read == 0) return false;
                throw new EndOfStreamException("stream ended inside a frame");
            }
            read += n;
        }
        return true;
    }
}
