using KruxOS.Actors.Hosting;
using KruxOS.Actors.State;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateQueries;
using PersistentReplies = KruxOS.Core.State.Persistent.PersistentStateReplies;
using SharedReplies = KruxOS.Core.State.Shared.SharedStateReplies;

namespace KruxOS.Actors.Tests.State;

/// <summary>One real node (SQLite journal) with a 1 MiB persistent and an 8 MiB shared quota, shared by the specs of <see cref="StateAreaSpecs"/>.</summary>
public sealed class StateNode : IAsyncLifetime
{
    private readonly TempDir _dir = new();

    public NodeHost Node { get; private set; } = null!;

    public StateAccess State => Node.Services.GetRequiredService<StateAccess>();

    public async ValueTask InitializeAsync()
    {
        var settings = new KruxOsSettings { DataDir = _dir.Path, MetricsInterval = TimeSpan.FromMinutes(5) };
        settings.State.PersistentQuotaMb = 1;
        settings.State.SharedQuotaMb = 8;
        Node = await NodeHost.StartAsync(settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Node.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>
/// The state area's entities behind <see cref="StateAccess"/> on a real node: version retention, quota refusals that
/// change nothing, and the optimistic lock under concurrent writers.
/// </summary>
public sealed class StateAreaSpecs(StateNode fixture) : IClassFixture<StateNode>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StoredJson Big(int chars) => StoredJson.Parse("\"" + new string('a', chars) + "\"");

    [Fact]
    public async Task Should_drop_the_oldest_version_at_the_101st_set()
    {
        // arrange
        var agent = AgentName.Parse("pruner");

        // act: 101 sets of one key
        for (var i = 1; i <= 101; i++)
        {
            var set = Assert.IsType<PersistentReplies.SetResult>(await fixture.State.PersistentAsync(new SetValue(agent, "k", StoredJson.Parse($"{{\"i\":{i}}}")), Ct));
            Assert.Equal(i, set.Version);
        }

        // assert: versions 2..101 retained, newest first; version 1 is gone, version 2 readable
        var history = Assert.IsType<PersistentReplies.HistoryResult>(await fixture.State.PersistentAsync(new GetHistory(agent, "k"), Ct));
        Assert.Equal(100, history.Count);
        Assert.Equal(101, history.Versions[0].Version);
        Assert.Equal(2, history.Versions[^1].Version);
        var first = Assert.IsType<StateRefused>(await fixture.State.PersistentAsync(new GetValue(agent, "k", 1), Ct));
        Assert.Equal("KeyNotFound", first.Error.ErrorType);
        var second = Assert.IsType<PersistentReplies.GetResult>(await fixture.State.PersistentAsync(new GetValue(agent, "k", 2), Ct));
        Assert.Equal("{\"i\":2}", second.Value.Text);
    }

    [Fact]
    public async Task Should_refuse_a_persistent_write_over_the_quota_and_keep_the_previous_value()
    {
        // arrange: 600 KB retained in version 1 of a 1 MiB quota
        var agent = AgentName.Parse("hoarder");
        var original = Big(600_000);
        Assert.IsType<PersistentReplies.SetResult>(await fixture.State.PersistentAsync(new SetValue(agent, "big", original), Ct));

        // act: a second version would retain 1.2 MB
        var refused = Assert.IsType<StateRefused>(await fixture.State.PersistentAsync(new SetValue(agent, "big", Big(600_001)), Ct));

        // assert
        Assert.Equal("QuotaExceeded", refused.Error.ErrorType);
        Assert.Equal("persistent", refused.Error.ContextString("scope"));
        var current = Assert.IsType<PersistentReplies.GetResult>(await fixture.State.PersistentAsync(new GetValue(agent, "big"), Ct));
        Assert.Equal(1, current.Version);
        Assert.Equal(original, current.Value);
        var usage = Assert.IsType<PersistentReplies.UsageResult>(await fixture.State.PersistentAsync(new GetUsage(agent), Ct));
        Assert.True(usage.UsedBytes <= usage.LimitBytes, $"{usage.UsedBytes} > {usage.LimitBytes}");
    }

    [Fact]
    public async Task Should_refuse_a_shared_write_over_the_global_quota_and_change_nothing()
    {
        // arrange
        var writer = Principal.ForAgent(AgentName.Parse("publisher"));
        var written = new List<(string Key, StoredJson Value)>();
        StateRefused? refused = null;
        string? refusedKey = null;

        // act: 900 KB keys (spread over partitions by their hash) until the 8 MiB global quota refuses one
        for (var i = 0; i < 20 && refused is null; i++)
        {
            var key = $"quota/{i}";
            var value = Big(900_000 + i);
            switch (await fixture.State.SharedAsync(new SetShared(key, value, 0, writer), Ct))
            {
                case SharedReplies.SetResult: written.Add((key, value)); break;
                case StateRefused r: (refused, refusedKey) = (r, key); break;
                case var other: Assert.Fail($"unexpected reply {other}"); break;
            }
        }

        // assert: refused with the shared scope; the refused key does not exist; every acknowledged key is intact
        Assert.NotNull(refused);
        Assert.Equal("QuotaExceeded", refused.Error.ErrorType);
        Assert.Equal("shared", refused.Error.ContextString("scope"));
        Assert.True(written.Count >= 1, "not one 900 KB key fitted an 8 MiB quota");
        var missing = Assert.IsType<SharedReplies.GetResult>(await fixture.State.SharedAsync(new GetShared(refusedKey!), Ct));
        Assert.False(missing.Found);
        foreach (var (key, value) in written)
        {
            var current = Assert.IsType<SharedReplies.GetResult>(await fixture.State.SharedAsync(new GetShared(key), Ct));
            Assert.Equal(value, current.Value);
        }
        var (used, _) = await fixture.State.SharedUsageAsync(Ct);
        Assert.True(used <= 8 * StateAccounting.MiB, $"{used} bytes stored over an 8 MiB quota");
    }

    [Fact]
    public async Task Should_let_exactly_one_of_two_racing_writers_win_and_tell_the_loser_both_versions()
    {
        for (var round = 0; round < 20; round++)
        {
            // arrange: a key at version 1
            var key = $"race/{round}";
            var a = Principal.ForAgent(AgentName.Parse("writer-a"));
            var b = Principal.ForAgent(AgentName.Parse("writer-b"));
            Assert.IsType<SharedReplies.SetResult>(await fixture.State.SharedAsync(new SetShared(key, StoredJson.Parse("0"), 0, a), Ct));

            // act: both write expecting version 1, at the same time
            var replies = await Task.WhenAll(
                fixture.State.SharedAsync(new SetShared(key, StoredJson.Parse("\"a\""), 1, a), Ct),
                fixture.State.SharedAsync(new SetShared(key, StoredJson.Parse("\"b\""), 1, b), Ct));

            // assert: one version 2, one VersionConflict naming expected 1 and actual 2; the winner's value stands
            var won = Assert.Single(replies.OfType<SharedReplies.SetResult>());
            Assert.Equal(2, won.Version);
            var lost = Assert.Single(replies.OfType<StateRefused>());
            Assert.Equal("VersionConflict", lost.Error.ErrorType);
            Assert.True(lost.Error.Retryable);
            Assert.Equal(1, lost.Error.Context["expected_version"].GetInt64());
            Assert.Equal(2, lost.Error.Context["actual_version"].GetInt64());
            var now = Assert.IsType<SharedReplies.GetResult>(await fixture.State.SharedAsync(new GetShared(key), Ct));
            var winner = Array.IndexOf(replies, won) == 0 ? "writer-a" : "writer-b";
            Assert.Equal(winner, now.OwnerAgent);
            Assert.Equal(2, now.Version);
        }
    }
}
