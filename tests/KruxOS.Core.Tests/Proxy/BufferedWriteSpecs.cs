using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using Xunit;
using static KruxOS.Core.Proxy.WriteCommands;
using static KruxOS.Core.Proxy.WriteEvents;

namespace KruxOS.Core.Tests.Proxy;

/// <summary>The pure decisions of a buffered write: window, cancel, attempts, backoff, dead letters, operator retry/discard.</summary>
public sealed class BufferedWriteSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly WriteId Id = WriteId.New(T0);
    private static readonly WriteMarker Marker = WriteMarker.New(Id);
    private static readonly AgentName Alice = AgentName.Parse("alice");
    private static readonly AgentName Bob = AgentName.Parse("bob");
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private static readonly WriteSettings Settings = WriteSettings.Default;

    private static BufferWrite Buffer(WriteMarker? marker = null, RollbackSpec? rollback = null) =>
        new(Id, ServiceName.Parse("gmail"), CapabilityName.Parse("email.send"), JsonDocument.Parse("""{"to":"x@example.com"}""").RootElement,
            marker ?? Marker, Alice, "s-1", "to x@example.com", Window, rollback, T0);

    private static BufferedWriteState Run(BufferedWriteState state, params IWriteCommand[] commands)
    {
        foreach (var c in commands)
        {
            var (result, events) = state.ProcessCommand(c, Settings);
            Assert.True(result.IsOk, $"{c.GetType().Name}: {result.Code} {result.Message}");
            state = state.ApplyAll(events);
        }
        return state;
    }

    private static BufferedWriteState Buffered() => Run(BufferedWriteState.Empty(Id), Buffer());

    private static (WriteResult Result, BufferedWriteState State) Decide(BufferedWriteState state, IWriteCommand command)
    {
        var (result, events) = state.ProcessCommand(command, Settings);
        return (result, state.ApplyAll(events));
    }

    [Fact]
    public void Should_buffer_until_the_end_of_the_window_and_accept_the_same_write_again()
    {
        var state = Buffered();
        Assert.Equal(WriteStatus.Buffered, state.Status);
        Assert.Equal(T0 + Window, state.BufferUntil);
        Assert.Equal(T0 + Window, state.DueAt);
        var (again, events) = state.ProcessCommand(Buffer(), Settings);
        Assert.True(again.IsOk);
        Assert.Empty(events);
        var (other, _) = state.ProcessCommand(Buffer(WriteMarker.New(Id)), Settings);
        Assert.Equal(WriteResultCode.Conflict, other.Code);
    }

    [Fact]
    public void Should_refuse_a_marker_of_another_write_and_non_object_arguments()
    {
        var foreign = WriteMarker.New(WriteId.New(T0.AddSeconds(1)));
        Assert.Equal(WriteResultCode.Invalid, BufferedWriteState.Empty(Id).ProcessCommand(Buffer(foreign), Settings).Result.Code);
        var array = Buffer() with { Arguments = JsonDocument.Parse("[]").RootElement };
        Assert.Equal(WriteResultCode.Invalid, BufferedWriteState.Empty(Id).ProcessCommand(array, Settings).Result.Code);
        Assert.Equal(WriteResultCode.Invalid, BufferedWriteState.Empty(Id).ProcessCommand(Buffer() with { Window = TimeSpan.Zero }, Settings).Result.Code);
    }

    [Fact]
    public void Should_cancel_inside_the_window_and_never_begin_an_attempt_afterwards()
    {
        var state = Run(Buffered(), new CancelWrite(Id, "user:ops", null, "wrong recipient", T0.AddMinutes(1)));
        Assert.Equal(WriteStatus.Cancelled, state.Status);
        Assert.Null(state.DueAt);
        var (begin, _) = Decide(state, new BeginAttempt(Id, 0, T0 + Window));
        Assert.Equal(WriteResultCode.Conflict, begin.Code);
    }

    [Fact]
    public void Should_refuse_a_cancel_once_the_window_has_ended_even_before_the_attempt_began()
    {
        var (result, state) = Decide(Buffered(), new CancelWrite(Id, "user:ops", null, "too late", T0 + Window));
        Assert.Equal(WriteResultCode.Conflict, result.Code);
        Assert.Equal(WriteStatus.Buffered, state.Status);
    }

    [Fact]
    public void Should_answer_another_agents_cancel_like_an_unknown_write_and_reveal_nothing()
    {
        var (result, state) = Decide(Buffered(), new CancelWrite(Id, "agent:bob", Bob, "mine now", T0.AddSeconds(5)));
        Assert.Equal(WriteResultCode.NotFound, result.Code);
        Assert.Equal(WriteStatus.None, result.State.Status);
        Assert.Null(result.State.Arguments);
        Assert.Equal(WriteStatus.Buffered, state.Status);
        var own = Decide(state, new CancelWrite(Id, "agent:alice", Alice, "oops", T0.AddSeconds(5)));
        Assert.Equal(WriteStatus.Cancelled, own.State.Status);
    }

    [Fact]
    public void Should_begin_the_first_attempt_only_when_the_window_has_ended_and_only_once()
    {
        var (early, _) = Decide(Buffered(), new BeginAttempt(Id, 0, T0 + Window - TimeSpan.FromMilliseconds(1)));
        Assert.Equal(WriteResultCode.NotDue, early.Code);
        var (begun, state) = Decide(Buffered(), new BeginAttempt(Id, 0, T0 + Window));
        Assert.True(begun.IsOk);
        Assert.Equal(WriteStatus.Executing, state.Status);
        Assert.Equal(1, state.Attempts);
        Assert.True(state.AttemptOpen);
        Assert.False(state.LookupFirst);
        // A second begin with the count it saw before is stale: two attempts never run at once.
        var (twice, _) = Decide(state, new BeginAttempt(Id, 0, T0 + Window));
        Assert.Equal(WriteResultCode.Conflict, twice.Code);
    }

    [Fact]
    public void Should_look_up_first_when_an_attempt_was_left_open_by_a_crash()
    {
        var open = Run(Buffered(), new BeginAttempt(Id, 0, T0 + Window));
        var (result, state) = Decide(open, new BeginAttempt(Id, 1, T0 + Window + TimeSpan.FromMinutes(3)));
        Assert.True(result.IsOk);
        Assert.Equal(2, state.Attempts);
        Assert.True(state.LookupFirst);
    }

    [Fact]
    public void Should_retry_after_1_2_4_8_16_minutes_then_dead_letter()
    {
        var state = Buffered();
        var at = T0 + Window;
        var waits = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 6; attempt++)
        {
            state = Run(state, new BeginAttempt(Id, attempt - 1, at));
            Assert.Equal(attempt > 1, state.LookupFirst);
            state = Run(state, new RecordOutcome(Id, attempt, AttemptResult.Transient, null, "HTTP 503", null, at));
            if (state.Status == WriteStatus.DeadLettered) break;
            var next = state.NextAttemptAt!.Value;
            waits.Add(next - at);
            Assert.Equal(WriteResultCode.NotDue, Decide(state, new BeginAttempt(Id, attempt, next.AddTicks(-1))).Result.Code);
            at = next;
        }
        Assert.Equal([1, 2, 4, 8, 16], waits.Select(w => (int)w.TotalMinutes));
        Assert.Equal(WriteStatus.DeadLettered, state.Status);
        Assert.Equal(6, state.Attempts);
        Assert.Equal("HTTP 503", state.LastError);
    }

    [Fact]
    public void Should_dead_letter_a_permanent_failure_at_once()
    {
        var state = Run(Buffered(), new BeginAttempt(Id, 0, T0 + Window),
            new RecordOutcome(Id, 1, AttemptResult.Permanent, null, "400 invalid recipient", null, T0 + Window));
        Assert.Equal(WriteStatus.DeadLettered, state.Status);
        Assert.Null(state.DueAt);
    }

    [Fact]
    public void Should_let_a_provider_retry_hint_lengthen_the_wait_but_never_beyond_an_hour()
    {
        var at = T0;
        Assert.Equal(at.AddMinutes(1), BufferedWriteDecisions.NextAttempt(1, at, TimeSpan.FromSeconds(5), Settings));
        Assert.Equal(at.AddMinutes(3), BufferedWriteDecisions.NextAttempt(1, at, TimeSpan.FromMinutes(3), Settings));
        Assert.Equal(at.AddHours(1), BufferedWriteDecisions.NextAttempt(2, at, TimeSpan.FromDays(2), Settings));
        Assert.Null(BufferedWriteDecisions.NextAttempt(6, at, null, Settings));
    }

    [Fact]
    public void Should_ignore_the_outcome_of_a_stale_attempt()
    {
        var state = Run(Buffered(), new BeginAttempt(Id, 0, T0 + Window), new BeginAttempt(Id, 1, T0 + Window));
        var (stale, after) = Decide(state, new RecordOutcome(Id, 1, AttemptResult.Done, "msg-1", null, null, T0 + Window));
        Assert.Equal(WriteResultCode.Conflict, stale.Code);
        Assert.Equal(WriteStatus.Executing, after.Status);
        var done = Run(state, new RecordOutcome(Id, 2, AttemptResult.Done, "msg-1", null, null, T0 + Window));
        Assert.Equal(WriteStatus.Done, done.Status);
        Assert.Equal("msg-1", done.ProviderReference);
        Assert.False(done.AttemptOpen);
    }

    [Fact]
    public void Should_record_the_rollback_point_before_execution_and_keep_it_for_its_retention()
    {
        var spec = new RollbackSpec("untrash", TimeSpan.FromHours(72));
        var state = Run(BufferedWriteState.Empty(Id), Buffer(rollback: spec), new BeginAttempt(Id, 0, T0 + Window),
            new RecordRollback(Id, 1, new WriteRollback("untrash", JsonDocument.Parse("""{"labels":["INBOX"]}""").RootElement, T0 + Window), T0 + Window),
            new RecordOutcome(Id, 1, AttemptResult.Done, "m-1", null, null, T0 + Window));
        Assert.Equal(T0 + Window + TimeSpan.FromHours(72), state.RollbackKeptUntil);
        Assert.True(state.HasLiveRollback(T0.AddHours(1)));
        Assert.False(state.HasLiveRollback(T0.AddHours(73)));
        // An operation without a rollback refuses one.
        var plain = Run(Buffered(), new BeginAttempt(Id, 0, T0 + Window));
        var (refused, _) = Decide(plain, new RecordRollback(Id, 1, new WriteRollback("x", JsonDocument.Parse("{}").RootElement, T0), T0 + Window));
        Assert.Equal(WriteResultCode.Invalid, refused.Code);
    }

    [Fact]
    public void Should_retry_a_dead_letter_as_a_new_series_that_looks_up_first_and_discard_only_dead_letters()
    {
        var dead = Run(Buffered(), new BeginAttempt(Id, 0, T0 + Window),
            new RecordOutcome(Id, 1, AttemptResult.Permanent, null, "400", null, T0 + Window));
        var retried = Run(dead, new RetryWrite(Id, "user:ops", T0.AddHours(1)));
        Assert.Equal(WriteStatus.Executing, retried.Status);
        Assert.Equal(0, retried.Attempts);
        Assert.Equal(T0.AddHours(1), retried.DueAt);
        var again = Run(retried, new BeginAttempt(Id, 0, T0.AddHours(1)));
        Assert.True(again.LookupFirst);
        Assert.Equal(WriteResultCode.Conflict, Decide(retried, new DiscardWrite(Id, "user:ops", "no", T0.AddHours(1))).Result.Code);
        var discarded = Run(dead, new DiscardWrite(Id, "user:ops", "obsolete", T0.AddHours(2)));
        Assert.Equal(WriteStatus.Discarded, discarded.Status);
        Assert.Equal(WriteResultCode.Conflict, Decide(Buffered(), new RetryWrite(Id, "user:ops", T0)).Result.Code);
    }

    [Fact]
    public void Should_cancel_only_buffered_writes_on_disconnect()
    {
        Assert.Equal(WriteStatus.Cancelled, Run(Buffered(), new CancelForDisconnect(Id, "user:ops", T0.AddSeconds(1))).Status);
        var executing = Run(Buffered(), new BeginAttempt(Id, 0, T0 + Window));
        Assert.Equal(WriteStatus.Executing, Run(executing, new CancelForDisconnect(Id, "user:ops", T0 + Window)).Status);
    }

    [Fact]
    public void Should_answer_commands_for_an_unknown_write_with_not_found()
    {
        var (result, events) = BufferedWriteState.Empty(Id).ProcessCommand(new CancelWrite(Id, "user:ops", null, "x", T0), Settings);
        Assert.Equal(WriteResultCode.NotFound, result.Code);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_fold_the_events_it_decided_into_the_state_it_answered()
    {
        var (result, events) = BufferedWriteState.Empty(Id).ProcessCommand(Buffer(), Settings);
        Assert.IsType<WriteBuffered>(Assert.Single(events));
        Assert.Equal(result.State, BufferedWriteState.Empty(Id).ApplyAll(events));
    }

    // ---- operator rollback (ADR 0065) ----

    private static readonly RollbackSpec Untrash = new("untrash", TimeSpan.FromHours(72));

    private static BufferedWriteState Executed(bool withPoint = true)
    {
        var state = Run(BufferedWriteState.Empty(Id), Buffer(rollback: Untrash), new BeginAttempt(Id, 0, T0 + Window));
        if (withPoint)
            state = Run(state, new RecordRollback(Id, 1, new WriteRollback("untrash", JsonDocument.Parse("""{"messages":[{"id":"m1"}]}""").RootElement, T0 + Window), T0 + Window));
        return Run(state, new RecordOutcome(Id, 1, AttemptResult.Done, "m1", null, null, T0 + Window));
    }

    [Fact]
    public void Should_start_a_rollback_once_and_answer_every_later_request_with_the_first_result()
    {
        var at = T0 + Window + TimeSpan.FromHours(1);
        var (started, state) = Decide(Executed(), new ApplyRollback(Id, "user:ops", at));
        Assert.True(started.IsOk);
        Assert.Equal(new RollbackApplication(RollbackApplyStatus.Applying, 1, "user:ops", at, null, null), state.RollbackApplied);
        Assert.True(state.HasLiveRollback(at)); // still available until the outcome is known

        state = Run(state, new RecordRollbackOutcome(Id, 1, true, false, "m1", at.AddSeconds(1)));
        Assert.Equal(RollbackApplyStatus.Applied, state.RollbackApplied!.Status);
        Assert.False(state.HasLiveRollback(at.AddSeconds(2)));

        var (again, events) = state.ProcessCommand(new ApplyRollback(Id, "user:other", at.AddMinutes(1)), Settings);
        Assert.True(again.IsOk);
        Assert.Empty(events);
        Assert.Equal("already rolled back", again.Message);
        Assert.Equal(state, again.State);
        // even after the retention: the first result, not an expiry
        var (late, lateEvents) = state.ProcessCommand(new ApplyRollback(Id, "user:ops", T0 + TimeSpan.FromDays(30)), Settings);
        Assert.Equal(WriteResultCode.Ok, late.Code);
        Assert.Empty(lateEvents);
    }

    [Fact]
    public void Should_refuse_a_rollback_after_its_retention_for_a_write_that_did_not_execute_and_without_a_point()
    {
        var executed = Executed();
        var (expired, events) = executed.ProcessCommand(new ApplyRollback(Id, "user:ops", executed.RollbackKeptUntil!.Value), Settings);
        Assert.Equal(WriteResultCode.Expired, expired.Code);
        Assert.Empty(events);
        var (justInTime, _) = executed.ProcessCommand(new ApplyRollback(Id, "user:ops", executed.RollbackKeptUntil!.Value.AddTicks(-1)), Settings);
        Assert.True(justInTime.IsOk);

        Assert.Equal(WriteResultCode.Conflict, Decide(Run(BufferedWriteState.Empty(Id), Buffer(rollback: Untrash)), new ApplyRollback(Id, "user:ops", T0)).Result.Code);
        var cancelled = Run(BufferedWriteState.Empty(Id), Buffer(rollback: Untrash), new CancelWrite(Id, "user:ops", null, "no", T0.AddSeconds(1)));
        Assert.Equal(WriteResultCode.Conflict, Decide(cancelled, new ApplyRollback(Id, "user:ops", T0.AddSeconds(2))).Result.Code);
        var (noPoint, _) = Decide(Executed(withPoint: false), new ApplyRollback(Id, "user:ops", T0 + Window));
        Assert.Equal(WriteResultCode.Conflict, noPoint.Code);
        Assert.Contains("no rollback point", noPoint.Message, StringComparison.Ordinal);
        Assert.Equal(WriteResultCode.NotFound, Decide(BufferedWriteState.Empty(Id), new ApplyRollback(Id, "user:ops", T0)).Result.Code);
    }

    [Fact]
    public void Should_allow_a_new_attempt_only_after_a_transient_failure_or_an_unrecorded_one()
    {
        var at = T0 + Window + TimeSpan.FromMinutes(1);
        var state = Run(Executed(), new ApplyRollback(Id, "user:ops", at), new RecordRollbackOutcome(Id, 1, false, false, "HTTP 503", at));
        Assert.Equal(RollbackApplyStatus.FailedTransient, state.RollbackApplied!.Status);
        Assert.True(state.HasLiveRollback(at));
        // the outcome of attempt 1 is recorded once; a second record of it is refused
        Assert.Equal(WriteResultCode.Conflict, Decide(state, new RecordRollbackOutcome(Id, 1, true, false, "m1", at)).Result.Code);
        state = Run(state, new ApplyRollback(Id, "user:ops", at.AddMinutes(1)));
        Assert.Equal(new RollbackApplication(RollbackApplyStatus.Applying, 2, "user:ops", at.AddMinutes(1), null, null), state.RollbackApplied);
        // an attempt left open by a crash (no outcome recorded) may be started again: the rollback kinds are idempotent
        state = Run(state, new ApplyRollback(Id, "user:ops", at.AddMinutes(2)));
        Assert.Equal(3, state.RollbackApplied!.Attempts);
        state = Run(state, new RecordRollbackOutcome(Id, 3, false, true, "HTTP 400", at.AddMinutes(3)));
        Assert.Equal(RollbackApplyStatus.Failed, state.RollbackApplied!.Status);
        Assert.False(state.HasLiveRollback(at.AddMinutes(3)));
        var (final, events) = state.ProcessCommand(new ApplyRollback(Id, "user:ops", at.AddMinutes(4)), Settings);
        Assert.True(final.IsOk);
        Assert.Empty(events);
        Assert.Equal(RollbackApplyStatus.Failed, final.State.RollbackApplied!.Status);
    }
}
