using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Shared;
using Xunit;
using static KruxOS.Core.State.Shared.SharedQuotaCommands;
using static KruxOS.Core.State.Shared.SharedQuotaReplies;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateEvents;
using static KruxOS.Core.State.Shared.SharedStateQueries;
using static KruxOS.Core.State.Shared.SharedStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>Optimistic locking, tombstones, partitions and listings of shared state (pure).</summary>
public sealed class SharedStateSpecs
{
    private static readonly SharedStateLimits Limits = SharedStateLimits.Default;
    private static readonly Principal A = Principal.ForAgent(Builder);
    private static readonly Principal B = Principal.ForAgent(Reviewer);

    /// <summary>A partition that already holds a large grant, so quota never gets in the way of the locking specs.</summary>
    internal static SharedPartitionState Granted(string key, long bytes = 1 << 20) =>
        SharedPartitionState.Empty(SharedStatePartitions.Of(key)).Apply(new GrantChanged(bytes, 1, T0));

    private static SharedPartitionState Run(SharedPartitionState s, ISharedStateCommand c, out IStateReply reply, DateTimeOffset? at = null)
    {
        var (r, events) = s.ProcessCommand(c, at ?? T0, Limits);
        reply = r;
        return s.ApplyAll(events);
    }

    [Fact]
    public void Should_create_with_expected_version_0_and_refuse_a_second_create_with_the_actual_version()
    {
        var s = Run(Granted("k"), new SetShared("k", J("1"), 0, A), out var created);
        Assert.Equal(new SetResult(1), created);
        Run(s, new SetShared("k", J("2"), 0, B), out var again);
        var conflict = Assert.IsType<StateRefused>(again).Error;
        Assert.Equal("VersionConflict", conflict.ErrorType);
        Assert.True(conflict.Retryable);
        Assert.Equal("re_read", conflict.Recovery[0].Action);
        Assert.Equal("state.shared.get", conflict.Recovery[0].Capability);
        Assert.Equal(0, conflict.Context["expected_version"].GetInt64());
        Assert.Equal(1, conflict.Context["actual_version"].GetInt64());
        Assert.Equal("k", conflict.ContextString("resource"));
    }

    [Fact]
    public void Should_let_exactly_one_of_two_racing_writers_win_and_tell_the_loser_both_versions()
    {
        // arrange: both writers read version 3
        var s = Granted("doc");
        for (var v = 0; v < 3; v++) s = Run(s, new SetShared("doc", J(v.ToString()), v, A), out _);
        var seen = Assert.IsType<GetResult>(s.Query(new GetShared("doc"), Limits)).Version;
        Assert.Equal(3, seen);

        // act: the partition decides them one after the other, as its mailbox does
        s = Run(s, new SetShared("doc", J("\"from reviewer\""), seen, B), out var first);
        s = Run(s, new SetShared("doc", J("\"from builder\""), seen, A), out var second);

        // assert
        Assert.Equal(new SetResult(4), first);
        var loser = Assert.IsType<StateRefused>(second).Error;
        Assert.Equal(3, loser.Context["expected_version"].GetInt64());
        Assert.Equal(4, loser.Context["actual_version"].GetInt64());
        var now = Assert.IsType<GetResult>(s.Query(new GetShared("doc"), Limits));
        Assert.Equal(new GetResult(J("\"from reviewer\""), 4, true, "reviewer", T0), now);
    }

    [Fact]
    public void Should_record_the_last_writer_as_owner_and_the_operator_as_user()
    {
        var s = Run(Granted("k"), new SetShared("k", J("1"), 0, A), out _);
        Assert.Equal("builder", ((GetResult)s.Query(new GetShared("k"), Limits)).OwnerAgent);
        s = Run(s, new SetShared("k", J("2"), 1, Principal.ForUser("ops")), out _, T0.AddMinutes(1));
        var get = (GetResult)s.Query(new GetShared("k"), Limits);
        Assert.Equal("user:ops", get.OwnerAgent);
        Assert.Equal(T0.AddMinutes(1), get.UpdatedAt);
        Assert.Equal(["value", "version", "found", "owner_agent", "updated_at"], WireFields(get));
        Assert.Equal("""{"value":null,"version":0,"found":false,"owner_agent":null,"updated_at":null}""", Wire(Granted("nope").Query(new GetShared("nope"), Limits)));
        Assert.Equal(["version"], WireFields(new SetResult(1)));
        Assert.Equal(["deleted"], WireFields(new DeleteResult(true)));
        Assert.Equal(["subscription_id"], WireFields(new WatchResult("sub-1")));
    }

    [Fact]
    public void Should_continue_versions_after_a_delete_so_a_stale_writer_cannot_overwrite_a_recreated_key()
    {
        // arrange: the builder reads version 1
        var s = Run(Granted("lock"), new SetShared("lock", J("\"builder holds it\""), 0, A), out _);
        var held = ((GetResult)s.Query(new GetShared("lock"), Limits)).Version;

        // act: the reviewer deletes and re-creates the key, then the builder writes with the version it read
        s = Run(s, new DeleteShared("lock", B), out var deleted);
        Assert.Equal(new DeleteResult(true), deleted);
        Assert.Equal(0, ((GetResult)s.Query(new GetShared("lock"), Limits)).Version);
        s = Run(s, new SetShared("lock", J("\"reviewer holds it\""), 0, B), out var recreated);
        Run(s, new SetShared("lock", J("\"builder overwrote\""), held, A), out var stale);

        // assert: the re-created key is version 2, and the stale write is a conflict, not a silent overwrite
        Assert.Equal(new SetResult(2), recreated);
        var conflict = Assert.IsType<StateRefused>(stale).Error;
        Assert.Equal("VersionConflict", conflict.ErrorType);
        Assert.Equal(2, conflict.Context["actual_version"].GetInt64());
    }

    [Fact]
    public void Should_keep_at_most_the_configured_number_of_tombstones_dropping_the_oldest()
    {
        var limits = Limits with { MaxTombstones = 2 };
        var keys = Enumerable.Range(0, 500).Select(i => "t" + i).Where(k => SharedStatePartitions.Of(k) == SharedStatePartitions.Of("t0")).Take(3).ToList();
        var s = Granted(keys[0]);
        for (var i = 0; i < keys.Count; i++)
        {
            var (_, set) = s.ProcessCommand(new SetShared(keys[i], J("1"), 0, A), T0, limits);
            s = s.ApplyAll(set);
            var (_, del) = s.ProcessCommand(new DeleteShared(keys[i], A), T0.AddMinutes(i), limits);
            s = s.ApplyAll(del);
            if (i == 2) Assert.Equal(keys[0], Assert.IsType<KeyDeleted>(Assert.Single(del)).EvictedTombstone);
        }
        Assert.Equal(keys.Skip(1).Order(StringComparer.Ordinal), s.Tombstones.Keys);
    }

    [Fact]
    public void Should_refuse_a_delete_of_a_missing_key_and_a_negative_expected_version()
    {
        Run(Granted("k"), new DeleteShared("k", A), out var missing);
        Assert.Equal("KeyNotFound", Assert.IsType<StateRefused>(missing).Error.ErrorType);
        Run(Granted("k"), new SetShared("k", J("1"), -1, A), out var negative);
        Assert.Equal("expected_version", Assert.IsType<StateRefused>(negative).Error.ContextString("field"));
        Run(Granted("k"), new SetShared("k\u202e", J("1"), 0, A), out var badKey);
        Assert.Equal("InvalidInput", Assert.IsType<StateRefused>(badKey).Error.ErrorType);
    }

    [Fact]
    public void Should_route_each_key_to_one_stable_partition_and_refuse_a_misrouted_command()
    {
        Assert.All(Enumerable.Range(0, 2000).Select(i => SharedStatePartitions.Of("key-" + i)), p => Assert.InRange(p, 0, SharedStatePartitions.Count - 1));
        // the same key maps to the same partition in every process (vectors fixed when the scheme was chosen)
        Assert.Equal(SharedStatePartitions.Of("config/build"), SharedStatePartitions.Of("config/build"));
        Assert.Equal([18, 37, 12], new[] { "a", "config/build", "日本" }.Select(SharedStatePartitions.Of));
        Assert.True(Enumerable.Range(0, 2000).Select(i => SharedStatePartitions.Of("key-" + i)).Distinct().Count() == SharedStatePartitions.Count);
        var other = SharedPartitionState.Empty((SharedStatePartitions.Of("k") + 1) % SharedStatePartitions.Count);
        var (reply, events) = other.ProcessCommand(new SetShared("k", J("1"), 0, A), T0, Limits);
        Assert.IsType<StateRefused>(reply);
        Assert.Empty(events);
        Assert.Equal("state-shared-7", SharedStatePartitions.PersistenceId(7));
    }

    [Fact]
    public void Should_merge_the_partitions_listings_in_ordinal_key_order()
    {
        var keys = new[] { "b", "a", "B", "c/1", "c/2", "_x" };
        var partitions = new Dictionary<int, SharedPartitionState>();
        foreach (var k in keys)
        {
            var p = SharedStatePartitions.Of(k);
            var s = partitions.TryGetValue(p, out var existing) ? existing : Granted(k);
            partitions[p] = Run(s, new SetShared(k, J("\"" + k + "\""), 0, A), out _);
        }
        var parts = Enumerable.Range(0, SharedStatePartitions.Count)
            .Select(p => partitions.TryGetValue(p, out var s) ? s : SharedPartitionState.Empty(p))
            .Select(s => s.Query(new ListShared(s.Partition), Limits));
        var merged = Assert.IsType<ListResult>(SharedStateListing.Merge(parts, Limits));
        Assert.Equal(["B", "_x", "a", "b", "c/1", "c/2"], merged.Entries.Select(e => e.Key));
        Assert.Equal(partitions.Values.Sum(s => s.UsedBytes), merged.TotalSizeBytes);
        Assert.Equal(["entries", "count", "total_size_bytes"], WireFields(merged));
        Assert.Equal(["key", "version", "size_bytes", "owner_agent", "updated_at"], WireFields(merged.Entries[0]));
        var prefixed = Enumerable.Range(0, SharedStatePartitions.Count)
            .Select(p => partitions.TryGetValue(p, out var s) ? s : SharedPartitionState.Empty(p))
            .Select(s => s.Query(new ListShared(s.Partition, "c/"), Limits));
        Assert.Equal(2, Assert.IsType<ListResult>(SharedStateListing.Merge(prefixed, Limits)).Count);
        var refused = new StateRefused(KruxOS.Core.Errors.Errors.InvalidInput("prefix", "x"));
        Assert.Same(refused, SharedStateListing.Merge([refused], Limits));
        Assert.Equal("ResultTooLarge", Assert.IsType<StateRefused>(SharedStateListing.Merge(parts, Limits with { MaxResultBytes = 10 })).Error.ErrorType);
    }

    [Fact]
    public void Should_rebuild_a_partition_from_its_snapshot_and_refuse_a_key_of_another_partition()
    {
        var s = Run(Granted("k"), new SetShared("k", J("""{"a":1}"""), 0, A), out _);
        var back = SharedPartitionState.FromSnapshot(s.ToSnapshot());
        Assert.Equal(s.UsedBytes, back.UsedBytes);
        Assert.Equal(Wire(s.ToSnapshot()), Wire(back.ToSnapshot()));
        var foreign = Enumerable.Range(0, 500).Select(i => "f" + i).First(k => SharedStatePartitions.Of(k) != s.Partition);
        var damaged = s.ToSnapshot() with { Entries = [new SharedEntry(foreign, 1, J("1"), A, T0)] };
        Assert.Throws<InvalidDataException>(() => SharedPartitionState.FromSnapshot(damaged));
    }

    [Fact]
    public void Should_publish_changes_without_values_and_nothing_for_grant_events()
    {
        var change = SharedStateChange.From(new ValueSet("k", 3, J("\"secret-ish\""), B, T0));
        Assert.Equal(new SharedStateChange("k", 3, SharedChangeKind.Set, "reviewer", T0), change);
        Assert.Equal(new SharedStateChange("k", 3, SharedChangeKind.Deleted, "user:ops", T0),
            SharedStateChange.From(new KeyDeleted("k", 3, Principal.ForUser("ops"), null, T0)));
        Assert.Null(SharedStateChange.From(new GrantChanged(1, 1, T0)));
    }
}
