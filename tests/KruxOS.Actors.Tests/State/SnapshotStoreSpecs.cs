using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Actors.State;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Sessions;
using KruxOS.Core.State;
using KruxOS.Core.State.Snapshots;
using Xunit;

namespace KruxOS.Actors.Tests.State;

/// <summary>The node's snapshot files: ids, retention, what is never opened, and concurrent creates.</summary>
public sealed class SnapshotStoreSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 25, 14, 0, 0, TimeSpan.Zero);

    private static SystemSnapshotInputs Inputs() => new(
        new SnapshotGateway("1.0.0", "node-a", 5),
        [new SnapshotAgent("builder", "active", false, "default", T0, false, 0)],
        new SnapshotApprovals(0, 0, 0, 0, 0, 0, []),
        new SnapshotAlerts(0, 0, 0, 0, 0),
        new SnapshotHealth("healthy", [new SnapshotService("state", "healthy", "ok")]),
        new SnapshotResources(1, 2, 3),
        new SnapshotStateStatistics([], new SnapshotSharedState(0, 0, 100), new SnapshotSessionState(0, 0)));

    private sealed class SteppingClock(DateTimeOffset start, TimeSpan step) : TimeProvider
    {
        private long _n = -1;

        public override DateTimeOffset GetUtcNow() => start + step * Interlocked.Increment(ref _n);
    }

    private static Task<SystemSnapshotInputs> Gather(CancellationToken _) => Task.FromResult(Inputs());

    [Fact]
    public async Task Should_keep_only_the_newest_snapshots()
    {
        // arrange
        using var dir = new TempDir();
        var store = new SnapshotStore(Path.Combine(dir.Path, "snapshots"), retention: 3);
        var clock = new SteppingClock(T0, TimeSpan.FromSeconds(1));

        // act
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add(Assert.IsType<SnapshotReplies.CreateResult>(await store.CreateAsync(Gather, clock, CancellationToken.None)).SnapshotId);
        var (entries, error) = store.Entries();

        // assert
        Assert.Null(error);
        Assert.Equal(ids.Skip(2).Reverse(), SystemSnapshots.List(entries).Snapshots.Select(e => e.SnapshotId));
        Assert.IsType<StateRefused>(await store.LoadAsync(ids[0], CancellationToken.None));
        var loaded = Assert.IsType<SnapshotReplies.LoadResult>(await store.LoadAsync(ids[4], CancellationToken.None));
        using var doc = JsonDocument.Parse(loaded.Snapshot.Utf8.ToArray());
        Assert.Equal(ids[4], doc.RootElement.GetProperty("snapshot_id").GetString());
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(store.Directory, ids[4] + ".json")));
    }

    [Fact]
    public async Task Should_give_concurrent_creates_in_one_second_distinct_ids()
    {
        // arrange
        using var dir = new TempDir();
        var store = new SnapshotStore(Path.Combine(dir.Path, "snapshots"), retention: 20);
        var clock = new SteppingClock(T0, TimeSpan.Zero);

        // act
        var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => store.CreateAsync(Gather, clock, CancellationToken.None)));

        // assert
        var ids = replies.Select(r => Assert.IsType<SnapshotReplies.CreateResult>(r).SnapshotId).ToList();
        Assert.Equal(8, ids.Distinct().Count());
        Assert.Contains("snap-20260325T140000", ids);
        Assert.Contains("snap-20260325T140000-8", ids);
    }

    [Fact]
    public async Task Should_never_list_open_or_delete_a_file_that_is_not_a_kept_snapshot()
    {
        // arrange: a marker outside, and in the store a link, a directory and stray files with snapshot-like names
        using var dir = new TempDir();
        var store = new SnapshotStore(Path.Combine(dir.Path, "snapshots"), retention: 1);
        var clock = new SteppingClock(T0, TimeSpan.FromSeconds(1));
        Assert.IsType<SnapshotReplies.CreateResult>(await store.CreateAsync(Gather, clock, CancellationToken.None));
        var marker = Path.Combine(dir.Path, "marker.json");
        await File.WriteAllTextAsync(marker, """{"secret":"MARKER"}""");
        File.CreateSymbolicLink(Path.Combine(store.Directory, "snap-20000101T000000.json"), marker);
        Directory.CreateDirectory(Path.Combine(store.Directory, "snap-20000101T000001.json"));
        await File.WriteAllTextAsync(Path.Combine(store.Directory, "snap-2000.json"), "{}");

        // act
        var link = await store.LoadAsync("snap-20000101T000000", CancellationToken.None);
        var escape = await store.LoadAsync("../marker", CancellationToken.None);
        Assert.IsType<SnapshotReplies.CreateResult>(await store.CreateAsync(Gather, clock, CancellationToken.None));
        var (entries, _) = store.Entries();

        // assert: the link is not a snapshot, the bad id never becomes a path, pruning left the planted names and the marker alone
        Assert.Equal("SnapshotNotFound", Assert.IsType<StateRefused>(link).Error.ErrorType);
        Assert.Equal("InvalidInput", Assert.IsType<StateRefused>(escape).Error.ErrorType);
        Assert.Single(entries);
        Assert.True(File.Exists(marker));
        Assert.NotNull(new FileInfo(Path.Combine(store.Directory, "snap-20000101T000000.json")).LinkTarget);
        Assert.True(Directory.Exists(Path.Combine(store.Directory, "snap-20000101T000001.json")));
        Assert.True(File.Exists(Path.Combine(store.Directory, "snap-2000.json")));
    }

    [Fact]
    public void Should_list_pending_approvals_without_their_arguments_or_reason()
    {
        // arrange
        using var args = JsonDocument.Parse("""{"path":"ARGMARKER"}""");
        var request = new ApprovalRequest(ApprovalId.New(), Principal.ForAgent(AgentName.Parse("builder")), AgentName.Parse("builder"), "s-1",
            "filesystem.delete", args.RootElement.Clone(), "sha256:00", "rule", "rev", "REASONMARKER", ClientInfo.Unknown, T0, T0.AddHours(1));
        var pending = ApprovalState.Empty with { Request = request };

        // act
        var part = SystemSnapshotSource.Approvals([pending, ApprovalState.Empty]);

        // assert
        Assert.Equal(1, part.Pending);
        var listed = Assert.Single(part.PendingRequests);
        Assert.Equal(("builder", "filesystem.delete"), (listed.Agent, listed.Capability));
        var json = JsonSerializer.Serialize(part, KruxOS.Core.CoreJson.Options);
        Assert.DoesNotContain("ARGMARKER", json, StringComparison.Ordinal);
        Assert.DoesNotContain("REASONMARKER", json, StringComparison.Ordinal);
    }
}
