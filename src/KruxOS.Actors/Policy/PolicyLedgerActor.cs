using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using KruxOS.Actors.Persistence;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Policy;

/// <summary>Registry key of the cluster's policy ledger (a cluster singleton <c>policy-ledger</c>; cluster mode only).</summary>
public sealed class PolicyLedgerKey;

/// <summary>
/// The cluster's one policy revision (ADR 0059), event-sourced under <c>policy-ledger</c>: a node's compiled policy files
/// become the next generation only here, compare-and-set on the generation the node edited (<see cref="PolicyLedger.Decide"/>).
/// Once a generation is durable the proposer is answered and every node's policy loader hears of it on
/// <see cref="Topic"/> (they also ask every few seconds, so a missed publish is caught up).
/// </summary>
public sealed class PolicyLedgerActor
    : DecidingPersistentActor<ClusterPolicyRevision, PolicyLedgerCommands.Propose, PolicyRevisionPublished, object>
{
    /// <summary>The persistence id; never changes.</summary>
    public const string Id = "policy-ledger";

    /// <summary>The pub-sub topic every node's loader subscribes to.</summary>
    public const string Topic = "kruxos.policy";

    private readonly TimeProvider _clock;

    public PolicyLedgerActor(TimeProvider clock) : base(ClusterPolicyRevision.None, snapshotEvery: 20, description: "Policy ledger")
    {
        _clock = clock;
        Command<PolicyLedgerCommands.GetCurrent>(_ => Sender.Tell(State));
    }

    /// <inheritdoc />
    public override string PersistenceId => Id;

    /// <summary>The ledger's props.</summary>
    public static Props Props(TimeProvider clock) => Akka.Actor.Props.Create(() => new PolicyLedgerActor(clock));

    /// <inheritdoc />
    protected override (object Reply, ImmutableArray<PolicyRevisionPublished> Events) Decide(ClusterPolicyRevision state, PolicyLedgerCommands.Propose command)
    {
        var (reply, published) = PolicyLedger.Decide(state, command, _clock.GetUtcNow());
        return (reply, published is null ? [] : [published]);
    }

    /// <inheritdoc />
    protected override ClusterPolicyRevision Apply(ClusterPolicyRevision state, PolicyRevisionPublished @event) => PolicyLedger.Apply(state, @event);

    /// <inheritdoc />
    protected override object ToSnapshot(ClusterPolicyRevision state) => state;

    /// <inheritdoc />
    protected override ClusterPolicyRevision? FromSnapshot(object snapshot) => snapshot as ClusterPolicyRevision;

    /// <inheritdoc />
    protected override void Persisted()
    {
        Log.Info("Policy generation {0} (revision {1}) accepted from {2}", State.Generation, State.Revision, State.Origin);
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(Topic, State));
    }

    /// <inheritdoc />
    protected override object Malformed(PolicyLedgerCommands.Propose command) => new PolicyLedgerReplies.Refused("malformed proposal", false, State);
}
