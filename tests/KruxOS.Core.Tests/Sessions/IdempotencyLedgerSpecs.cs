using System.Text.Json;
using KruxOS.Core.Approvals;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Core.Sessions.IdempotencyEvents;

namespace KruxOS.Core.Tests.Sessions;

/// <summary>The pure key-state logic: decisions per state, event application, retention and the boundary checks.</summary>
public sealed class IdempotencyLedgerSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly IdempotencyLimits Limits = new(TimeSpan.FromHours(24), 3, 1024);
    private static readonly ApprovalId Appr = ApprovalId.Parse("appr-00000000000000aa");
    private static readonly string Fp = IdempotencyKeys.Fingerprint("filesystem__append", Json("""{"path":"a.txt","content":"x"}"""));

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private static IdempotencyLedger With(params IIdempotencyEvent[] events) =>
        events.Aggregate(IdempotencyLedger.Empty, (l, e) => l.Apply(e, Limits));

    private static readonly ToolCallResult Ok = ToolCallResult.Success(CapabilityName.Parse("filesystem.append"), Json("""{"bytes":1}"""), Tier.Autonomous, 5);

    [Fact]
    public void Should_start_an_unknown_key()
    {
        var v = IdempotencyLedger.Empty.Decide("k-00000001", Fp, live: false, T0, Limits);
        Assert.Equal(IdempotencyVerdictKind.Start, v.Kind);
        Assert.Null(v.Entry);
    }

    [Fact]
    public void Should_attach_to_a_live_running_call_but_call_the_same_key_unknown_after_a_restart()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "filesystem__append", T0));
        Assert.Equal(IdempotencyVerdictKind.Attach, l.Decide("k-00000001", Fp, live: true, T0, Limits).Kind);
        var after = l.Decide("k-00000001", Fp, live: false, T0.AddMinutes(1), Limits);
        Assert.Equal(IdempotencyVerdictKind.Unknown, after.Kind);
        var answer = IdempotencyLedger.Answer(after.Entry!);
        Assert.Equal("OutcomeUnknown", answer.Error!.ErrorType);
        Assert.False(answer.Error.Retryable);
        Assert.Equal("k-00000001", answer.Error.ContextString("idempotency_key"));
    }

    [Fact]
    public void Should_replay_the_recorded_outcome_of_a_completed_call()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "filesystem__append", T0), new KeyCompleted("k-00000001", Ok, true, T0.AddSeconds(1)));
        var v = l.Decide("k-00000001", Fp, live: false, T0.AddHours(1), Limits);
        Assert.Equal(IdempotencyVerdictKind.Replay, v.Kind);
        Assert.Equal(Ok, IdempotencyLedger.Answer(v.Entry!));
    }

    [Fact]
    public void Should_answer_OutcomeNotRetained_when_the_result_was_too_large_to_keep()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "filesystem__append", T0), new KeyCompleted("k-00000001", null, true, T0));
        var answer = IdempotencyLedger.Answer(l.Decide("k-00000001", Fp, false, T0, Limits).Entry!);
        Assert.Equal("OutcomeNotRetained", answer.Error!.ErrorType);
        Assert.Equal("true", answer.Error.Context["succeeded"].GetRawText());
    }

    [Fact]
    public void Should_reattach_a_held_call_after_a_restart_and_attach_while_live()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "filesystem__append", T0), new KeyHeld("k-00000001", Appr, T0));
        Assert.Equal(IdempotencyVerdictKind.Attach, l.Decide("k-00000001", Fp, true, T0, Limits).Kind);
        var v = l.Decide("k-00000001", Fp, false, T0.AddHours(2), Limits);
        Assert.Equal(IdempotencyVerdictKind.Reattach, v.Kind);
        Assert.Equal(Appr, v.Entry!.ApprovalId);
    }

    [Fact]
    public void Should_treat_a_call_released_by_its_approval_as_running_again()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "x", T0), new KeyHeld("k-00000001", Appr, T0), new KeyResumed("k-00000001", T0));
        Assert.Equal(IdempotencyVerdictKind.Unknown, l.Decide("k-00000001", Fp, false, T0, Limits).Kind);
    }

    [Fact]
    public void Should_keep_answering_unknown_once_interrupted()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "x", T0), new KeyInterrupted("k-00000001", T0));
        Assert.Equal(IdempotencyStatus.Interrupted, l.Entries["k-00000001"].Status);
        Assert.Equal(IdempotencyVerdictKind.Unknown, l.Decide("k-00000001", Fp, true, T0, Limits).Kind);
    }

    [Theory]
    [InlineData("filesystem__append", """{"path":"a.txt","content":"y"}""")]
    [InlineData("filesystem__write", """{"path":"a.txt","content":"x"}""")]
    public void Should_refuse_a_key_reused_for_a_different_call(string tool, string args)
    {
        var l = With(new KeyStarted("k-00000001", Fp, "filesystem__append", T0), new KeyCompleted("k-00000001", Ok, true, T0));
        var v = l.Decide("k-00000001", IdempotencyKeys.Fingerprint(tool, Json(args)), false, T0, Limits);
        Assert.Equal(IdempotencyVerdictKind.Conflict, v.Kind);
    }

    [Fact]
    public void Should_bind_the_fingerprint_to_the_arguments_canonically_not_by_key_order()
    {
        Assert.Equal(IdempotencyKeys.Fingerprint("t", Json("""{"a":1,"b":"x"}""")), IdempotencyKeys.Fingerprint("t", Json("""{ "b":"x", "a":1 }""")));
    }

    [Fact]
    public void Should_forget_keys_after_the_window_and_start_them_afresh()
    {
        var l = With(new KeyStarted("k-00000001", Fp, "x", T0), new KeyCompleted("k-00000001", Ok, true, T0));
        Assert.Equal(IdempotencyVerdictKind.Replay, l.Decide("k-00000001", Fp, false, T0.AddHours(23), Limits).Kind);
        Assert.Equal(IdempotencyVerdictKind.Start, l.Decide("k-00000001", Fp, false, T0.AddHours(24), Limits).Kind);
        var later = l.Apply(new KeyStarted("k-00000002", Fp, "x", T0.AddHours(25)), Limits);
        Assert.False(later.Entries.ContainsKey("k-00000001"));
    }

    [Fact]
    public void Should_evict_the_oldest_answered_keys_over_the_cap_but_refuse_when_every_key_is_live()
    {
        var answered = With(
            new KeyStarted("k-00000001", Fp, "x", T0), new KeyCompleted("k-00000001", Ok, true, T0),
            new KeyStarted("k-00000002", Fp, "x", T0.AddSeconds(1)),
            new KeyStarted("k-00000003", Fp, "x", T0.AddSeconds(2)));
        Assert.Equal(IdempotencyVerdictKind.Start, answered.Decide("k-00000004", Fp, false, T0.AddSeconds(3), Limits).Kind);
        var next = answered.Apply(new KeyStarted("k-00000004", Fp, "x", T0.AddSeconds(3)), Limits);
        Assert.Equal(["k-00000002", "k-00000003", "k-00000004"], next.Entries.Keys.Order(StringComparer.Ordinal));

        // three keys running or held: no room for a fourth
        Assert.Equal(IdempotencyVerdictKind.Full, next.Decide("k-00000005", Fp, false, T0.AddSeconds(4), Limits).Kind);
        Assert.Equal("ServiceUnavailable", IdempotencyKeys.LedgerFull(3).ErrorType);
    }

    [Fact]
    public void Should_forget_a_key_whose_call_was_refused_retryably_before_it_ran_but_record_everything_else()
    {
        var unavailable = ToolCallResult.Failure("x", KruxOS.Core.Errors.Errors.ServiceUnavailable("approvals", "loading"), null, 0);
        var rejected = ToolCallResult.Failure("x", KruxOS.Core.Errors.Errors.ApprovalRejected("x", "appr-1", "no", "ops"), null, 0);
        Assert.False(IdempotencyLedger.Records(unavailable, executed: false));
        Assert.True(IdempotencyLedger.Records(unavailable, executed: true));
        Assert.True(IdempotencyLedger.Records(rejected, executed: false));
        Assert.True(IdempotencyLedger.Records(Ok, executed: true));

        var l = With(new KeyStarted("k-00000001", Fp, "x", T0), new KeyReleased("k-00000001", T0));
        Assert.Equal(IdempotencyVerdictKind.Start, l.Decide("k-00000001", Fp, false, T0, Limits).Kind);
    }

    [Fact]
    public void Should_keep_a_held_key_bound_to_its_approval_when_a_node_still_starting_refuses_its_re_attached_copy()
    {
        // arrange: a key held on an approval before a restart; one only running; one already resumed from its hold
        var unavailable = ToolCallResult.Failure("x", KruxOS.Core.Errors.Errors.ServiceUnavailable("approvals", "the approval queue is still loading"), null, 0);
        var held = With(new KeyStarted("k-00000001", Fp, "x", T0), new KeyHeld("k-00000001", Appr, T0));
        var running = With(new KeyStarted("k-00000001", Fp, "x", T0));
        var resumed = With(new KeyStarted("k-00000001", Fp, "x", T0), new KeyHeld("k-00000001", Appr, T0), new KeyResumed("k-00000001", T0));

        // act
        var onHeld = held.Answered("k-00000001", unavailable, executed: false, unavailable, T0);
        var onRunning = running.Answered("k-00000001", unavailable, executed: false, unavailable, T0);
        var onResumed = resumed.Answered("k-00000001", unavailable, executed: false, unavailable, T0);
        var executed = held.Answered("k-00000001", Ok, executed: true, Ok, T0);

        // assert: the held key stays held, so the next copy re-attaches to the same approval
        Assert.Null(onHeld);
        Assert.Equal(IdempotencyVerdictKind.Reattach, held.Decide("k-00000001", Fp, live: false, T0, Limits).Kind);
        Assert.IsType<KeyReleased>(onRunning);
        Assert.IsType<KeyReleased>(onResumed);
        Assert.Equal(new KeyCompleted("k-00000001", Ok, true, T0), executed);
    }

    [Fact]
    public void Should_ignore_events_about_forgotten_keys()
    {
        var l = IdempotencyLedger.Empty.Apply(new KeyCompleted("k-gone-0001", Ok, true, T0), Limits);
        Assert.Empty(l.Entries);
    }

    [Theory]
    [InlineData("kbr-0123456789abcdef0123456789abcdef", true)]
    [InlineData("A.b_c:d-e9", true)]
    [InlineData("short", false)]
    [InlineData("has space-1234", false)]
    [InlineData("uni\u00e9code-123", false)]
    [InlineData("semi;colon-123", false)]
    public void Should_validate_keys_at_the_boundary(string key, bool valid)
    {
        var error = IdempotencyKeys.Validate(key);
        Assert.Equal(valid, error is null);
        if (!valid) Assert.Equal("InvalidInput", error!.ErrorType);
    }

    [Fact]
    public void Should_refuse_a_key_longer_than_128_characters()
    {
        Assert.Null(IdempotencyKeys.Validate(new string('a', 128)));
        Assert.Equal("_meta.kruxos/idempotency_key", IdempotencyKeys.Validate(new string('a', 129))!.ContextString("field"));
    }
}
