using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Approvals;

/// <summary>
/// The re-attach protocol of held calls (ADR 0058): a call held for approval whose session went away (its node stopped or
/// was killed, the session restarted) is answered <c>ApprovalReattach</c> carrying the approval id, never left waiting;
/// the client (mcp-bridge, or the gateway's own edge) sends the identical call again naming that approval in
/// <c>params._meta["kruxos/approval_id"]</c>, and the session joins exactly that approval instead of asking again.
/// The id is only a hint: the call is decided by policy again, and the approval entity admits it only when the approval
/// was requested for the identical call (same agent, capability and canonical arguments).
/// </summary>
public static class ApprovalReattach
{
    /// <summary>Where a re-sent call names its approval: <c>params._meta["kruxos/approval_id"]</c>.</summary>
    public const string MetaField = "kruxos/approval_id";

    /// <summary>The error type of the answer.</summary>
    public const string ErrorType = "ApprovalReattach";

    /// <summary>
    /// Reads the re-attach hint of a call from the value at <see cref="MetaField"/>: null when absent; the id when it is a
    /// string that parses as an approval id; otherwise an <c>InvalidInput</c> refusal naming the field.
    /// </summary>
    public static (ApprovalId? Id, StructuredError? Refusal) Read(JsonElement? value)
    {
        if (value is not { } v || v.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return (null, null);
        if (v.ValueKind != JsonValueKind.String) return (null, Errors.Errors.InvalidInput("_meta." + MetaField, "must be a string"));
        if (ArgumentText.Find(v) is { } malformed) return (null, Errors.Errors.InvalidInput("_meta." + MetaField, malformed.Reason));
        return ApprovalId.TryParse(v.GetString(), out var id)
            ? (id, null)
            : (null, Errors.Errors.InvalidInput("_meta." + MetaField, "must be an approval id (appr-…)"));
    }

    /// <summary>The approval a <c>ApprovalReattach</c> answer names, or null for any other answer.</summary>
    public static ApprovalId? Of(StructuredError? error)
    {
        if (error is not { ErrorType: ErrorType } e || !e.Context.TryGetValue("request_id", out var v) || v.ValueKind != JsonValueKind.String) return null;
        return ApprovalId.TryParse(v.GetString(), out var id) ? id : null;
    }
}
