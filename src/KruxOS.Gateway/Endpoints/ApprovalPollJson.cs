using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// The wire answer of an agent's approval poll (<see cref="ApprovalCheck"/>), shared by MCP
/// <c>kruxos/checkApproval</c> and <c>/rpc approvals.check</c>: the approval as operators see it, plus
/// <c>request_id</c>, the decision's reason and decider, and (MCP only) when it was decided.
/// </summary>
public static class ApprovalPollJson
{
    /// <summary>An id the agent may not see, or that does not exist.</summary>
    public static JsonObject NotFound(ApprovalPoll.NotFound poll) => new() { ["request_id"] = poll.Id.Value, ["status"] = "not_found" };

    /// <summary>The agent's own approval at <paramref name="now"/>; <paramref name="decidedAt"/> adds <c>decided_at</c>.</summary>
    public static JsonObject Found(ApprovalPoll.Found poll, DateTimeOffset now, bool decidedAt)
    {
        var state = poll.State;
        var json = Admin.AdminJson.Approval(state, now, false);
        json["request_id"] = poll.Id.Value;
        json["reason"] = state.Decision?.Reason;
        json["decided_by"] = state.Decision?.DecidedBy;
        if (decidedAt) json["decided_at"] = state.Decision?.At.ToString("O");
        return json;
    }
}
