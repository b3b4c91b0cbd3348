using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;

namespace KruxOS.Actors.Approvals;

/// <summary>What an agent's approval poll found: a malformed id, nothing it may see, or its approval's state.</summary>
public abstract record ApprovalPoll
{
    private ApprovalPoll() { }

    /// <summary>The text is not an approval id (<c>appr-…</c>): a protocol error at the edge.</summary>
    public sealed record InvalidId : ApprovalPoll
    {
        /// <summary>The only instance.</summary>
        public static readonly InvalidId Instance = new();
    }

    /// <summary>No approval with this id that the asker may see (unknown, or another agent's).</summary>
    public sealed record NotFound(ApprovalId Id) : ApprovalPoll;

    /// <summary>The asker's own approval, as the node's index last saw it.</summary>
    public sealed record Found(ApprovalId Id, ApprovalState State) : ApprovalPoll;
}

/// <summary>
/// The one approval poll of the agent-facing edges (MCP <c>kruxos/checkApproval</c>, <c>/rpc approvals.check</c>):
/// parses the id, reads the node's <see cref="ApprovalIndex"/> (without waiting for its replay: a poll is retried)
/// and shows an agent only its own approvals. Another agent's approval is indistinguishable from an unknown id,
/// so a poll cannot confirm that an id exists.
/// </summary>
public static class ApprovalCheck
{
    /// <summary>Looks up <paramref name="requestId"/> for <paramref name="asker"/> (null: a caller acting for no agent, who sees none).</summary>
    public static ApprovalPoll Find(ApprovalIndex index, AgentName? asker, string? requestId)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (!ApprovalId.TryParse(requestId, out var id)) return ApprovalPoll.InvalidId.Instance;
        return index.Get(id) is { Request: { } request } state && asker is { } agent && request.Agent == agent
            ? new ApprovalPoll.Found(id, state)
            : new ApprovalPoll.NotFound(id);
    }
}
