using System.Globalization;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Audit;

/// <summary>Outcome of an audited call (spec §11.2 <c>status</c>).</summary>
public enum AuditStatus
{
    /// <summary>The call ran and succeeded (or an approval was granted).</summary>
    Success,
    /// <summary>Policy, a human or a guard refused the call.</summary>
    Denied,
    /// <summary>The call ran and failed, or an approval timed out.</summary>
    Error,
    /// <summary>The call is held waiting for a human decision.</summary>
    Pending,
}

/// <summary>What an audit entry records.</summary>
public enum AuditEntryKind
{
    /// <summary>A capability invocation (allowed, denied, held or failed).</summary>
    Call,
    /// <summary>A human decision (or timeout) on a held call, linked by <c>approval_request_id</c>.</summary>
    ApprovalResolution,
    /// <summary>The writer found a break in the chain and continues on a new chain from here.</summary>
    ChainNote,
    /// <summary>A path resolved outside the caller's mounts.</summary>
    PathEscape,
    /// <summary>A policy rule blocked a call.</summary>
    PolicyViolation,
}

/// <summary>The policy decision behind an entry: tier, rule reference, policy revision and reason.</summary>
public sealed record AuditPolicyDecision(Tier Tier, string? Rule = null, long? Revision = null, string? Reason = null);

/// <summary>
/// Resources a call consumed (spec §11.2 <c>resource_usage</c>). Each figure is null when the mechanism that ran
/// the call did not measure it (never a made-up zero); an entry without any measurement has no usage at all.
/// </summary>
public sealed record AuditResourceUsage(long? CpuTimeMs, long? MemoryPeakBytes, long? IoReadBytes, long? IoWriteBytes);

/// <summary>The client program that drove the call, e.g. <c>claude-code</c> / <c>1.2.3</c>.</summary>
public sealed record AuditClient(string Name, string? Version = null);

/// <summary>
/// Free-form metadata of an entry. <see cref="Details"/> carries structured extras (error details,
/// delegation, chain-break position); it is sanitized like the inputs.
/// </summary>
public sealed record AuditMetadata(
    string? ApprovalRequestId = null,
    string? ApprovalDecision = null,
    string? DecidedBy = null,
    string? ErrorType = null,
    JsonElement? Details = null)
{
    /// <summary>No metadata.</summary>
    public static readonly AuditMetadata Empty = new();
}

/// <summary>
/// One audit log entry (spec §11.2). A <em>draft</em> has no hashes; the audit writer seals it by
/// assigning <see cref="PreviousHash"/> and <see cref="EntryHash"/> (lower-case hex of 32 bytes).
/// The canonical form is defined in <c>docs/audit-format.md</c> and implemented by <see cref="AuditCbor"/>.
/// </summary>
public sealed record AuditEntry : IKruxMessage
{
    /// <summary>The schema version written by this code.</summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary>
    /// The schema version of an entry that names its <see cref="Node"/> (written by a cluster node, ADR 0059): schema 1 plus
    /// the key <c>node</c>. A single node keeps writing schema 1, so its chain and every verifier of it stay as they were.
    /// </summary>
    public const int NodeSchemaVersion = 2;

    private readonly DateTimeOffset _timestamp;

    /// <summary>Unique id (UUID v7 from the factories, so ids sort by creation time).</summary>
    public required Guid Id { get; init; }

    /// <summary>When the event happened; stored in UTC with microsecond precision (finer ticks are dropped).</summary>
    public required DateTimeOffset Timestamp
    {
        get => _timestamp;
        init => _timestamp = AuditTime.Truncate(value);
    }

    /// <summary>What this entry records. <b>Default</b>: <see cref="AuditEntryKind.Call"/>.</summary>
    public AuditEntryKind Kind { get; init; } = AuditEntryKind.Call;

    /// <summary>The caller.</summary>
    public required Principal Actor { get; init; }

    /// <summary>Session id of the caller, when there is one.</summary>
    public string? SessionId { get; init; }

    /// <summary>Dotted capability name (<c>audit.chain_note</c> for chain notes).</summary>
    public required string Capability { get; init; }

    /// <summary>Call arguments. Always sanitized before they are encoded.</summary>
    public JsonElement Inputs { get; init; } = CoreJson.EmptyObject;

    /// <summary>Short description of the result (tokens are redacted before encoding).</summary>
    public string OutputSummary { get; init; } = "";

    /// <summary>Outcome.</summary>
    public required AuditStatus Status { get; init; }

    /// <summary>The policy decision, when policy was consulted.</summary>
    public AuditPolicyDecision? PolicyDecision { get; init; }

    /// <summary>Wall time of the call in milliseconds (never negative).</summary>
    public long DurationMs { get; init; }

    /// <summary>Resources consumed, when measured.</summary>
    public AuditResourceUsage? ResourceUsage { get; init; }

    /// <summary>Schema version of the entry. <b>Default</b>: <see cref="CurrentSchemaVersion"/>.</summary>
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>Metadata (approval link, error type, details).</summary>
    public AuditMetadata Metadata { get; init; } = AuditMetadata.Empty;

    /// <summary>The client program (CLI attribution), when known.</summary>
    public AuditClient? Client { get; init; }

    /// <summary>
    /// The cluster node whose writer sealed the entry (<c>host:port</c>, schema 2, hashed with the rest); null on a single
    /// node (schema 1, no <c>node</c> key).
    /// </summary>
    public string? Node { get; init; }

    /// <summary>Hex hash of the preceding entry; <c>null</c> on a draft.</summary>
    public string? PreviousHash { get; init; }

    /// <summary>Hex hash of this entry; <c>null</c> on a draft.</summary>
    public string? EntryHash { get; init; }

    /// <summary>Whether the entry carries its hashes.</summary>
    public bool IsSealed => EntryHash is not null && PreviousHash is not null;

    /// <summary>The same entry without its hashes.</summary>
    public AuditEntry AsDraft() => this with { PreviousHash = null, EntryHash = null };

    /// <summary>A capability call entry.</summary>
    public static AuditEntry Call(
        DateTimeOffset timestamp, Principal actor, string? sessionId, CapabilityName capability,
        JsonElement inputs, AuditStatus status, string outputSummary, AuditPolicyDecision? decision,
        long durationMs, AuditResourceUsage? usage = null, AuditClient? client = null, AuditMetadata? metadata = null) => new()
        {
            Id = Guid.CreateVersion7(timestamp),
            Timestamp = timestamp,
            Kind = AuditEntryKind.Call,
            Actor = actor,
            SessionId = sessionId,
            Capability = capability.Value,
            Inputs = InputSanitizer.Sanitize(inputs),
            Status = status,
            OutputSummary = outputSummary,
            PolicyDecision = decision,
            DurationMs = durationMs,
            ResourceUsage = usage,
            Client = client,
            Metadata = metadata ?? AuditMetadata.Empty,
        };

    /// <summary>
    /// The resolution of an approval request, linked to the held call by <paramref name="approvalRequestId"/>.
    /// <paramref name="decision"/> is <c>approved</c>, <c>rejected</c>, <c>timed_out</c> or <c>expired</c>;
    /// <paramref name="details"/> (<c>metadata.details</c>) names a human decider's credential, role and surface.
    /// </summary>
    public static AuditEntry ApprovalResolution(
        DateTimeOffset timestamp, Principal decidedBy, Principal requester, string? sessionId, CapabilityName capability,
        string approvalRequestId, string decision, string? reason, JsonElement? details = null) => new()
        {
            Id = Guid.CreateVersion7(timestamp),
            Timestamp = timestamp,
            Kind = AuditEntryKind.ApprovalResolution,
            Actor = requester,
            SessionId = sessionId,
            Capability = capability.Value,
            Status = AuditWire.StatusOfApprovalDecision(decision) ?? AuditStatus.Error,
            OutputSummary = reason ?? decision,
            PolicyDecision = new AuditPolicyDecision(Tier.ApprovalRequired, Reason: reason),
            Metadata = new AuditMetadata(ApprovalRequestId: approvalRequestId, ApprovalDecision: decision,
                DecidedBy: decidedBy.ToString(), Details: details),
        };

    /// <summary>A path that resolved outside the caller's mounts (mount label and resolved path).</summary>
    public static AuditEntry PathEscape(
        DateTimeOffset timestamp, Principal actor, string? sessionId, CapabilityName capability, string mountLabel,
        string resolvedPath) => new()
        {
            Id = Guid.CreateVersion7(timestamp),
            Timestamp = timestamp,
            Kind = AuditEntryKind.PathEscape,
            Actor = actor,
            SessionId = sessionId,
            Capability = capability.Value,
            Status = AuditStatus.Denied,
            OutputSummary = "path escape blocked",
            Metadata = new AuditMetadata(ErrorType: "PathOutOfScope", Details: JsonSerializer.SerializeToElement(
                new Dictionary<string, string> { ["mount"] = mountLabel, ["resolved_path"] = resolvedPath })),
        };

    /// <summary>A call blocked by a policy rule.</summary>
    public static AuditEntry PolicyViolation(
        DateTimeOffset timestamp, Principal actor, string? sessionId, CapabilityName capability, JsonElement inputs,
        AuditPolicyDecision decision) => new()
        {
            Id = Guid.CreateVersion7(timestamp),
            Timestamp = timestamp,
            Kind = AuditEntryKind.PolicyViolation,
            Actor = actor,
            SessionId = sessionId,
            Capability = capability.Value,
            Inputs = InputSanitizer.Sanitize(inputs),
            Status = AuditStatus.Denied,
            OutputSummary = decision.Reason ?? "blocked by policy",
            PolicyDecision = decision,
            Metadata = new AuditMetadata(ErrorType: "PolicyDenied"),
        };

    /// <summary>The capability name used by chain notes.</summary>
    public const string ChainNoteCapability = "audit.chain_note";

    /// <summary>
    /// A note written by the audit writer when it found a break: <paramref name="issue"/> locates it
    /// (<c>metadata.details</c> = <c>{break_kind, file, entry_index, offset, found}</c>). Found when the writer
    /// opened the log (<paramref name="atStartup"/>), logging continues on a new chain that starts at this entry;
    /// found by the background verification of the whole directory, the break lies somewhere behind it.
    /// </summary>
    public static AuditEntry ChainNote(DateTimeOffset timestamp, ChainIssue issue, bool atStartup = true) => new()
    {
        Id = Guid.CreateVersion7(timestamp),
        Timestamp = timestamp,
        Kind = AuditEntryKind.ChainNote,
        Actor = Principal.ForUser("system"),
        Capability = ChainNoteCapability,
        Status = AuditStatus.Error,
        OutputSummary = atStartup
            ? $"chain break found at startup: {issue}; continuing on a new chain"
            : $"chain break found by the background verification of the log: {issue}",
        Metadata = new AuditMetadata(ErrorType: "AuditChainBroken", Details: JsonSerializer.SerializeToElement(
            new Dictionary<string, object>
            {
                ["break_kind"] = issue.Kind.ToWire(),
                ["file"] = issue.File,
                ["entry_index"] = issue.EntryIndex,
                ["offset"] = issue.Offset,
                ["found"] = atStartup ? "startup" : "verification",
            })),
    };
}

/// <summary>Microsecond UTC timestamps as used by the audit log.</summary>
public static class AuditTime
{
    /// <summary>The text form in the canonical encoding: RFC 3339, UTC, exactly six fraction digits.</summary>
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    /// <summary>Converts to UTC and drops sub-microsecond ticks.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset t)
    {
        var utc = t.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - utc.Ticks % 10, TimeSpan.Zero);
    }

    /// <summary>Renders a timestamp in <see cref="Format"/>.</summary>
    public static string ToText(DateTimeOffset t) => Truncate(t).UtcDateTime.ToString(Format, CultureInfo.InvariantCulture);

    /// <summary>Parses <see cref="Format"/>.</summary>
    public static DateTimeOffset Parse(string text) => new(DateTime.SpecifyKind(
        DateTime.ParseExact(text, Format, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal), DateTimeKind.Utc));

    /// <summary>Microseconds since the Unix epoch (used by the index).</summary>
    public static long ToUnixMicros(DateTimeOffset t) => (Truncate(t).UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    /// <summary>Inverse of <see cref="ToUnixMicros"/>.</summary>
    public static DateTimeOffset FromUnixMicros(long us) => new(DateTimeOffset.UnixEpoch.UtcTicks + us * 10, TimeSpan.Zero);
}

/// <summary>Wire spellings of the audit enums.</summary>
public static class AuditWire
{
    /// <summary><c>success|denied|error|pending</c>.</summary>
    public static string ToWire(this AuditStatus s) => s switch
    {
        AuditStatus.Success => "success",
        AuditStatus.Denied => "denied",
        AuditStatus.Error => "error",
        AuditStatus.Pending => "pending",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    /// <summary>
    /// Parses a status; also accepts the aliases <c>ok</c>/<c>allowed</c>, <c>blocked</c>, <c>failed</c> and
    /// <c>held</c>. Approval decisions (<c>approved</c>, …) are not statuses: see <see cref="TryParseApprovalDecision"/>.
    /// </summary>
    public static bool TryParseStatus(string? text, out AuditStatus status)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "success" or "ok" or "allowed": status = AuditStatus.Success; return true;
            case "denied" or "blocked": status = AuditStatus.Denied; return true;
            case "error" or "failed": status = AuditStatus.Error; return true;
            case "pending" or "held": status = AuditStatus.Pending; return true;
            default: status = default; return false;
        }
    }

    /// <summary>The approval decisions an entry's <c>metadata.approval_decision</c> can hold.</summary>
    public static readonly IReadOnlyList<string> ApprovalDecisions = ["approved", "rejected", "timed_out", "expired"];

    /// <summary>Parses an approval decision (<c>approved</c>, <c>rejected</c>, <c>timed_out</c> or <c>expired</c>).</summary>
    public static bool TryParseApprovalDecision(string? text, out string decision)
    {
        var t = text?.Trim().ToLowerInvariant();
        decision = t is not null && ApprovalDecisions.Contains(t) ? t : "";
        return decision.Length > 0;
    }

    /// <summary>
    /// The status of the entries an approval decision ends: <c>approved</c> → success, <c>rejected</c> → denied,
    /// <c>timed_out</c> and <c>expired</c> → error (a timeout is never consent, nor a human refusal). The
    /// <c>approval_resolution</c> entry and the held call's final entry get the same status. Null for anything else.
    /// </summary>
    public static AuditStatus? StatusOfApprovalDecision(string? decision) => decision switch
    {
        "approved" => AuditStatus.Success,
        "rejected" => AuditStatus.Denied,
        "timed_out" or "expired" => AuditStatus.Error,
        _ => null,
    };

    /// <summary><c>call|approval_resolution|chain_note|path_escape|policy_violation</c>.</summary>
    public static string ToWire(this AuditEntryKind k) => k switch
    {
        AuditEntryKind.Call => "call",
        AuditEntryKind.ApprovalResolution => "approval_resolution",
        AuditEntryKind.ChainNote => "chain_note",
        AuditEntryKind.PathEscape => "path_escape",
        AuditEntryKind.PolicyViolation => "policy_violation",
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, null),
    };

    /// <summary>Inverse of <see cref="ToWire(AuditEntryKind)"/>.</summary>
    public static AuditEntryKind ParseKind(string text) => text switch
    {
        "call" => AuditEntryKind.Call,
        "approval_resolution" => AuditEntryKind.ApprovalResolution,
        "chain_note" => AuditEntryKind.ChainNote,
        "path_escape" => AuditEntryKind.PathEscape,
        "policy_violation" => AuditEntryKind.PolicyViolation,
        _ => throw new FormatException($"unknown audit entry kind '{text}'"),
    };

    /// <summary>Parses a status in its wire spelling only.</summary>
    public static AuditStatus ParseStatus(string text) => text switch
    {
        "success" => AuditStatus.Success,
        "denied" => AuditStatus.Denied,
        "error" => AuditStatus.Error,
        "pending" => AuditStatus.Pending,
        _ => throw new FormatException($"unknown audit status '{text}'"),
    };
}
