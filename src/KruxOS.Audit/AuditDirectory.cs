using System.Buffers.Binary;
using System.Text.Json;
using KruxOS.Core.Audit;

namespace KruxOS.Audit;

/// <summary>A day file found in an audit directory.</summary>
public sealed record AuditDayFile(DateOnly Day, string Path)
{
    /// <summary>The bare file name.</summary>
    public string Name => System.IO.Path.GetFileName(Path);
}

/// <summary>One line of the retention anchor file: the last hash of a deleted day file.</summary>
public sealed record RetentionAnchor(string File, string LastHash, long Entries);

/// <summary>Read-only helpers over an audit directory: listing, streaming frames, anchors.</summary>
public static class AuditDirectory
{
    /// <summary>Day files, oldest first.</summary>
    public static IReadOnlyList<AuditDayFile> ListDayFiles(string directory)
    {
        if (!Directory.Exists(directory)) return [];
        return [.. Directory.EnumerateFiles(directory, "audit-*.log")
            .Select(p => AuditFileNames.TryParseDay(p, out var d) ? new AuditDayFile(d, p) : null)
            .OfType<AuditDayFile>()
            .OrderBy(f => f.Day)];
    }

    /// <summary>
    /// Streams the frames of a day file from <paramref name="startOffset"/> (which must be a record
    /// boundary). <paramref name="tail"/> is set when the enumeration ends.
    /// </summary>
    public static IEnumerable<AuditFrame> ReadFrames(string path, TailHolder tail, long startOffset = 0, int startIndex = 0)
    {
        var name = System.IO.Path.GetFileName(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete,
            bufferSize: 1 << 16);
        var length = stream.Length;
        var offset = startOffset;
        var index = startIndex;
        stream.Seek(offset, SeekOrigin.Begin);
        var prefix = new byte[AuditFraming.PrefixLength];
        tail.Value = FrameTail.Clean;
        while (offset < length)
        {
            var remaining = length - offset;
            uint? len = null;
            if (remaining >= AuditFraming.PrefixLength)
            {
                stream.ReadExactly(prefix);
                len = BinaryPrimitives.ReadUInt32BigEndian(prefix);
            }
            var check = AuditFraming.Check(len, remaining);
            if (check != FrameCheck.Complete)
            {
                tail.Value = new FrameTail(check == FrameCheck.Truncated ? FrameTailKind.Truncated : FrameTailKind.Garbage, offset, index);
                yield break;
            }
            var payload = new byte[len!.Value];
            stream.ReadExactly(payload);
            yield return new AuditFrame(name, index, offset, payload);
            offset += AuditFraming.PrefixLength + len.Value;
            index++;
        }
        tail.Value = tail.Value with { Offset = offset, Index = index };
    }

    /// <summary>Reads one record at a known offset.</summary>
    public static AuditEntry ReadEntryAt(FileStream stream, long offset)
    {
        Span<byte> prefix = stackalloc byte[AuditFraming.PrefixLength];
        stream.Seek(offset, SeekOrigin.Begin);
        stream.ReadExactly(prefix);
        var len = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (len is 0 or > AuditFraming.MaxRecordLength) throw new InvalidDataException($"no record at offset {offset}");
        var payload = new byte[len];
        stream.ReadExactly(payload);
        return AuditCbor.DecodeStored(payload);
    }

    /// <summary>The entry hash of the last readable record of a file, its record count, and how the file ends.</summary>
    public static (byte[]? LastHash, int Records, FrameTail Tail) ScanLast(string path)
    {
        var tail = new TailHolder();
        byte[]? last = null;
        var count = 0;
        foreach (var frame in ReadFrames(path, tail))
        {
            count++;
            try
            {
                last = AuditCbor.Split(frame.Payload).EntryHash.ToArray();
            }
            catch (Exception ex) when (ex is System.Formats.Cbor.CborContentException or FormatException or InvalidOperationException)
            {
                // unreadable record: keep the last readable hash
            }
        }
        return (last, count, tail.Value);
    }

    /// <summary>The retention anchors, oldest first.</summary>
    public static IReadOnlyList<RetentionAnchor> ReadAnchors(string directory)
    {
        var path = System.IO.Path.Combine(directory, AuditFileNames.Anchors);
        if (!File.Exists(path)) return [];
        return [.. File.ReadAllLines(path)
            .Where(l => l.Length > 0)
            .Select(l => JsonSerializer.Deserialize<RetentionAnchor>(l, AnchorJson)!)];
    }

    internal static readonly JsonSerializerOptions AnchorJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>
    /// The hash a day file's first record must chain from when it is the oldest file present: the last
    /// hash of the newest anchored (deleted) file older than it, else genesis.
    /// </summary>
    public static (byte[] Hash, string Description) StartFor(DateOnly oldestDay, IReadOnlyList<RetentionAnchor> anchors)
    {
        var anchor = anchors
            .Select(a => AuditFileNames.TryParseDay(a.File, out var d) ? (Day: d, Anchor: a) : default)
            .Where(x => x.Anchor is not null && x.Day < oldestDay)
            .OrderBy(x => x.Day)
            .LastOrDefault();
        return anchor.Anchor is null
            ? (AuditCbor.Genesis.ToArray(), "genesis")
            : (Convert.FromHexString(anchor.Anchor.LastHash), $"the retention anchor (last hash of {anchor.Anchor.File})");
    }
}

/// <summary>Receives how a streamed file ended (iterators cannot have out parameters).</summary>
public sealed class TailHolder
{
    /// <summary>The tail; valid after the enumeration finished.</summary>
    public FrameTail Value { get; set; } = FrameTail.Clean;
}
