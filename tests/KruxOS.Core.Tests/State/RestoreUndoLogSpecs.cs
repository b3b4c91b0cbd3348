using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Core.State.Persistent;
using Xunit;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>
/// The undo log of a restore (ADR 0060, "Crash during a restore") as pure rules: every undo step becomes exactly one part
/// and comes back the same; a part or header that is not exactly what the gateway writes is refused; the start-up put-back
/// is every part, newest first.
/// </summary>
public sealed class RestoreUndoLogSpecs
{
    private static readonly PersistentStateSnapshot Snapshot = new(Builder, []);

    private static readonly RestoreStep[] Steps =
    [
        new ReplaceAgentState(Snapshot, PutBack: true),
        new WriteSharedKey("team/colour", J("\"blue\""), Principal.ForAgent(Reviewer), null),
        new DeleteSharedKey("created-by-restore"),
    ];

    [Fact]
    public void Should_turn_every_undo_step_into_a_part_and_back()
    {
        for (var i = 0; i < Steps.Length; i++)
        {
            var (step, error) = RestoreUndoLog.FromPart(i, RestoreUndoLog.ToPart(i, Steps[i]));
            Assert.Null(error);
            Assert.Equal(Steps[i], step);
        }
    }

    [Fact]
    public void Should_put_every_part_back_newest_first()
    {
        Assert.Equal(Steps.Reverse(), RestoreUndoLog.PutBackOrder(Steps));
    }

    [Fact]
    public void Should_refuse_a_part_that_is_not_exactly_what_the_gateway_writes()
    {
        var shared = RestoreUndoLog.ToPart(1, Steps[1]);
        Assert.NotNull(RestoreUndoLog.FromPart(2, shared).Error); // out of order
        Assert.NotNull(RestoreUndoLog.FromPart(1, shared with { Op = "drop_table" }).Error);
        Assert.NotNull(RestoreUndoLog.FromPart(1, shared with { Key = "" }).Error);
        Assert.NotNull(RestoreUndoLog.FromPart(1, shared with { Writer = null }).Error);
        Assert.NotNull(RestoreUndoLog.FromPart(1, shared with { State = Snapshot }).Error);
        var agent = RestoreUndoLog.ToPart(0, Steps[0]);
        Assert.NotNull(RestoreUndoLog.FromPart(0, agent with { State = null }).Error);
        Assert.NotNull(RestoreUndoLog.FromPart(0, agent with { Key = "k" }).Error);
        var delete = RestoreUndoLog.ToPart(2, Steps[2]);
        Assert.NotNull(RestoreUndoLog.FromPart(2, delete with { Value = J("1") }).Error);
        Assert.NotNull(RestoreUndoLog.FromPart(0, null).Error);
    }

    [Fact]
    public void Should_refuse_a_foreign_header_or_a_log_that_is_not_whole()
    {
        var header = RestoreUndoLog.Header("bkp-20260101T000000", T0, 3);
        Assert.Null(RestoreUndoLog.CheckHeader(header));
        Assert.NotNull(RestoreUndoLog.CheckHeader(null));
        Assert.NotNull(RestoreUndoLog.CheckHeader(header with { Format = "kruxos.restore-undo.v2" }));
        Assert.NotNull(RestoreUndoLog.CheckHeader(header with { BackupId = "../../etc/passwd" }));
        Assert.NotNull(RestoreUndoLog.CheckHeader(header with { Parts = -1 }));
        Assert.NotNull(RestoreUndoLog.CheckHeader(header with { Parts = RestoreUndoLog.MaxParts + 1 }));
        Assert.Null(RestoreUndoLog.CheckEnd(new RestoreUndoEnd(RestoreUndoLog.EndMark, 3), 3));
        Assert.NotNull(RestoreUndoLog.CheckEnd(new RestoreUndoEnd(RestoreUndoLog.EndMark, 2), 3));
        Assert.NotNull(RestoreUndoLog.CheckEnd(new RestoreUndoEnd("fin", 3), 3));
        Assert.NotNull(RestoreUndoLog.CheckEnd(null, 3));
    }
}
