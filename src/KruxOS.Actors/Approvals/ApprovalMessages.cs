using Akka.Actor;
using Akka.Persistence.Journal;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Serialization;

namespace KruxOS.Actors.Approvals;

/// <summary>Registry key of the approval region (shard region or its single-node stand-in).</summary>
public sealed class ApprovalRegion;

/// <summary>Messages to an approval entity besides the pure commands, and its replies.</summary>
public static class ApprovalMessages
{
    /// <summary>
    /// A call asks to run under this approval. Pending: with <paramref name="Wait"/> the waiter is held
    /// until the decision, otherwise it only learns the status (<see cref="Held"/>). On a granted approval the hold is
    /// the waiter's claim (<see cref="ApprovalCommands.ClaimGrant"/>, the waiter's full actor path as claimant): the first
    /// claim of the identical call spends the grant. The waiter gets <see cref="Held"/> when it is registered,
    /// <see cref="GrantOffered"/> when the approval is accepted, and one <see cref="Released"/> when it may run or must fail.
    /// </summary>
    [WireName("approval.hold.v1")]
    public sealed record Hold(ApprovalId ApprovalId, IActorRef Waiter, AgentName Agent, string Capability, string ArgumentsHash, bool Wait)
        : IWithApprovalId, IKruxMessage;

    /// <summary>The waiter's caller went away: stop holding it (the request stays pending).</summary>
    [WireName("approval.release-waiter.v1")]
    public sealed record ReleaseWaiter(ApprovalId ApprovalId, IActorRef Waiter) : IWithApprovalId, IKruxMessage;

    /// <summary>Asks for the approval's <see cref="ApprovalState"/>.</summary>
    [WireName("approval.get.v1")]
    public sealed record GetApproval(ApprovalId ApprovalId) : IWithApprovalId, IKruxMessage;

    /// <summary>Wakes the entity so it acts on a deadline that may have passed (sent by the index after a restart).</summary>
    [WireName("approval.check-deadline.v1")]
    public sealed record CheckDeadline(ApprovalId ApprovalId) : IWithApprovalId, IKruxMessage;

    /// <summary>The approval is pending and the waiter is registered (or, without wait, only informed).</summary>
    [WireName("approval.held.v1")]
    public sealed record Held(ApprovalState State) : IKruxMessage;

    /// <summary>
    /// The approval was accepted while the waiter held on it: the waiter claims the grant by holding again (a
    /// <see cref="Hold"/> on a granted approval is its claim, ADR 0058). The first claim spends it and is answered
    /// <see cref="Released"/> with <c>Execute</c>; a waiter that never claims (its node died) leaves the grant to the call
    /// that re-attaches, until the grant window ends.
    /// </summary>
    [WireName("approval.grant-offered.v1")]
    public sealed record GrantOffered(ApprovalState State) : IKruxMessage;

    /// <summary>The wait is over: <paramref name="Execute"/> is true only for the one call that spent the approval.</summary>
    [WireName("approval.released.v1")]
    public sealed record Released(ApprovalState State, bool Execute, string Message) : IKruxMessage;
}

/// <summary>Tags every approval event with <see cref="Tag"/> so the index can be rebuilt with a tag query.</summary>
public sealed class ApprovalEventTagger : IWriteEventAdapter
{
    /// <summary>The journal tag of approval events.</summary>
    public const string Tag = "approval";

    /// <inheritdoc />
    public string Manifest(object evt) => string.Empty;

    /// <inheritdoc />
    public object ToJournal(object evt) => evt is IApprovalEvent ? new Tagged(evt, [Tag]) : evt;
}

/// <summary>Routes <see cref="IWithApprovalId"/> messages to the approval's entity (shard region and single-node parent alike).</summary>
public sealed class ApprovalMessageExtractor() : Akka.Cluster.Sharding.HashCodeMessageExtractor(ShardCount)
{
    /// <summary>About ten times the largest planned cluster. Frozen once deployed.</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as IWithApprovalId)?.ApprovalId.Value;
}
