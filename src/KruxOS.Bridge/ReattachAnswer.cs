using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Approvals;

namespace KruxOS.Bridge;

/// <summary>
/// The bridge's half of the held-call re-attach (ADR 0058): a <c>tools/call</c> answered with the gateway's
/// <c>ApprovalReattach</c> error (the session that held the call went away before its approval released it; nothing ran)
/// is not shown to the client. The bridge sends the same request again — same id, same idempotency key — naming the
/// approval in <c>params._meta["kruxos/approval_id"]</c>, and the gateway joins that approval instead of asking again.
/// </summary>
public static class ReattachAnswer
{
    /// <summary>Most re-attaches of one request; the next <c>ApprovalReattach</c> answer goes to the client as it is.</summary>
    public const int MaxReattaches = 20;

    /// <summary>Longest wait before a re-attach (the gateway's <c>retry_after</c> is capped by this).</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The approval and delay of a <c>tools/call</c> response that is an <c>ApprovalReattach</c> error, or null for any other
    /// message. Only the exact shape the gateway renders is recognised (result.isError, one text block holding the error).
    /// </summary>
    public static (string ApprovalId, TimeSpan Delay)? Of(string responseText)
    {
        try
        {
            if (JsonNode.Parse(responseText) is not JsonObject root || root["result"] is not JsonObject result) return null;
            if (result["isError"] is not JsonValue isError || !isError.TryGetValue<bool>(out var error) || !error) return null;
            if (result["content"] is not JsonArray { Count: > 0 } content || content[0]?["text"] is not JsonValue text || !text.TryGetValue<string>(out var body)) return null;
            if (JsonNode.Parse(body) is not JsonObject e || (string?)e["error"] != ApprovalReattach.ErrorType) return null;
            if (e["context"]?["request_id"] is not JsonValue id || !id.TryGetValue<string>(out var approval) || !ApprovalId.TryParse(approval, out _)) return null;
            var seconds = e["retry_after"] is JsonValue ra && ra.TryGetValue<double>(out var s) && double.IsFinite(s) ? s : 1;
            var delay = TimeSpan.FromSeconds(Math.Clamp(seconds, 0, MaxDelay.TotalSeconds));
            return (approval, delay);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The request <paramref name="requestText"/> with <c>params._meta["kruxos/approval_id"]</c> set to <paramref name="approvalId"/>.</summary>
    public static string WithApproval(string requestText, string approvalId)
    {
        var root = JsonNode.Parse(requestText)!.AsObject();
        if (root["params"] is not JsonObject parameters) root["params"] = parameters = new JsonObject();
        if (parameters["_meta"] is not JsonObject meta) parameters["_meta"] = meta = new JsonObject();
        meta[ApprovalReattach.MetaField] = approvalId;
        return root.ToJsonString();
    }
}
