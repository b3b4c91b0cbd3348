using System.Globalization;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Audit;

/// <summary>
/// Everything the pipeline knows about a finished call, from which its audit entries are made.
/// </summary>
/// <param name="At">When the call entered the tool run.</param>
/// <param name="Principal">The authenticated caller.</param>
/// <param name="Agent">The agent whose session handled the call.</param>
/// <param name="SessionId">The connection's session id.</param>
/// <param name="Capability">The dotted capability name, or the name as requested when it did not resolve.</param>
/// <param name="Arguments">The normalized arguments (not yet sanitized).</param>
/// <param name="Client">The client program that drove the call.</param>
/// <param name="Status">Outcome.</param>
/// <param name="Tier">The policy tier, when policy decided.</param>
/// <param name="Rule">The deciding rule reference.</param>
/// <param name="PolicyRevision">The policy revision that decided (12 hex digits, or <c>definitions</c>).</param>
/// <param name="PolicyReason">Why policy decided so.</param>
/// <param name="Error">The error returned to the caller, if any.</param>
/// <param name="DurationMicros">Wall time of the call.</param>
/// <param name="ApprovalRequestId">The approval the call was held on (<c>metadata.approval_request_id</c>), if any.</param>
/// <param name="ApprovalDecision">How that approval ended for this call (<c>metadata.approval_decision</c>), if it has.</param>
/// <param name="NativeTool">For a PreToolUse hook decision, the client's own tool (<c>metadata.details.native_tool</c>); the gateway did not run anything.</param>
/// <param name="IdempotencyKey">The call's idempotency key (<c>metadata.details.idempotency_key</c>), if it had one.</param>
/// <param name="Usage">What the capability consumed, as its handler measured it (<c>resource_usage</c>); null when not measured.</param>
/// <param name="OutputBytes">Size of the output returned on success (the <c>output_summary</c> gives it, never the content).</param>
/// <param name="Trigger">What started the call when the gateway did (a scheduled job): <c>metadata.details.trigger</c> and <c>job_id</c>.</param>
/// <param name="PolicyGeneration">In a cluster, the cluster policy generation that decided (<c>policy_decision.revision</c>, ADR 0059).</param>
public sealed record CallRecord(
    DateTimeOffset At,
    Principal Principal,
    AgentName Agent,
    string SessionId,
    string Capability,
    JsonElement Arguments,
    ClientInfo Client,
    AuditStatus Status,
    Tier? Tier,
    string? Rule,
    string? PolicyRevision,
    string? PolicyReason,
    StructuredError? Error,
    long DurationMicros,
    string? ApprovalRequestId = null,
    string? ApprovalDecision = null,
    string? NativeTool = null,
    string? IdempotencyKey = null,
    AuditResourceUsage? Usage = null,
    long? OutputBytes = null,
    CallTrigger? Trigger = null,
    long? PolicyGeneration = null);

/// <summary>
/// Pure mapping of a finished call to the audit entries the tool run appends, in chain order: first a
/// <c>policy_violation</c> or <c>path_escape</c> entry when the call was blocked by policy or escaped its
/// mounts, then the call entry itself. Inputs are sanitized by <see cref="InputSanitizer"/> (through the
/// <see cref="AuditEntry"/> factories); error texts have tokens redacted.
/// </summary>
public static class CallAudit
{
    /// <summary>Error type a capability reports when a path resolves outside the caller's mounts.</summary>
    public const string PathOutOfScope = "PathOutOfScope";

    /// <summary>
    /// The record of <paramref name="call"/> at <paramref name="status"/>: its <c>pending</c> entry while held for approval
    /// (no <paramref name="result"/> yet), or its final entry with the answer the caller gets.
    /// </summary>
    /// <param name="call">The call as the edge submitted it.</param>
    /// <param name="capability">The dotted capability name, or the requested name when it did not resolve.</param>
    /// <param name="arguments">The arguments recorded: the normalized ones once the capability resolved, else as sent.</param>
    /// <param name="verdict">The policy verdict, when policy decided.</param>
    /// <param name="at">When the call entered the run (final entry) or was held (pending entry).</param>
    /// <param name="status">Outcome.</param>
    /// <param name="result">The answer (final entry only).</param>
    /// <param name="approvalId">The approval the call was held on, if any.</param>
    /// <param name="approvalDecision">How that approval ended for this call, if it has.</param>
    /// <param name="usage">What the capability consumed, if measured.</param>
    public static CallRecord Record(ToolCall call, string capability, JsonElement arguments, PolicyVerdict? verdict, DateTimeOffset at,
        AuditStatus status, ToolCallResult? result = null, string? approvalId = null, string? approvalDecision = null, AuditResourceUsage? usage = null)
    {
        ArgumentNullException.ThrowIfNull(call);
        return new CallRecord(at, call.Principal, call.Agent, call.SessionId, capability, arguments, call.Client, status, verdict?.Tier,
            verdict?.Rule, verdict?.Revision, verdict?.Reason, result?.Error, result?.DurationMicros ?? 0, approvalId, approvalDecision,
            call.NativeTool, call.IdempotencyKey, usage,
            result?.Data is { } data ? System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(data).Length : null, call.Trigger,
            verdict?.Generation);
    }

    /// <summary>The entries of one call, in the order they are appended.</summary>
    public static IReadOnlyList<AuditEntry> Entries(CallRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var call = ToEntry(record);
        return Event(record, call) is { } e ? [e, call] : [call];
    }

    /// <summary>The call entry (kind <c>call</c>).</summary>
    public static AuditEntry ToEntry(CallRecord r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var decision = Decision(r);
        var metadata = new AuditMetadata(ApprovalRequestId: r.ApprovalRequestId, ApprovalDecision: r.ApprovalDecision, ErrorType: r.Error?.ErrorType, Details: Details(r));
        var client = r.Client == ClientInfo.Unknown || string.IsNullOrEmpty(r.Client.Name)
            ? null
            : new AuditClient(r.Client.Name, string.IsNullOrEmpty(r.Client.Version) ? null : r.Client.Version);
        var durationMs = Math.Max(0, r.DurationMicros / 1000);
        if (CapabilityName.TryParse(r.Capability, out var name))
            return AuditEntry.Call(r.At, r.Principal, r.SessionId, name, r.Arguments, r.Status, Summary(r), decision, durationMs,
                r.Usage, client, metadata);
        // The requested name did not resolve: keep it as given (tokens redacted) so the attempt is on record.
        return AuditEntry.Call(r.At, r.Principal, r.SessionId, UnresolvedName, r.Arguments, r.Status, Summary(r), decision, durationMs,
            r.Usage, client, metadata) with { Capability = InputSanitizer.RedactTokens(r.Capability) };
    }

    private static readonly CapabilityName UnresolvedName = CapabilityName.Parse("unknown.capability");

    private static AuditEntry? Event(CallRecord r, AuditEntry call)
    {
        if (!CapabilityName.TryParse(r.Capability, out var name)) return null;
        if (r.Tier == Tier.Blocked && r.Error?.ErrorType == "PolicyDenied")
        {
            return r.Rule == SystemProtections.PathEscape.Reference
                ? AuditEntry.PathEscape(call.Timestamp, r.Principal, r.SessionId, name, "-", "a path argument climbs above '/'")
                : AuditEntry.PolicyViolation(call.Timestamp, r.Principal, r.SessionId, name, r.Arguments, call.PolicyDecision!);
        }
        if (r.Error is { ErrorType: PathOutOfScope } e)
        {
            return AuditEntry.PathEscape(call.Timestamp, r.Principal, r.SessionId, name,
                e.ContextString("mount") ?? "-", InputSanitizer.RedactTokens(e.ContextString("resolved_path") ?? e.ContextString("path") ?? "-"));
        }
        return null;
    }

    private static AuditPolicyDecision? Decision(CallRecord r)
    {
        if (r.Tier is not { } tier) return null;
        return new AuditPolicyDecision(tier, r.Rule, r.PolicyGeneration ?? NumericRevision(r.PolicyRevision), r.PolicyReason is null ? null : InputSanitizer.RedactTokens(r.PolicyReason));
    }

    // The format stores an integer revision; the policy engine names revisions by 12 hex digits, which go
    // to metadata.details.policy_revision instead (see docs/audit-format.md §3.1).
    private static long? NumericRevision(string? revision) =>
        long.TryParse(revision, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static JsonElement? Details(CallRecord r)
    {
        var details = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (r.PolicyRevision is { } rev && NumericRevision(rev) is null) details["policy_revision"] = rev;
        if (r.Principal.Kind != PrincipalKind.Agent || r.Principal.Name != r.Agent.Value) details["agent"] = r.Agent.Value;
        if (r.NativeTool is { } tool)
        {
            details["native_tool"] = InputSanitizer.RedactTokens(tool);
            details["hook"] = "pre_tool_use";
        }
        // The initiating CLI (X-KruxOS-Client) next to the clientInfo in client{name, version}.
        if (r.Client.Cli is { } cli) details["client_cli"] = cli;
        if (r.IdempotencyKey is { } key) details["idempotency_key"] = key;
        // A call the gateway started itself (a scheduled job): what triggered it and which job.
        if (r.Trigger is { } trigger)
        {
            details["trigger"] = InputSanitizer.RedactTokens(trigger.Kind);
            details["job_id"] = InputSanitizer.RedactTokens(trigger.JobId);
        }
        return details.Count == 0 ? null : JsonSerializer.SerializeToElement(details);
    }

    private static string Summary(CallRecord r) => r.Error is { } e
        ? InputSanitizer.RedactTokens($"{e.ErrorType}: {e.Message}")
        : r.Status switch
        {
            AuditStatus.Success when r.NativeTool is not null => "allowed: the client runs its native tool",
            // The size of what was returned, never its content: outputs may hold file contents or secrets.
            AuditStatus.Success when r.OutputBytes is { } bytes => string.Create(CultureInfo.InvariantCulture, $"ok: {bytes} bytes of output"),
            AuditStatus.Success => "ok",
            AuditStatus.Pending => "held for approval",
            _ => r.Status.ToWire(),
        };
}
