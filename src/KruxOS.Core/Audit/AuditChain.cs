using System.Buffers.Binary;

namespace KruxOS.Core.Audit;

/// <summary>An entry sealed into the chain: the entry with its hashes and its framed record bytes.</summary>
/// <param name="Entry">The sanitized entry with <c>previous_hash</c> and <c>entry_hash</c> set.</param>
/// <param name="Frame">4-byte big-endian length followed by the stored CBOR record, ready to append.</param>
/// <param name="EntryHash">The raw 32-byte entry hash.</param>
public sealed record SealedAuditRecord(AuditEntry Entry, ReadOnlyMemory<byte> Frame, ReadOnlyMemory<byte> EntryHash)
{
    /// <summary>The stored CBOR record (the frame without its length prefix).</summary>
    public ReadOnlyMemory<byte> Payload => Frame[AuditFraming.PrefixLength..];
}

/// <summary>
/// The head of a hash chain. Not thread-safe: one owner (the audit writer actor) seals entries in order.
/// </summary>
public sealed class AuditChain
{
    private byte[] _head;
    private readonly System.Formats.Cbor.CborWriter _writer = new(AuditCbor.Mode);
    private readonly System.Security.Cryptography.IncrementalHash _sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);

    /// <summary>Starts a chain after <paramref name="head"/> (the last entry hash, or <see cref="AuditCbor.Genesis"/>).</summary>
    public AuditChain(ReadOnlySpan<byte> head)
    {
        if (head.Length != AuditCbor.HashLength) throw new ArgumentException("head must be 32 bytes", nameof(head));
        _head = head.ToArray();
    }

    /// <summary>A chain starting at genesis.</summary>
    public static AuditChain FromGenesis() => new(AuditCbor.Genesis);

    /// <summary>The hash the next entry chains from.</summary>
    public ReadOnlySpan<byte> Head => _head;

    /// <summary>The head as lower-case hex.</summary>
    public string HeadHex => Convert.ToHexStringLower(_head);

    /// <summary>
    /// Sanitizes a draft, chains it after the head, and advances the head. The draft's hashes, if any, are ignored.
    /// </summary>
    public SealedAuditRecord Seal(AuditEntry draft)
    {
        var clean = Sanitize(draft);
        var body = AuditCbor.EncodeBody(clean, _writer);
        // entry_hash = SHA-256(body ‖ previous_hash); the stored record is the body with both hashes spliced in
        // (byte for byte what encoding it again would give, without a second canonical encoding).
        _sha.AppendData(body);
        _sha.AppendData(_head);
        var hash = _sha.GetHashAndReset();
        var frame = AuditCbor.FrameStored(body, _head, hash);
        var sealedEntry = clean with
        {
            PreviousHash = Convert.ToHexStringLower(_head),
            EntryHash = Convert.ToHexStringLower(hash),
        };
        _head = hash;
        return new SealedAuditRecord(sealedEntry, frame, hash);
    }

    /// <summary>
    /// Applies the sanitizer to every free-text part of an entry (idempotent), including the parts a client
    /// controls (<c>client.name</c> and <c>client.version</c> come from its MCP handshake) and the actor's name.
    /// </summary>
    public static AuditEntry Sanitize(AuditEntry e) => e with
    {
        Actor = RedactName(e.Actor),
        Client = RedactClient(e.Client),
        Inputs = InputSanitizer.Sanitize(e.Inputs),
        OutputSummary = InputSanitizer.RedactTokens(e.OutputSummary),
        SessionId = e.SessionId is null ? null : InputSanitizer.RedactTokens(e.SessionId),
        PolicyDecision = e.PolicyDecision is { } d
            ? d with { Reason = d.Reason is null ? null : InputSanitizer.RedactTokens(d.Reason) }
            : null,
        Metadata = e.Metadata with
        {
            Details = e.Metadata.Details is { } details ? InputSanitizer.Sanitize(details) : null,
            DecidedBy = e.Metadata.DecidedBy is null ? null : InputSanitizer.RedactTokens(e.Metadata.DecidedBy),
        },
        PreviousHash = null,
        EntryHash = null,
    };

    // Unchanged parts keep their instances: most entries carry no token, and this runs for every entry sealed.
    private static Agents.Principal RedactName(Agents.Principal actor)
    {
        var name = InputSanitizer.RedactTokens(actor.Name);
        return ReferenceEquals(name, actor.Name) ? actor : actor with { Name = name };
    }

    private static AuditClient? RedactClient(AuditClient? client)
    {
        if (client is null) return null;
        var name = InputSanitizer.RedactTokens(client.Name);
        var version = client.Version is null ? null : InputSanitizer.RedactTokens(client.Version);
        return ReferenceEquals(name, client.Name) && ReferenceEquals(version, client.Version) ? client : new AuditClient(name, version);
    }
}

/// <summary>Framing of records in a day file: 4-byte big-endian length, then that many bytes of CBOR.</summary>
public static class AuditFraming
{
    /// <summary>Size of the length prefix.</summary>
    public const int PrefixLength = 4;

    /// <summary>
    /// Largest accepted record. A larger length prefix is treated as garbage, not as a record cut short.
    /// </summary>
    public const int MaxRecordLength = 1 << 20;

    /// <summary>Prefixes a record with its length.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        if (payload.Length is 0 or > MaxRecordLength) throw new ArgumentException("record length out of range", nameof(payload));
        var frame = new byte[PrefixLength + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(PrefixLength));
        return frame;
    }

    /// <summary>
    /// How a frame starting <paramref name="remaining"/> bytes before the end of a file should be read.
    /// <paramref name="prefix"/> is its length prefix when at least 4 bytes remain.
    /// </summary>
    public static FrameCheck Check(uint? prefix, long remaining)
    {
        if (prefix is null) return FrameCheck.Truncated;
        if (prefix.Value is 0 or > MaxRecordLength) return FrameCheck.Garbage;
        return PrefixLength + (long)prefix.Value > remaining ? FrameCheck.Truncated : FrameCheck.Complete;
    }

    /// <summary>Splits a whole day file held in memory into frames.</summary>
    public static AuditFileFrames Scan(string file, ReadOnlyMemory<byte> content)
    {
        var frames = new List<AuditFrame>();
        long offset = 0;
        var tail = FrameTail.Clean;
        while (offset < content.Length)
        {
            var remaining = content.Length - offset;
            uint? prefix = remaining >= PrefixLength
                ? BinaryPrimitives.ReadUInt32BigEndian(content.Span.Slice((int)offset, PrefixLength))
                : null;
            var check = Check(prefix, remaining);
            if (check != FrameCheck.Complete)
            {
                tail = new FrameTail(check == FrameCheck.Truncated ? FrameTailKind.Truncated : FrameTailKind.Garbage, offset, frames.Count);
                break;
            }
            frames.Add(new AuditFrame(file, frames.Count, offset, content.Slice((int)offset + PrefixLength, (int)prefix!.Value)));
            offset += PrefixLength + prefix!.Value;
        }
        return new AuditFileFrames(file, frames, tail);
    }
}

/// <summary>Result of <see cref="AuditFraming.Check"/>.</summary>
public enum FrameCheck
{
    /// <summary>The whole record is present.</summary>
    Complete,
    /// <summary>The file ends inside the prefix or the record.</summary>
    Truncated,
    /// <summary>The prefix is not a plausible record length.</summary>
    Garbage,
}

/// <summary>One framed record of a day file.</summary>
/// <param name="File">File name (e.g. <c>audit-2026-11-25.log</c>).</param>
/// <param name="Index">0-based position of the record in its file.</param>
/// <param name="Offset">Byte offset of the length prefix in the file.</param>
/// <param name="Payload">The stored CBOR record.</param>
public sealed record AuditFrame(string File, int Index, long Offset, ReadOnlyMemory<byte> Payload);

/// <summary>How a day file ends.</summary>
public enum FrameTailKind
{
    /// <summary>The last record ends exactly at the end of the file.</summary>
    Clean,
    /// <summary>The file ends inside a record (torn write or truncation).</summary>
    Truncated,
    /// <summary>Bytes that cannot be a record follow the last record.</summary>
    Garbage,
}

/// <summary>The end of a day file: its kind, where the unreadable part starts, and the index it would have had.</summary>
public sealed record FrameTail(FrameTailKind Kind, long Offset, int Index)
{
    /// <summary>A file that ends cleanly.</summary>
    public static readonly FrameTail Clean = new(FrameTailKind.Clean, 0, 0);
}

/// <summary>All frames of a day file and how it ends.</summary>
public sealed record AuditFileFrames(string File, IReadOnlyList<AuditFrame> Frames, FrameTail Tail);
