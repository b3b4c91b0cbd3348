using System.Text.Json;

namespace KruxOS.Core.Audit;

/// <summary>
/// Identifies a chain break the way a <c>chain_note</c> entry records it in <c>metadata.details</c>:
/// <c>{break_kind, file, entry_index, offset}</c>. Two notes with the same key describe the same break, so the
/// writer notes each break once, however often it is found again (every restart, every daily verification).
/// </summary>
/// <param name="Kind">Wire name of the break kind (<c>hash_mismatch</c>, …).</param>
/// <param name="File">Day file of the break.</param>
/// <param name="EntryIndex">0-based entry index in that file.</param>
/// <param name="Offset">Byte offset of the record's length prefix.</param>
public readonly record struct ChainBreakKey(string Kind, string File, int EntryIndex, long Offset)
{
    /// <summary>The key of a break found by a verification.</summary>
    public static ChainBreakKey Of(ChainIssue issue)
    {
        ArgumentNullException.ThrowIfNull(issue);
        return new ChainBreakKey(issue.Kind.ToWire(), issue.File, issue.EntryIndex, issue.Offset);
    }

    /// <summary>The break a chain note records; null for any other entry, or a note whose details are not readable.</summary>
    public static ChainBreakKey? OfNote(AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Kind != AuditEntryKind.ChainNote || entry.Metadata.Details is not { ValueKind: JsonValueKind.Object } d) return null;
        return d.TryGetProperty("break_kind", out var kind) && kind.ValueKind == JsonValueKind.String
            && d.TryGetProperty("file", out var file) && file.ValueKind == JsonValueKind.String
            && d.TryGetProperty("entry_index", out var index) && index.TryGetInt32(out var i)
            && d.TryGetProperty("offset", out var offset) && offset.TryGetInt64(out var o)
            ? new ChainBreakKey(kind.GetString()!, file.GetString()!, i, o)
            : null;
    }

    /// <summary>
    /// Whether a stored record may be a chain note: it contains the note's capability text. A cheap test on the
    /// bytes, so a scan decodes only the few records that can be notes.
    /// </summary>
    public static bool MayBeNote(ReadOnlySpan<byte> storedRecord) => storedRecord.IndexOf("audit.chain_note"u8) >= 0;
}
