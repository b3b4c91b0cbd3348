using System.Buffers;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Audit;

/// <summary>
/// The reduced forms the audit log falls back to so that an entry is always recorded (docs/audit-format.md §3.4),
/// and the <c>elided</c> listing in <c>metadata.details</c>.
/// </summary>
internal static class AuditEntryForms
{
    /// <summary>The capability a constant form names when nothing of the entry could be kept.</summary>
    public const string UnencodableCapability = "audit.unencodable";

    /// <summary>
    /// The entry with only what always encodes: its id, time, kind, actor, capability, status, policy decision,
    /// duration and resource usage, every text capped and made valid; the inputs and details replaced by a note
    /// naming <paramref name="why"/> (the exception type), listed as <c>unencodable</c>.
    /// </summary>
    public static AuditEntry Minimal(AuditEntry e, string why)
    {
        var decision = e.PolicyDecision is { } d && Enum.IsDefined(d.Tier)
            ? new AuditPolicyDecision(d.Tier, SafeOrNull(d.Rule, AuditLimits.MaxNameBytes), d.Revision, SafeOrNull(d.Reason, AuditLimits.MaxSummaryBytes))
            : null;
        var m = e.Metadata;
        return new AuditEntry
        {
            Id = e.Id,
            Timestamp = e.Timestamp,
            Kind = Enum.IsDefined(e.Kind) ? e.Kind : AuditEntryKind.Call,
            Actor = new Principal(e.Actor is { } a && Enum.IsDefined(a.Kind) ? a.Kind : PrincipalKind.User, Safe(e.Actor?.Name, AuditLimits.MaxNameBytes)),
            SessionId = SafeOrNull(e.SessionId, AuditLimits.MaxNameBytes),
            Capability = Safe(e.Capability, AuditLimits.MaxNameBytes),
            Inputs = JsonSerializer.SerializeToElement($"[elided: the entry could not be encoded ({Safe(why, 64)})]"),
            OutputSummary = Safe(e.OutputSummary, AuditLimits.MaxSummaryBytes),
            Status = Enum.IsDefined(e.Status) ? e.Status : AuditStatus.Error,
            PolicyDecision = decision,
            DurationMs = e.DurationMs,
            ResourceUsage = e.ResourceUsage,
            Metadata = new AuditMetadata(
                SafeOrNull(m?.ApprovalRequestId, AuditLimits.MaxNameBytes),
                SafeOrNull(m?.ApprovalDecision, AuditLimits.MaxNameBytes),
                SafeOrNull(m?.DecidedBy, AuditLimits.MaxNameBytes),
                SafeOrNull(m?.ErrorType, AuditLimits.MaxNameBytes),
                Unencodable(why)),
            Client = e.Client is { } c ? new AuditClient(Safe(c.Name, AuditLimits.MaxNameBytes), SafeOrNull(c.Version, AuditLimits.MaxNameBytes)) : null,
        };
    }

    /// <summary>The last resort: the entry's id and time, and constants (a user <c>unknown</c> calling <see cref="UnencodableCapability"/>).</summary>
    public static AuditEntry Constant(AuditEntry e, string why) => new()
    {
        Id = e.Id,
        Timestamp = e.Timestamp,
        Kind = AuditEntryKind.Call,
        Actor = Principal.ForUser("unknown"),
        Capability = UnencodableCapability,
        Inputs = CoreJson.EmptyObject,
        OutputSummary = "the entry could not be encoded",
        Status = AuditStatus.Error,
        Metadata = new AuditMetadata(ErrorType: "AuditEntryUnencodable", Details: Unencodable(why)),
    };

    private static JsonElement Unencodable(string why) => WithElisions(null,
        [new AuditElision("/inputs", "unencodable", null, null), new AuditElision("/metadata/details", "unencodable", null, null)], 0,
        ("encoding_error", Safe(why, 64)));

    // A text that always encodes: valid Unicode, tokens redacted, capped (the cut is not listed: the whole entry is the note).
    private static string Safe(string? text, int maxBytes)
    {
        var clean = InputSanitizer.RedactTokens(AuditText.Scalar(text));
        return AuditText.TryCap(clean, maxBytes, Math.Min(maxBytes / 4, 1024), out var capped, out _, out _) ? capped : clean;
    }

    private static string? SafeOrNull(string? text, int maxBytes) => text is null ? null : Safe(text, maxBytes);

    /// <summary>
    /// <paramref name="details"/> with <c>elided</c> (the listed cuts, after any it already lists) and, when some were
    /// not listed, <c>elided_more</c>. Details that are not an object are kept under <c>value</c>.
    /// </summary>
    public static JsonElement WithElisions(JsonElement? details, IReadOnlyList<AuditElision> cut, int unlisted, (string Name, string Value)? extra = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            JsonElement? listedBefore = null;
            var moreBefore = 0L;
            if (details is { ValueKind: JsonValueKind.Object } obj)
            {
                foreach (var p in obj.EnumerateObject())
                {
                    if (p.NameEquals("elided") && p.Value.ValueKind == JsonValueKind.Array) { listedBefore = p.Value; continue; }
                    if (p.NameEquals("elided_more") && p.Value.TryGetInt64(out var n)) { moreBefore = n; continue; }
                    p.WriteTo(w);
                }
            }
            else if (details is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } other)
            {
                w.WritePropertyName("value");
                other.WriteTo(w);
            }
            if (extra is { } x) w.WriteString(x.Name, x.Value);
            w.WriteStartArray("elided");
            if (listedBefore is { } before)
                foreach (var item in before.EnumerateArray()) item.WriteTo(w);
            foreach (var c in cut)
            {
                w.WriteStartObject();
                w.WriteString("path", c.Path);
                w.WriteString("reason", c.Reason);
                if (c.Bytes is { } bytes) w.WriteNumber("bytes", bytes); else w.WriteNull("bytes");
                if (c.Sha256 is { } sha) w.WriteString("sha256", sha); else w.WriteNull("sha256");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (moreBefore + unlisted > 0) w.WriteNumber("elided_more", moreBefore + unlisted);
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }
}
