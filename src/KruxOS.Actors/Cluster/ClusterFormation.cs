using Akka.Actor;
using Akka.Event;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Cluster;

namespace KruxOS.Actors.Cluster;

/// <summary>A node could not become a member of the journal's cluster; the gateway stops at start with this message.</summary>
public sealed class ClusterStartException(string message) : Exception(message);

/// <summary>
/// How a node becomes a member at start (ADR 0047). Akka's own seed-node process would let the first seed node form a new
/// cluster whenever it reaches no other seed, which with one shared journal is a silent split brain. Instead:
/// the node asks its seed nodes to let it join (Akka's join process, which never forms a cluster by itself); if after
/// <see cref="ClusterNodeSettings.SeedNodeWait"/> it is still outside, it forms a new cluster only by taking the journal's
/// <see cref="ClusterLeaseStore">cluster lease</see>, which is free only when no running cluster renews it. A node that can
/// neither join nor take the lease within <see cref="ClusterNodeSettings.FormationTimeout"/> stops, naming the holder.
/// </summary>
public static class ClusterFormation
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);

    /// <summary>Joins or forms; completes once this node is Up, throws <see cref="ClusterStartException"/> otherwise.</summary>
    public static async Task JoinAsync(ActorSystem system, KruxOsSettings settings, ClusterLeaseStore lease, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(lease);
        var log = Logging.GetLogger(system, typeof(ClusterFormation).FullName!);
        var cluster = Akka.Cluster.Cluster.Get(system);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        var self = cluster.SelfAddress;
        var (seeds, _) = ClusterAddresses.ParseSeeds(settings.Cluster.SeedNodes, KruxOsSettings.ActorSystemName);
        var others = seeds.Select(s => Address.Parse(ClusterAddresses.ToAkkaAddress(s, KruxOsSettings.ActorSystemName)))
            .Where(a => !SameEndpoint(a, self)).ToList();
        if (others.Count > 0)
        {
            log.Info("Cluster: joining through seed nodes {0}", string.Join(", ", others));
            cluster.JoinSeedNodes(others);
        }

        var started = DateTime.UtcNow;
        ClusterLeaseRow? last = null;
        Exception? leaseError = null;
        var formed = false;
        while (!up.Task.IsCompleted)
        {
            var elapsed = DateTime.UtcNow - started;
            if (elapsed > settings.Cluster.FormationTimeout) break;
            if (others.Count == 0 || elapsed >= settings.Cluster.SeedNodeWait)
            {
                try
                {
                    last = await lease.ReadAsync(ct).ConfigureAwait(false);
                    leaseError = null;
                    if (ClusterLeaseRules.MayForm(last, UniqueAddressText(cluster))
                        && await lease.TryWriteAsync(last.Version, UniqueAddressText(cluster), settings.Cluster.LeaseTtl, ct).ConfigureAwait(false))
                    {
                        log.Info("Cluster: no running cluster holds the journal's lease; forming a new cluster at {0}", self);
                        cluster.Join(self);
                        formed = true;
                        break;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    leaseError = e;
                    log.Warning("Cluster: cannot read or write the journal's cluster lease yet ({0}): {1}", e.GetType().Name, e.Message);
                }
            }
            await Task.WhenAny(up.Task, Task.Delay(Poll, ct)).ConfigureAwait(false);
        }

        // Formed (joined itself): becoming Up is local and quick; bounded all the same.
        if (formed && await Task.WhenAny(up.Task, Task.Delay(TimeSpan.FromSeconds(30), ct)).ConfigureAwait(false) == up.Task) return;
        if (up.Task.IsCompleted) return;

        var seedsText = others.Count == 0 ? "no seed nodes other than itself" : "seed nodes " + string.Join(", ", seeds);
        var reason = leaseError is not null
            ? $"the journal database could not be read ({leaseError.Message})"
            : last is { IsFree: false } held
                ? $"another cluster is using this journal (its lease is held by {held.Holder}); add one of its nodes to --seed-nodes, or stop it first"
                : "no seed node answered";
        throw new ClusterStartException(
            $"this node ({self}) could not join a cluster within {settings.Cluster.FormationTimeout.TotalSeconds:0}s with {seedsText}: {reason}");
    }

    /// <summary>This incarnation's unique address, as the lease names its holder.</summary>
    public static string UniqueAddressText(Akka.Cluster.Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return $"{cluster.SelfUniqueAddress.Address}#{cluster.SelfUniqueAddress.Uid}";
    }

    /// <summary>A member's unique address as the lease names it.</summary>
    public static string UniqueAddressText(Akka.Cluster.UniqueAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return $"{address.Address}#{address.Uid}";
    }

    private static bool SameEndpoint(Address a, Address b) =>
        string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;
}
