using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;
using Xunit;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>
/// The pure part of an all-or-nothing restore (ADR 0060): every write has the write that undoes it from the pre-image, a
/// failure undoes exactly what may have been written (newest first), a put-back is never refused by the limits in force,
/// and the errors say what is true.
/// </summary>
public sealed class RestorePlanSpecs
{
    private static PersistentStateSnapshot State(AgentName agent, params string[] values)
    {
        var s = PersistentState.Empty(agent);
        foreach (var v in values) s = s.ApplyAll(s.ProcessCommand(new SetValue(agent, "k", J(v)), T0, PersistentStateLimits.Default).Events);
        return s.ToSnapshot();
    }

    private static readonly Principal Alice = Principal.ForAgent(Builder);
    private static readonly Principal Bob = Principal.ForAgent(Reviewer);

    private static System.Collections.Immutable.ImmutableArray<PlannedWrite> Plan() => RestorePlans.Build(
        [State(Builder, "1"), State(Reviewer, "2")],
        new Dictionary<string, PersistentStateSnapshot> { ["builder"] = State(Builder, "1", "10"), ["reviewer"] = State(Reviewer) },
        shared: true,
        backedUp: [new BackedUpSharedEntry("both", 3, J("\"old\""), Alice, T0), new BackedUpSharedEntry("only-backup", 1, J("1"), Alice, T0)],
        current: [new SharedEntry("both", 7, J("\"now\""), Bob, T0), new SharedEntry("only-now", 2, J("2"), Bob, T0)]);

    [Fact]
    public void Every_write_is_undone_from_the_pre_image()
    {
        var plan = Plan();

        Assert.Equal(["persistent state of builder", "persistent state of reviewer", "shared key only-now", "shared key both", "shared key only-backup"],
            plan.Select(p => p.Forward.Part));
        // An agent's pre-image goes back through the same restore path, marked as a put-back.
        var builder = Assert.IsType<ReplaceAgentState>(plan[0].Undo);
        Assert.True(builder.PutBack);
        Assert.Equal(Wire(State(Builder, "1", "10")), Wire(builder.Snapshot));
        Assert.False(Assert.IsType<ReplaceAgentState>(plan[0].Forward).PutBack);
        // A key absent from the backup is deleted; undone by writing its old value and owner back.
        Assert.IsType<DeleteSharedKey>(plan[2].Forward);
        Assert.Equal(new WriteSharedKey("only-now", J("2"), Bob, null), plan[2].Undo);
        // A key in both is written through the lock at its current version; undone with its old value and owner.
        Assert.Equal(new WriteSharedKey("both", J("\"old\""), Alice, 7), plan[3].Forward);
        Assert.Equal(new WriteSharedKey("both", J("\"now\""), Bob, null), plan[3].Undo);
        // A key that did not exist is created (expected version 0); undone by deleting it.
        Assert.Equal(new WriteSharedKey("only-backup", J("1"), Alice, 0), plan[4].Forward);
        Assert.Equal(new DeleteSharedKey("only-backup"), plan[4].Undo);
    }

    [Fact]
    public void A_plan_without_shared_state_touches_no_shared_key_and_needs_every_pre_image()
    {
        var plan = RestorePlans.Build([State(Builder, "1")], new Dictionary<string, PersistentStateSnapshot> { ["builder"] = State(Builder) }, false,
            [new BackedUpSharedEntry("k", 1, J("1"), Alice, T0)], []);
        Assert.Single(plan);
        Assert.Throws<ArgumentException>(() => RestorePlans.Build([State(Builder, "1")], new Dictionary<string, PersistentStateSnapshot>(), false, [], []));
        // A pre-image of another agent under the name is refused too.
        Assert.Throws<ArgumentException>(() => RestorePlans.Build([State(Builder, "1")],
            new Dictionary<string, PersistentStateSnapshot> { ["builder"] = State(Reviewer) }, false, [], []));
    }

    [Fact]
    public void A_failure_undoes_what_was_written_newest_first_and_the_failed_write_only_when_it_may_have_landed()
    {
        var plan = Plan();

        Assert.Equal([plan[1].Undo, plan[0].Undo], RestorePlans.Undo(plan, 2, failedWriteMayHaveLanded: false));
        Assert.Equal([plan[2].Undo, plan[1].Undo, plan[0].Undo], RestorePlans.Undo(plan, 2, failedWriteMayHaveLanded: true));
        Assert.Empty(RestorePlans.Undo(plan, 0, failedWriteMayHaveLanded: false));
        Assert.Equal([plan[0].Undo], RestorePlans.Undo(plan, 0, failedWriteMayHaveLanded: true));
        Assert.True(RestorePlans.MayHaveLanded(KruxOS.Core.Errors.Errors.Timeout("state", 20)));
        Assert.False(RestorePlans.MayHaveLanded(StateErrors.QuotaExceeded("shared", 10, 5, 20)));
        Assert.False(RestorePlans.MayHaveLanded(KruxOS.Core.Errors.Errors.ServiceUnavailable("state", "not running")));
    }

    [Fact]
    public void A_put_back_is_never_refused_by_a_quota_lowered_since_but_a_restore_is()
    {
        var before = State(Builder, "\"" + new string('x', 500) + "\"", "\"" + new string('y', 500) + "\"");
        var tight = PersistentStateLimits.Default with { QuotaBytes = 600 };
        var current = PersistentState.Empty(Builder);

        var (restore, none) = current.ProcessCommand(new RestoreState(Builder, before), T0, tight);
        var (putBack, events) = current.ProcessCommand(new RestoreState(Builder, before, PutBack: true), T0, tight);

        Assert.Equal("QuotaExceeded", Assert.IsType<StateRefused>(restore).Error.ErrorType);
        Assert.Empty(none);
        Assert.Equal(1, Assert.IsType<RestoreResult>(putBack).Keys);
        Assert.Equal(Wire(before), Wire(current.ApplyAll(events).ToSnapshot()));
        // Still checked as a snapshot: another agent's state is refused even as a put-back.
        var (other, _) = PersistentState.Empty(Reviewer).ProcessCommand(new RestoreState(Reviewer, before, PutBack: true), T0, tight);
        Assert.Equal("InvalidInput", Assert.IsType<StateRefused>(other).Error.ErrorType);
    }

    [Fact]
    public void The_errors_say_nothing_was_restored_or_name_the_parts_left_behind()
    {
        var cause = StateErrors.QuotaExceeded("shared", 10, 5, 20);

        var nothing = RestorePlans.NothingRestored("bkp-20260325T140000", cause, "shared key a", ["persistent state of builder"]);
        var incomplete = RestorePlans.PutBackFailed("bkp-20260325T140000", cause, "shared key a", ["persistent state of builder"]);

        Assert.Equal("QuotaExceeded", nothing.ErrorType);
        Assert.Contains("Nothing was restored", nothing.Message, StringComparison.Ordinal);
        Assert.Equal("false", nothing.Context["restored"].GetRawText());
        Assert.Equal("""["persistent state of builder"]""", nothing.Context["parts_put_back"].GetRawText());
        Assert.Equal("RestoreIncomplete", incomplete.ErrorType);
        Assert.DoesNotContain("Nothing was restored", incomplete.Message, StringComparison.Ordinal);
        Assert.Contains("persistent state of builder", incomplete.Message, StringComparison.Ordinal);
        Assert.Equal("QuotaExceeded", incomplete.ContextString("cause"));
    }
}
