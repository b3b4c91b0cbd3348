using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Admin;

namespace KruxOS.Actors.Cluster;

/// <summary>One member as this node sees it.</summary>
public sealed record ClusterMemberView(string Address, string Status, ImmutableArray<string> Roles, bool Reachable, bool IsSelf, bool IsLeader, bool IsOldest);

/// <summary>How many shards of one entity type each node hosts, and which (<paramref name="ShardIdsByNode"/>, sorted).</summary>
public sealed record ShardDistribution(string TypeName, ImmutableDictionary<string, int> ShardsByNode, string? Error,
    ImmutableDictionary<string, ImmutableArray<string>>? ShardIdsByNode = null);

/// <summary>The cluster at one moment (<c>kruxos cluster status</c>, <c>/health</c>, <c>kruxos status</c>).</summary>
public sealed record ClusterStatusReport(
    bool Enabled,
    string? Self,
    string? SelfStatus,
    string? Leader,
    ImmutableArray<ClusterMemberView> Members,
    ImmutableArray<ShardDistribution> Shards,
    string? Lease,
    string? SplitBrainStrategy,
    TimeSpan? DowningStableAfter);

/// <summary>
/// This node's view of its cluster, for every adapter: members with roles, status and reachability, the leader and the
/// oldest member, the shard distribution of each entity type (asked of the shard regions), the journal lease, and the
/// readiness rule the health check applies. On a single node it reports <c>Enabled = false</c> and nothing else.
/// </summary>
public sealed class ClusterView(ActorSystem system, KruxOsSettings settings, ClusterLeaseState? lease = null)
{
    /// <summary>The entity types whose shards are reported.</summary>
    public static readonly ImmutableArray<string> ShardedTypes = ["agent-session", "approval", "scheduler"];

    /// <summary>The report; shard statistics wait at most <paramref name="shardTimeout"/> per type.</summary>
    public async Task<AdminResult<ClusterStatusReport>> StatusAsync(TimeSpan shardTimeout, CancellationToken ct)
    {
        if (!settings.UseClustering) return new ClusterStatusReport(false, null, null, null, [], [], null, null, null);
        var cluster = Akka.Cluster.Cluster.Get(system);
        var state = cluster.State;
        var up = state.Members.Where(m => m.Status == MemberStatus.Up).OrderBy(m => m, Member.AgeOrdering).FirstOrDefault();
        var members = state.Members.OrderBy(m => m.Address.ToString(), StringComparer.Ordinal).Select(m => new ClusterMemberView(
            m.Address.ToString(), StatusText(m.Status), [.. m.Roles.OrderBy(r => r, StringComparer.Ordinal)],
            !state.Unreachable.Contains(m), m.UniqueAddress == cluster.SelfUniqueAddress, m.Address == state.Leader, up is not null && m == up)).ToImmutableArray();
        var shards = ImmutableArray.CreateBuilder<ShardDistribution>();
        foreach (var type in ShardedTypes) shards.Add(await ShardsAsync(type, shardTimeout, ct).ConfigureAwait(false));
        return new ClusterStatusReport(true, cluster.SelfAddress.ToString(), StatusText(cluster.SelfMember.Status), state.Leader?.ToString(), members,
            shards.ToImmutable(), lease?.Current.Summary, settings.Cluster.SplitBrainStrategy, settings.Cluster.DowningStableAfter);
    }

    /// <summary>
    /// The <c>cluster</c> health check: critical (not ready) unless this node is Up — joining, leaving, exiting, downed or
    /// removed nodes take no traffic — or when another cluster holds the journal's lease; degraded while a member is
    /// unreachable.
    /// </summary>
    public HealthCheckResult Health()
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        if (cluster.IsTerminated) return HealthCheckResult.Critical("this node has left the cluster");
        var self = cluster.SelfMember.Status;
        if (lease?.Current is { Foreign: true } foreign) return HealthCheckResult.Critical(foreign.Summary);
        if (self != MemberStatus.Up) return HealthCheckResult.Critical($"this node is {StatusText(self)}, not up");
        var state = cluster.State;
        var upCount = state.Members.Count(m => m.Status == MemberStatus.Up);
        if (state.Unreachable.Count > 0)
            return HealthCheckResult.Degraded($"up; {upCount} members up, unreachable: {string.Join(", ", state.Unreachable.Select(m => m.Address))}");
        return HealthCheckResult.Healthy($"up; {upCount} members up" + (upCount < 3 ? " (fewer than 3: losing a node stops the cluster)" : ""));
    }

    private async Task<ShardDistribution> ShardsAsync(string typeName, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            var region = ClusterSharding.Get(system).ShardRegion(typeName);
            var stats = await region.Ask<ClusterShardingStats>(new GetClusterShardingStats(timeout), timeout + TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            return new ShardDistribution(typeName, stats.Regions.ToImmutableDictionary(kv => kv.Key.ToString(), kv => kv.Value.Stats.Count), null,
                stats.Regions.ToImmutableDictionary(kv => kv.Key.ToString(), kv => kv.Value.Stats.Keys.Order(StringComparer.Ordinal).ToImmutableArray()));
        }
        catch (Exception e) when (e is AskTimeoutException or ArgumentException or InvalidOperationException or TaskCanceledException)
        {
            return new ShardDistribution(typeName, ImmutableDictionary<string, int>.Empty, $"no answer: {e.Message}");
        }
    }

    /// <summary>Lower-case member status.</summary>
    public static string StatusText(MemberStatus status) => status switch
    {
        MemberStatus.Joining => "joining",
        MemberStatus.WeaklyUp => "weakly-up",
        MemberStatus.Up => "up",
        MemberStatus.Leaving => "leaving",
        MemberStatus.Exiting => "exiting",
        MemberStatus.Down => "down",
        MemberStatus.Removed => "removed",
        _ => status.ToString().ToLowerInvariant(),
    };
}
