using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Core.Tests.Approvals;

/// <summary>The release of a held call: run, rejoin, or fail closed with the error and audit status of its approval's end.</summary>
public sealed class HoldOutcomeSpecs
{
    private static readonly ApprovalId Id = ApprovalId.New();
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static readonly ApprovalRequest Request = new(Id, Principal.ForAgent(AgentName.Parse("bot")), AgentName.Parse("bot"), "s-1", "filesystem.delete",
        JsonDocument.Parse("{}").RootElement.Clone(), "hash", "org.yaml:3", "rev", "deleting needs a human", ClientInfo.Unknown, T0, T0.AddHours(1));

    private static ApprovalState State(ApprovalStatus status, ApprovalDecision? decision = null) =>
        new(status, Request, decision, null, null, null);

    private static HeldCall Joining => new("filesystem.delete", Id, IsNew: false, Reattach: false, PendingAudited: false, IdempotencyKey: null);

    private static HeldCall Held => Joining with { IsNew = true, PendingAudited = true };

    [Fact]
    public void Should_run_the_call_that_spent_the_approval()
    {
        var o = HoldOutcome.Of(Held, execute: true, State(ApprovalStatus.Consumed), "approved");
        Assert.Equal(HoldOutcomeKind.Execute, o.Kind);
        Assert.Equal("approved", o.Decision);
        Assert.Null(o.Error);
    }

    [Theory]
    [InlineData(ApprovalStatus.Consumed)]
    [InlineData(ApprovalStatus.Expired)]
    [InlineData(ApprovalStatus.TimedOut)]
    [InlineData(ApprovalStatus.Rejected)]
    public void Should_rejoin_when_the_approval_it_only_tried_to_join_had_closed(ApprovalStatus status)
    {
        var o = HoldOutcome.Of(Joining, execute: false, State(status), "closed");
        Assert.Equal(HoldOutcomeKind.Rejoin, o.Kind);
        Assert.Null(o.Error);
        Assert.Null(o.Decision);
    }

    [Fact]
    public void Should_rejoin_when_the_approval_it_tried_to_join_was_never_recorded()
    {
        Assert.Equal(HoldOutcomeKind.Rejoin, HoldOutcome.Of(Joining, false, ApprovalState.Empty, "approval not found").Kind);
    }

    [Fact]
    public void Should_never_rejoin_a_call_whose_hold_is_on_record_its_own_request_or_a_reattached_call()
    {
        foreach (var call in new[] { Joining with { PendingAudited = true }, Joining with { IsNew = true }, Joining with { Reattach = true, IdempotencyKey = "k-1" } })
            Assert.Equal(HoldOutcomeKind.Fail, HoldOutcome.Of(call, false, State(ApprovalStatus.Rejected, new ApprovalDecision(false, "cli:root", "no", T0)), "rejected").Kind);
    }

    [Fact]
    public void Should_fail_a_rejected_call_as_denied_with_the_deciders_reason()
    {
        var o = HoldOutcome.Of(Held, false, State(ApprovalStatus.Rejected, new ApprovalDecision(false, "user:laptop", "not today", T0)), "rejected");
        Assert.Equal(HoldOutcomeKind.Fail, o.Kind);
        Assert.Equal("rejected", o.Decision);
        Assert.Equal(AuditStatus.Denied, o.Status);
        Assert.Equal("ApprovalRejected", o.Error!.ErrorType);
        Assert.Contains("not today", o.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_fail_a_timed_out_call_as_an_error_never_as_consent()
    {
        var o = HoldOutcome.Of(Held, false, State(ApprovalStatus.TimedOut), "timed out");
        Assert.Equal("timed_out", o.Decision);
        Assert.Equal(AuditStatus.Error, o.Status);
        Assert.Equal("ApprovalTimedOut", o.Error!.ErrorType);
    }

    [Fact]
    public void Should_answer_a_reattached_call_whose_approval_was_spent_with_OutcomeUnknown()
    {
        var o = HoldOutcome.Of(Joining with { Reattach = true, IdempotencyKey = "k-1" }, false, State(ApprovalStatus.Consumed), "used");
        Assert.Equal("OutcomeUnknown", o.Error!.ErrorType);
        Assert.Equal(Id.Value, o.Error.ContextString("request_id"));
    }

    [Fact]
    public void Should_answer_a_call_without_a_key_that_names_a_spent_approval_as_not_usable_not_as_its_own_unknown_outcome()
    {
        var o = HoldOutcome.Of(Joining with { Reattach = true }, false, State(ApprovalStatus.Consumed), "approval 'x' is consumed");
        Assert.Equal(HoldOutcomeKind.Fail, o.Kind);
        Assert.Equal("ApprovalNotUsable", o.Error!.ErrorType);
    }

    [Fact]
    public void Should_rejoin_a_reattached_call_whose_approval_was_never_recorded_and_fail_it_on_any_recorded_end()
    {
        // Nothing can have run under an approval that was never recorded: the call asks as a new one would.
        Assert.Equal(HoldOutcomeKind.Rejoin, HoldOutcome.Of(Joining with { Reattach = true }, false, ApprovalState.Empty, "approval not found").Kind);
        Assert.Equal(HoldOutcomeKind.Rejoin, HoldOutcome.Of(Joining with { Reattach = true, IdempotencyKey = "k-1", PendingAudited = true }, false, ApprovalState.Empty, "not found").Kind);
        Assert.Equal(HoldOutcomeKind.Fail, HoldOutcome.Of(Joining with { Reattach = true }, false, State(ApprovalStatus.TimedOut), "timed out").Kind);
    }

    [Theory]
    [InlineData(ApprovalStatus.Consumed, "consumed")]
    [InlineData(ApprovalStatus.Expired, "expired")]
    public void Should_fail_any_other_end_as_not_usable_with_the_status_of_its_resolution(ApprovalStatus status, string wire)
    {
        var o = HoldOutcome.Of(Held, false, State(status), "approval was used by another identical call");
        Assert.Equal("ApprovalNotUsable", o.Error!.ErrorType);
        Assert.Equal(wire, o.Decision);
        Assert.Equal(AuditWire.StatusOfApprovalDecision(wire) ?? AuditStatus.Denied, o.Status);
    }
}
