using KruxOS.Actors.Hosting;
using KruxOS.Actors.State;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Actors.State.StateAreaMessages;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;
using static KruxOS.Core.State.Session.SessionStateCommands;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateQueries;
using PersistentReplies = KruxOS.Core.State.Persistent.PersistentStateReplies;
using SessionReplies = KruxOS.Core.State.Session.SessionStateReplies;
using SharedReplies = KruxOS.Core.State.Shared.SharedStateReplies;

namespace KruxOS.Actors.Tests.State;

/// <summary>
/// A node is stopped (session state is never checkpointed on the way down, so for it a stop is a crash) and a new one
/// starts on the same data: persistent and shared state come back from the journal and snapshots, a session's state
/// comes back as of its last checkpoint, and an ended session's checkpoint is gone.
/// </summary>
public sealed class StateRestartSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static KruxOsSettings Settings(string dir)
    {
        var s = new KruxOsSettings { DataDir = dir, MetricsInterval = TimeSpan.FromMinutes(5) };
        // Snapshots every 25 events, so recovery goes through snapshot + deleted journal prefix + tail.
        s.State.SnapshotEveryEvents = 25;
        // Checkpoints only on request in this spec.
        s.State.SessionCheckpointInterval = TimeSpan.FromHours(1);
        return s;
    }

    [Fact]
    public async Task Should_recover_persistent_and_shared_state_and_the_last_session_checkpoint_after_a_restart()
    {
        using var dir = new TempDir();
        var agent = AgentName.Parse("survivor");
        var writer = Principal.ForAgent(agent);

        // arrange: 120 persistent versions (several snapshots), 60 shared writes, a session checkpointed after k1 but not k2
        await using (var first = await NodeHost.StartAsync(Settings(dir.Path)))
        {
            var state = first.Services.GetRequiredService<StateAccess>();
            for (var i = 1; i <= 120; i++)
                Assert.IsType<PersistentReplies.SetResult>(await state.PersistentAsync(new SetValue(agent, $"p{i % 3}", StoredJson.Parse($"{i}")), Ct));
            Assert.IsType<PersistentReplies.DeleteResult>(await state.PersistentAsync(new DeleteKey(agent, "p0"), Ct));
            for (var i = 1; i <= 60; i++)
                Assert.IsType<SharedReplies.SetResult>(await state.SharedAsync(new SetShared($"s{i % 2}", StoredJson.Parse($"{i}"), (i + 1) / 2 - 1, writer), Ct));
            Assert.IsType<SessionReplies.SetResult>(await state.SessionAsync(new SetSessionValue(agent, "sess-1", "k1", StoredJson.Parse("1")), Ct));
            Assert.IsType<SessionCheckpointed>(await first.Services.GetRequiredService<StateAccess>()
                .SessionRawAsync(new CheckpointSessionNow(agent, "sess-1"), Ct));
            Assert.IsType<SessionReplies.SetResult>(await state.SessionAsync(new SetSessionValue(agent, "sess-1", "k2", StoredJson.Parse("2")), Ct));
            // another session that ends: its checkpoint must not come back
            Assert.IsType<SessionReplies.SetResult>(await state.SessionAsync(new SetSessionValue(agent, "sess-2", "gone", StoredJson.Parse("1")), Ct));
            Assert.IsType<SessionCheckpointed>(await state.SessionRawAsync(new CheckpointSessionNow(agent, "sess-2"), Ct));
            Assert.IsType<SessionStateEnded>(await state.SessionRawAsync(new EndSessionState(agent, "sess-2"), Ct));
        }

        // act
        await using var second = await NodeHost.StartAsync(Settings(dir.Path));
        var after = second.Services.GetRequiredService<StateAccess>();

        // assert: persistent — p1 at version 40 holding 118, p2 at 40 holding 119, p0 deleted
        var p1 = Assert.IsType<PersistentReplies.GetResult>(await after.PersistentAsync(new GetValue(agent, "p1"), Ct));
        Assert.Equal((40, "118"), (p1.Version, p1.Value.Text));
        var p2 = Assert.IsType<PersistentReplies.GetResult>(await after.PersistentAsync(new GetValue(agent, "p2"), Ct));
        Assert.Equal((40, "119"), (p2.Version, p2.Value.Text));
        var p0 = Assert.IsType<PersistentReplies.GetResult>(await after.PersistentAsync(new GetValue(agent, "p0"), Ct));
        Assert.False(p0.Found);
        var history = Assert.IsType<PersistentReplies.HistoryResult>(await after.PersistentAsync(new GetHistory(agent, "p1"), Ct));
        Assert.Equal(40, history.Count);
        // shared — both keys at version 30 with the last values, and the optimistic lock continues from there
        var s0 = Assert.IsType<SharedReplies.GetResult>(await after.SharedAsync(new GetShared("s0"), Ct));
        Assert.Equal((30, "60"), (s0.Version, s0.Value.Text));
        var s1 = Assert.IsType<SharedReplies.GetResult>(await after.SharedAsync(new GetShared("s1"), Ct));
        Assert.Equal((30, "59"), (s1.Version, s1.Value.Text));
        Assert.IsType<SharedReplies.SetResult>(await after.SharedAsync(new SetShared("s0", StoredJson.Parse("61"), 30, writer), Ct));
        // session — k1 (checkpointed) is back, k2 (after the checkpoint) is lost; the ended session starts empty
        var keys = Assert.IsType<SessionReplies.ListResult>(await after.SessionAsync(new ListSessionKeys(agent, "sess-1"), Ct));
        Assert.Equal(["k1"], keys.Keys);
        var ended = Assert.IsType<SessionReplies.ListResult>(await after.SessionAsync(new ListSessionKeys(agent, "sess-2"), Ct));
        Assert.Empty(ended.Keys);
    }
}
