using System.Buffers.Binary;
using System.Text.Json;

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

    private readonly string? _node;

    /// <summary>Starts a chain after <paramref name="head"/> (the last entry hash, or <see cref="AuditCbor.Genesis"/>).</summary>
    /// <param name="head">The hash the first entry chains from.</param>
    /// <param name="node">
    /// In a cluster, this node's id (<c>host:port</c>): every entry sealed gets it as <see cref="AuditEntry.Node"/>
    /// (schema 2), inside the hashed body. Null on a single node (schema 1).
    /// </param>
    public AuditChain(ReadOnlySpan<byte> head, string? node = null)
    {
        if (head.Length != AuditCbor.HashLength) throw new ArgumentException("head must be 32 bytes", nameof(head));
        _head = head.ToArray();
        _node = node is null ? null
            : AuditText.TryCap(AuditText.Scalar(node), AuditLimits.MaxNameBytes, AuditLimits.NameHeadBytes, out var capped, out _, out _) ? capped
            : AuditText.Scalar(node);
    }

    /// <summary>The node id this chain stamps on its entries, or null.</summary>
    public string? Node => _node;

    /// <summary>A chain starting at genesis.</summary>
    public static AuditChain FromGenesis() => new(AuditCbor.Genesis);

    /// <summary>The hash the next entry chains from.</summary>
    public ReadOnlySpan<byte> Head => _head;

    /// <summary>The head as lower-case hex.</summary>
    public string HeadHex => Convert.ToHexStringLower(_head);

    /// <summary>
    /// Prepares a draft (<see cref="Prepare"/>), chains it after the head, and advances the head. The draft's hashes,
    /// if any, are ignored. Never throws on the entry's content (see <see cref="SealPrepared"/>).
    /// </summary>
    public SealedAuditRecord Seal(AuditEntry draft) => SealPrepared(Prepare(draft));

    /// <summary>
    /// Chains an entry made by <see cref="Prepare"/> after the head and advances the head. Whatever the entry holds,
    /// this seals <em>something</em> for it: if it cannot be encoded (or would not fit in a record, which the limits
    /// make impossible), its minimal form is sealed instead — same id, time, kind, actor, capability and status,
    /// the inputs replaced by a note (<see cref="AuditElision"/> reason <c>unencodable</c>) — and if even that fails, a
    /// form built from constants and the id. The head advances only when a record was made.
    /// </summary>
    public SealedAuditRecord SealPrepared(AuditEntry prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        string why;
        try
        {
            return SealOne(prepared);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            why = ex.GetType().Name;
        }
        try
        {
            return SealOne(AuditEntryForms.Minimal(prepared, why));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            why = ex.GetType().Name;
        }
        return SealOne(AuditEntryForms.Constant(prepared, why));
    }

    private SealedAuditRecord SealOne(AuditEntry clean)
    {
        // The writer's node, never a draft's: a caller cannot make an entry claim another node.
        if (clean.Node != _node)
            clean = clean with { Node = _node, SchemaVersion = _node is null ? AuditEntry.CurrentSchemaVersion : AuditEntry.NodeSchemaVersion };
        var body = AuditCbor.EncodeBody(clean, _writer);
        // entry_hash = SHA-256(body ‖ previous_hash); the stored record is the body with both hashes spliced in
        // (byte for byte what encoding it again would give, without a second canonical encoding).
        _sha.AppendData(body);
        _sha.AppendData(_head);
        var hash = _sha.GetHashAndReset();
        var frame = AuditCbor.FrameStored(body, _head, hash); // throws, before the head moves, for a record over 1 MiB
        var sealedEntry = clean with
        {
            PreviousHash = Convert.ToHexStringLower(_head),
            EntryHash = Convert.ToHexStringLower(hash),
        };
        _head = hash;
        return new SealedAuditRecord(sealedEntry, frame, hash);
    }

    /// <summary>The same as <see cref="Prepare"/> (the name earlier code used).</summary>
    public static AuditEntry Sanitize(AuditEntry e) => Prepare(e);

    /// <summary>
    /// Makes an entry recordable whatever it holds (docs/audit-format.md §3.3, §3.4), idempotently: secrets and
    /// tokens are redacted in the inputs, the details and every free-text field (including the parts a client
    /// controls: <c>client.name</c> and <c>client.version</c> come from its MCP handshake); every text becomes valid
    /// Unicode; and the limits of <see cref="AuditLimits"/> are applied, each cut listed in
    /// <c>metadata.details.elided</c> (<c>elided_more</c> counts those past the listing limit). Never throws: an entry
    /// that cannot be prepared at all gets its minimal form. The result always encodes to a record well under 1 MiB.
    /// </summary>
    public static AuditEntry Prepare(AuditEntry draft)
    {
        ArgumentNullException.ThrowIfNull(draft);
        try
        {
            return PrepareCore(draft);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return AuditEntryForms.Minimal(draft, ex.GetType().Name);
        }
    }

    private static AuditEntry PrepareCore(AuditEntry e)
    {
        var cut = new List<AuditElision>();
        var (inputs, unlisted) = JsonScrubber.Bound(e.Inputs, "/inputs", AuditLimits.MaxInputsBytes, cut);
        JsonElement? details = null;
        if (e.Metadata.Details is { } d)
        {
            var (bounded, more) = JsonScrubber.Bound(d, "/metadata/details", AuditLimits.MaxDetailsBytes, cut);
            details = bounded;
            unlisted += more;
        }
        var m = e.Metadata;
        var metadata = new AuditMetadata(
            Name(m.ApprovalRequestId, "/metadata/approval_request_id"),
            Name(m.ApprovalDecision, "/metadata/approval_decision"),
            Name(m.DecidedBy, "/metadata/decided_by"),
            Name(m.ErrorType, "/metadata/error_type"),
            details);
        var prepared = e with
        {
            Actor = RedactName(e.Actor, cut, ref unlisted),
            Client = RedactClient(e.Client, cut, ref unlisted),
            SessionId = Name(e.SessionId, "/session_id"),
            Capability = JsonScrubber.Field(e.Capability, "/capability", AuditLimits.MaxNameBytes, AuditLimits.NameHeadBytes, cut, ref unlisted),
            Inputs = inputs,
            OutputSummary = JsonScrubber.Field(e.OutputSummary, "/output_summary", AuditLimits.MaxSummaryBytes, AuditLimits.SummaryHeadBytes, cut, ref unlisted),
            PolicyDecision = e.PolicyDecision is { } p
                ? p with
                {
                    Rule = Name(p.Rule, "/policy_decision/rule"),
                    Reason = p.Reason is null ? null
                        : JsonScrubber.Field(p.Reason, "/policy_decision/reason", AuditLimits.MaxSummaryBytes, AuditLimits.SummaryHeadBytes, cut, ref unlisted),
                }
                : null,
            Metadata = metadata,
            PreviousHash = null,
            EntryHash = null,
        };
        return cut.Count == 0 && unlisted == 0
            ? prepared
            : prepared with { Metadata = metadata with { Details = AuditEntryForms.WithElisions(details, cut, unlisted) } };

        string? Name(string? text, string path) =>
            text is null ? null : JsonScrubber.Field(text, path, AuditLimits.MaxNameBytes, AuditLimits.NameHeadBytes, cut, ref unlisted);
    }

    // Unchanged parts keep their instances: most entries carry no token, and this runs for every entry sealed.
    private static Agents.Principal RedactName(Agents.Principal actor, List<AuditElision> cut, ref int unlisted)
    {
        var name = JsonScrubber.Field(actor.Name, "/actor/name", AuditLimits.MaxNameBytes, AuditLimits.NameHeadBytes, cut, ref unlisted);
        return ReferenceEquals(name, actor.Name) ? actor : actor with { Name = name };
    }

    private static AuditClient? RedactClient(AuditClient? client, List<AuditElision> cut, ref int unlisted)
    {
        if (client is null) return null;
        var name = JsonScrubber.Field(client.Name, "/client/name", AuditLimits.MaxNameBytes, AuditLimits.NameHeadBytes, cut, ref unlisted);
        var version = client.Version is null ? null
            : JsonScrubber.Field(client.Version, "/client/version", AuditLimits.MaxNameBytes, AuditLimits.NameHeadBytes, cut, ref unlisted);
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
