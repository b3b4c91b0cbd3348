using Akka.Actor;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;

namespace KruxOS.Actors.Approvals;

/// <summary>
/// The owner of approval dedupe for one agent's session: which approval each call that needs one waits on, and the
/// approvals the session requested that the node's index does not know yet. It is the only thing that sends
/// <see cref="ApprovalCommands.RequestApproval"/> for the agent, and it is called only on its session's thread, so a new
/// request always reaches its approval before the hold of any identical call planned to join it. Its map lives with the
/// session's state (a restart of the session keeps it). The rule itself is <see cref="ApprovalJoin.Choose"/>.
/// </summary>
/// <param name="region">The approval region; none: calls that need approval fail closed.</param>
/// <param name="index">The node's approval read model; none: as without a region.</param>
/// <param name="holdTimeout">The hold deadline of a new request, from when it is made (default one day).</param>
/// <param name="clock">The clock requests are stamped with.</param>
public sealed class ApprovalJoiner(IActorRef? region, ApprovalIndex? index, TimeSpan? holdTimeout, TimeProvider clock)
{
    // Approvals requested for this agent's runs, by (capability, argument hash), until the index knows them: an
    // identical call joins them.
    private readonly Dictionary<(string Capability, string Hash), ApprovalId> _requested = [];

    private TimeSpan Hold => holdTimeout ?? TimeSpan.FromDays(1);

    /// <summary>True when this node has an approval queue: calls that need approval can be held.</summary>
    public bool Available => region is not null && index is not null;

    /// <summary>True while the index is still replaying the journal and cannot tell whether an identical call is pending.</summary>
    public bool IndexLoading => index is { Ready.IsCompleted: false };

    /// <summary>
    /// The approval a call of <paramref name="agent"/> that needs one waits on: exactly <paramref name="reattach"/> for a
    /// keyed call held before a restart, else one it joins, else a new one (recorded here; <see cref="RequestIfNew"/> sends it).
    /// </summary>
    public ApprovalPlan Assign(AgentName agent, string capability, string argumentsHash, ApprovalId? reattach)
    {
        var region = Region();
        if (reattach is { } held) return new ApprovalPlan(held, argumentsHash, false, region, Hold, Reattach: true);
        return Choose(agent, capability, argumentsHash, closed: null);
    }

    /// <summary>Sends the request of a run whose plan created its approval, with the run as the sender of the request.</summary>
    public void RequestIfNew(ToolRunPlan plan, IActorRef run)
    {
        if (plan.Approval is { IsNew: true } approval) Request(plan, approval, run);
    }

    /// <summary>
    /// The approval a run waits on now that the one it tried to join (<see cref="ApprovalNeeded.Closed"/>) turned out closed
    /// or never recorded: another identical run's newer request, the index's open one, or a new one requested at once.
    /// </summary>
    public ApprovalPlan Reassign(ApprovalNeeded m, IActorRef run)
    {
        var plan = Choose(m.Plan.Call.Agent, m.Plan.Capability!.Name.Value, m.Plan.Approval!.ArgumentsHash, m.Closed);
        if (plan.IsNew) Request(m.Plan, plan, run);
        return plan;
    }

    /// <summary>
    /// A run no longer waits on its approval. The request is forgotten only once the index knows it: until then (its
    /// acknowledgement may still be on its way) an identical call must keep joining it rather than create a second one.
    /// </summary>
    public void Settled(ApprovalSettled m)
    {
        var key = (m.Capability, m.ArgumentsHash);
        if (_requested.TryGetValue(key, out var id) && id == m.Id && index?.Get(id) is not null) _requested.Remove(key);
    }

    private ApprovalPlan Choose(AgentName agent, string capability, string hash, ApprovalId? closed)
    {
        var key = (capability, hash);
        var choice = ApprovalJoin.Choose(_requested.TryGetValue(key, out var mine) ? mine : null, index!.FindOpen(agent, capability, hash), closed, ApprovalId.New);
        if (choice.IsNew) _requested[key] = choice.Id;
        return new ApprovalPlan(choice.Id, hash, choice.IsNew, Region(), Hold);
    }

    private IActorRef Region() => region ?? throw new InvalidOperationException("no approval queue on this node");

    private void Request(ToolRunPlan plan, ApprovalPlan approval, IActorRef run) =>
        approval.Region.Tell(new ApprovalCommands.RequestApproval(ApprovalRequests.For(plan, approval, clock.GetUtcNow())), run);
}

/// <summary>The approval request a planned call makes.</summary>
public static class ApprovalRequests
{
    /// <summary>The request for <paramref name="plan"/>'s call under <paramref name="approval"/>'s id, made at <paramref name="now"/>.</summary>
    public static ApprovalRequest For(ToolRunPlan plan, ApprovalPlan approval, DateTimeOffset now)
    {
        var call = plan.Call;
        var verdict = plan.Verdict!;
        return new ApprovalRequest(approval.Id, call.Principal, call.Agent, call.SessionId, plan.Capability!.Name.Value,
            ApprovalArguments.Redact(plan.Arguments), approval.ArgumentsHash, verdict.Rule, verdict.Revision, verdict.Reason, call.Client,
            now, now + approval.HoldTimeout);
    }
}
