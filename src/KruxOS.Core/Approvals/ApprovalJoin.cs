namespace KruxOS.Core.Approvals;

/// <summary>Which approval a call that needs one waits on: one it joins, or a new one its session requests.</summary>
/// <param name="Id">The approval.</param>
/// <param name="IsNew">True when the session must create (request) it; false when the call joins it.</param>
public readonly record struct ApprovalChoice(ApprovalId Id, bool IsNew);

/// <summary>
/// The dedupe rule of approvals: identical calls of one agent (same capability, same canonical arguments) wait on one
/// approval. A call joins the approval its session already requested for the identical call, else the open one the
/// node's index knows, else a new one is requested. An approval the call found closed (<c>closed</c>) is never joined again.
/// </summary>
public static class ApprovalJoin
{
    /// <summary>
    /// Chooses: <paramref name="inFlight"/> (requested by this session, not yet known to the index), then
    /// <paramref name="indexOpen"/> (pending, or an unused grant, in the index), skipping <paramref name="closed"/>;
    /// otherwise a new id from <paramref name="newId"/>.
    /// </summary>
    public static ApprovalChoice Choose(ApprovalId? inFlight, ApprovalId? indexOpen, ApprovalId? closed, Func<ApprovalId> newId)
    {
        ArgumentNullException.ThrowIfNull(newId);
        if (inFlight is { } mine && mine != closed) return new ApprovalChoice(mine, false);
        if (indexOpen is { } open && open != closed) return new ApprovalChoice(open, false);
        return new ApprovalChoice(newId(), true);
    }
}
