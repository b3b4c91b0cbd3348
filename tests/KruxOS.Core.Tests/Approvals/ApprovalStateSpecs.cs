using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Core.Approvals.ApprovalCommands;
using static KruxOS.Core.Approvals.ApprovalEvents;

namespace KruxOS.Core.Tests.Approvals;

public sealed class ApprovalStateSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly ApprovalId Id = ApprovalId.Parse("appr-0123456789abcdef");
    private static readonly AgentName Agent = AgentName.Parse("builder");
    private static readonly ApprovalDecider Root = ApprovalDecider.ControlSocket(0);
    private static readonly ApprovalDecider Ops = new("ops", CredentialRole.Operator, DecisionSurface.UserApi, DeciderCredential.UserToken, "tok-ops");

    internal static ApprovalRequest Request(string args = """{"command":"ls","api_key":"s3cret"}""", ApprovalId? id = null)
    {
        var json = JsonDocument.Parse(args).RootElement.Clone();
        return new ApprovalRequest(id ?? Id, Principal.ForAgent(Agent), Agent, "sess-1", "process.run", ApprovalArguments.Redact(json),
            ApprovalArguments.Hash(json), "policies/dev.yaml:4", "rev-7", "runs commands", new ClientInfo("claude-code", "2.1"), T0, T0.AddHours(24));
    }

    private static ApprovalState Pending() => ApprovalState.Empty.Apply(new ApprovalRequested(Request()));

    // Claimants as the approval actor names them: a waiter's full actor path with its uid (node and incarnation).
    internal const string Waiter = "akka.tcp://kruxos@10.0.0.2:7710/system/sharding/agent-session/7/builder/run-3#101";
    private const string Reattached = "akka.tcp://kruxos@10.0.0.3:7710/system/sharding/agent-session/7/builder/run-1#202";
    private const string Other = "akka.tcp://kruxos@10.0.0.3:7710/system/sharding/agent-session/7/builder/run-2#303";

    // Accepted at T0+1 min with a ten-minute grant window.
    private static ApprovalState Granted() => Run(Pending(), new Decide(Id, true, Root, "", T0.AddMinutes(1), GrantUntil: T0.AddMinutes(11)), out _);

    private static ClaimGrant Claim(string claimant, DateTimeOffset at, bool waiting = true) =>
        new(Id, claimant, Agent, "process.run", Request().ArgumentsHash, waiting, at);

    private static ApprovalState Run(ApprovalState s, IApprovalCommand c, out ApprovalResult result)
    {
        var (r, events) = s.ProcessCommand(c);
        result = r;
        return s.ApplyAll(events);
    }

    [Fact]
    public void Should_queue_a_request_with_redacted_arguments_and_the_canonical_hash()
    {
        var (result, events) = ApprovalState.Empty.ProcessCommand(new RequestApproval(Request()));
        Assert.True(result.IsOk);
        var requested = Assert.IsType<ApprovalRequested>(Assert.Single(events));
        Assert.Equal(T0, requested.At);
        var state = ApprovalState.Empty.Apply(requested);
        Assert.Equal(ApprovalStatus.Pending, state.Status);
        Assert.True(state.IsOpen);
        Assert.Equal(T0.AddHours(24), state.NextDeadline);
        Assert.Equal("[REDACTED:api_key]", state.Request!.Arguments.GetProperty("api_key").GetString());
        Assert.Equal("ls", state.Request.Arguments.GetProperty("command").GetString());
        Assert.StartsWith("sha256:", state.Request.ArgumentsHash);
    }

    [Fact]
    public void Should_accept_the_same_request_again_without_new_events_and_refuse_a_different_one_under_the_same_id()
    {
        var (same, e1) = Pending().ProcessCommand(new RequestApproval(Request()));
        Assert.True(same.IsOk);
        Assert.Empty(e1);
        var (other, e2) = Pending().ProcessCommand(new RequestApproval(Request("""{"command":"rm"}""")));
        Assert.Equal(ApprovalResultCode.Conflict, other.Code);
        Assert.Empty(e2);
    }

    [Fact]
    public void Should_refuse_a_request_whose_deadline_is_not_after_it()
    {
        var (r, events) = ApprovalState.Empty.ProcessCommand(new RequestApproval(Request() with { Deadline = T0 }));
        Assert.Equal(ApprovalResultCode.Invalid, r.Code);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_become_a_grant_when_approved_and_record_who_decided()
    {
        var s = Run(Pending(), new Decide(Id, true, Root, "looks fine", T0.AddMinutes(5), GrantUntil: T0.AddMinutes(15)), out var r);
        Assert.True(r.IsOk);
        Assert.Equal(ApprovalStatus.Approved, s.Status);
        Assert.Equal(new ApprovalDecision(true, "cli:root", "looks fine", T0.AddMinutes(5), Root), s.Decision);
        Assert.Equal(T0.AddMinutes(15), s.GrantUntil);
        Assert.True(s.IsOpen);
        Assert.Equal(T0.AddMinutes(15), s.NextDeadline);
    }


    [Fact]
    public void Should_reject_with_the_reason()
    {
        var s = Run(Pending(), new Decide(Id, false, Ops, "not today", T0.AddMinutes(1)), out var r);
        Assert.True(r.IsOk);
        Assert.Equal(ApprovalStatus.Rejected, s.Status);
        Assert.Equal("not today", s.Decision!.Reason);
        Assert.False(s.Decision.Approved);
        Assert.Null(s.NextDeadline);
    }

    [Fact]
    public void Should_time_out_only_once_the_deadline_has_passed()
    {
        var (early, none) = Pending().ProcessCommand(new TimeOut(Id, T0.AddHours(23)));
        Assert.Equal(ApprovalResultCode.Invalid, early.Code);
        Assert.Empty(none);
        var s = Run(Pending(), new TimeOut(Id, T0.AddHours(24)), out var r);
        Assert.True(r.IsOk);
        Assert.Equal(ApprovalStatus.TimedOut, s.Status);
    }

    [Fact]
    public void Should_treat_a_decision_after_the_deadline_as_a_time_out_never_as_consent()
    {
        var (r, events) = Pending().ProcessCommand(new Decide(Id, true, Root, "", T0.AddHours(25), GrantUntil: T0.AddHours(26)));
        Assert.Equal(ApprovalResultCode.Conflict, r.Code);
        Assert.Equal(409, r.HttpStatus);
        Assert.Equal(ApprovalStatus.TimedOut, r.Status);
        Assert.IsType<ApprovalTimedOut>(Assert.Single(events));
    }

    public static TheoryData<string> Resolved() => new() { "rejected", "timed_out", "expired", "consumed" };

    private static ApprovalState Resolve(string how) => how switch
    {
        "rejected" => Run(Pending(), new Decide(Id, false, Root, "", T0.AddMinutes(1)), out _),
        "timed_out" => Run(Pending(), new TimeOut(Id, T0.AddDays(2)), out _),
        "expired" => Run(Pending(), new Invalidate(Id, "agent revoked", T0.AddMinutes(1)), out _),
        "consumed" => Run(Granted(), Claim(Waiter, T0.AddMinutes(2)), out _),
        _ => throw new ArgumentException(how),
    };

    [Theory]
    [MemberData(nameof(Resolved))]
    public void Should_answer_409_with_the_current_status_to_a_late_decision(string how)
    {
        var s = Resolve(how);
        Assert.Equal(how, s.Status.ToWire());
        foreach (var approve in new[] { true, false })
        {
            var (r, events) = s.ProcessCommand(new Decide(Id, approve, Root, "", T0.AddMinutes(2), GrantUntil: T0.AddMinutes(20)));
            Assert.Equal(409, r.HttpStatus);
            Assert.Equal(s.Status, r.Status);
            Assert.Empty(events);
        }
        Assert.Empty(s.ProcessCommand(new TimeOut(Id, T0.AddDays(3))).Events);
        Assert.Empty(s.ProcessCommand(new Invalidate(Id, "x", T0.AddDays(3))).Events);
        Assert.Empty(s.ProcessCommand(Claim(Other, T0.AddMinutes(2))).Events);
        Assert.Empty(s.ProcessCommand(new LapseGrant(Id, T0.AddDays(3))).Events);
    }

    [Fact]
    public void Should_refuse_a_second_decision_on_an_approved_grant()
    {
        var s = Run(Pending(), new Decide(Id, true, Root, "", T0.AddMinutes(1), GrantUntil: T0.AddMinutes(11)), out _);
        var (r, events) = s.ProcessCommand(new Decide(Id, false, Ops, "", T0.AddMinutes(2)));
        Assert.Equal(ApprovalResultCode.Conflict, r.Code);
        Assert.Equal(ApprovalStatus.Approved, r.Status);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_spend_a_grant_once_for_the_identical_call_only()
    {
        var s = Granted();
        var hash = s.Request!.ArgumentsHash;
        Assert.Equal(ApprovalResultCode.Invalid, s.ProcessCommand(Claim(Waiter, T0.AddMinutes(2)) with { ArgumentsHash = "sha256:other" }).Result.Code);
        Assert.Equal(ApprovalResultCode.Invalid, s.ProcessCommand(Claim(Waiter, T0.AddMinutes(2)) with { Agent = AgentName.Parse("other") }).Result.Code);
        Assert.Equal(ApprovalResultCode.Invalid, s.ProcessCommand(Claim(Waiter, T0.AddMinutes(2)) with { Capability = "process.kill" }).Result.Code);
        Assert.Equal(ApprovalResultCode.Invalid, s.ProcessCommand(Claim(" ", T0.AddMinutes(2))).Result.Code);
        var spent = Run(s, new ClaimGrant(Id, Waiter, Agent, "process.run", hash, false, T0.AddMinutes(2)), out var r);
        Assert.True(r.IsOk);
        Assert.Equal(ApprovalStatus.Consumed, spent.Status);
        Assert.Equal(Waiter, spent.ClaimedBy);
        var (again, events) = spent.ProcessCommand(Claim(Other, T0.AddMinutes(3)));
        Assert.Equal(ApprovalResultCode.Conflict, again.Code);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_expire_a_grant_whose_window_elapsed_and_refuse_to_spend_it()
    {
        var s = Granted();
        var (late, events) = s.ProcessCommand(Claim(Waiter, T0.AddMinutes(11)));
        Assert.Equal(ApprovalResultCode.Conflict, late.Code);
        Assert.Equal(ApprovalStatus.Expired, s.ApplyAll(events).Status);
        Assert.Equal(ApprovalResultCode.Invalid, s.ProcessCommand(new LapseGrant(Id, T0.AddMinutes(10))).Result.Code);
        Assert.Equal(ApprovalStatus.Expired, Run(s, new LapseGrant(Id, T0.AddMinutes(11)), out _).Status);
    }

    [Fact]
    public void Should_refuse_a_grant_without_a_window()
    {
        var (r, events) = Pending().ProcessCommand(new Decide(Id, true, Root, "", T0.AddMinutes(1)));
        Assert.Equal(ApprovalResultCode.Invalid, r.Code);
        Assert.Empty(events);
        Assert.Equal(ApprovalResultCode.Invalid, Pending().ProcessCommand(new Decide(Id, true, Root with { Name = " " }, "", T0.AddMinutes(1), GrantUntil: T0.AddMinutes(11))).Result.Code);
    }

    [Fact]
    public void Should_expire_a_pending_request_when_invalidated()
    {
        var s = Run(Pending(), new Invalidate(Id, "agent revoked", T0.AddMinutes(1)), out var r);
        Assert.True(r.IsOk);
        Assert.Equal(ApprovalStatus.Expired, s.Status);
        Assert.Equal("agent revoked", s.ClosedReason);
    }

    [Fact]
    public void Should_answer_not_found_for_any_command_before_the_request()
    {
        IApprovalCommand[] commands =
        [
            new Decide(Id, true, Root, "", T0, GrantUntil: T0.AddMinutes(10)), new TimeOut(Id, T0), Claim(Waiter, T0),
            new LapseGrant(Id, T0), new Invalidate(Id, "x", T0),
        ];
        foreach (var c in commands)
        {
            var (r, events) = ApprovalState.Empty.ProcessCommand(c);
            Assert.Equal(404, r.HttpStatus);
            Assert.Empty(events);
        }
    }

    [Fact]
    public void Should_never_read_the_clock_when_applying_events()
    {
        var events = new IApprovalEvent[]
        {
            new ApprovalRequested(Request()), new ApprovalGranted(Id, "cli:root", "", "h", T0.AddMinutes(10), T0.AddMinutes(1)),
            new GrantConsumed(Id, false, T0.AddMinutes(2)),
        };
        Assert.Equal(ApprovalState.Empty.ApplyAll(events), ApprovalState.Empty.ApplyAll(events));
        Assert.Equal(T0.AddMinutes(2), ApprovalState.Empty.ApplyAll(events).ClosedAt);
        // Spent before claims existed: nobody can claim it again, not even a claimant that happens to match nothing.
        Assert.Null(ApprovalState.Empty.ApplyAll(events).ClaimedBy);
        Assert.Equal(ApprovalResultCode.Conflict, ApprovalState.Empty.ApplyAll(events).ProcessCommand(Claim(Waiter, T0.AddMinutes(3))).Result.Code);
    }

    // ADR 0058 addendum (round 8): accepting never spends the grant; the first live claim does. Each spec below is one
    // interleaving of accept, claims by the waiter that held, by a call that re-attached, and the grant window's end.

    [Fact]
    public void Should_not_spend_the_approval_when_it_is_accepted_while_a_call_holds_on_it()
    {
        var (r, events) = Pending().ProcessCommand(new Decide(Id, true, Ops, "", T0.AddMinutes(1), GrantUntil: T0.AddMinutes(11)));
        Assert.True(r.IsOk);
        Assert.Equal(ApprovalStatus.Approved, r.Status);
        Assert.IsType<ApprovalGranted>(Assert.Single(events));
        var s = Pending().ApplyAll(events);
        Assert.Equal(ApprovalStatus.Approved, s.Status);
        Assert.True(s.IsOpen);
        Assert.Null(s.ClaimedBy);
    }

    [Fact]
    public void Should_run_the_holding_waiter_when_it_claims_after_accept_and_tell_it_so_again_if_it_claims_twice()
    {
        var claimed = Run(Granted(), Claim(Waiter, T0.AddMinutes(1).AddMilliseconds(5)), out var first);
        Assert.True(first.IsOk);
        var consumed = Assert.IsType<GrantConsumed>(Assert.Single(Granted().ProcessCommand(Claim(Waiter, T0.AddMinutes(2))).Events));
        Assert.True(consumed.ByHeldCall);
        Assert.Equal(Waiter, consumed.Claimant);
        Assert.Equal((ApprovalStatus.Consumed, Waiter), (claimed.Status, claimed.ClaimedBy));

        // Its answer was lost and it claims again (it held again after the entity moved): still its claim, nothing new recorded.
        var (again, none) = claimed.ProcessCommand(Claim(Waiter, T0.AddMinutes(3)));
        Assert.True(again.IsOk);
        Assert.Equal(ApprovalStatus.Consumed, again.Status);
        Assert.Empty(none);
    }

    [Fact]
    public void Should_leave_the_grant_to_the_reattached_call_when_the_waiter_that_held_never_claims()
    {
        // The waiter's node died between accept and claim: no claim arrives from it. The call re-attaches (after the node is
        // downed) through another node and claims: it runs.
        var s = Run(Granted(), Claim(Reattached, T0.AddMinutes(2), waiting: false), out var r);
        Assert.True(r.IsOk);
        Assert.Equal((ApprovalStatus.Consumed, Reattached), (s.Status, s.ClaimedBy));

        // The dead waiter's claim, should it ever arrive (a partition healed), finds the grant used: one execution.
        var (late, events) = s.ProcessCommand(Claim(Waiter, T0.AddMinutes(3)));
        Assert.Equal(ApprovalResultCode.Conflict, late.Code);
        Assert.Equal(ApprovalStatus.Consumed, late.Status);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_let_exactly_one_of_two_racing_claims_win_in_either_order()
    {
        foreach (var (winner, loser) in new[] { (Waiter, Reattached), (Reattached, Waiter) })
        {
            var s = Run(Granted(), Claim(winner, T0.AddMinutes(2)), out var won);
            var (lost, events) = s.ProcessCommand(Claim(loser, T0.AddMinutes(2)));
            Assert.True(won.IsOk);
            Assert.Equal(ApprovalResultCode.Conflict, lost.Code);
            Assert.Empty(events);
            Assert.Equal(winner, s.ClaimedBy);
        }
    }

    [Fact]
    public void Should_keep_an_unclaimed_grant_usable_until_its_window_ends_then_expire_it_for_every_claimant()
    {
        var s = Granted();
        // Just before the end: still claimable by the re-attached call.
        Assert.True(s.ProcessCommand(Claim(Reattached, T0.AddMinutes(11).AddTicks(-1))).Result.IsOk);
        // At the end: the claim expires it instead; nothing runs.
        var (late, events) = s.ProcessCommand(Claim(Reattached, T0.AddMinutes(11)));
        Assert.Equal((ApprovalResultCode.Conflict, ApprovalStatus.Expired), (late.Code, late.Status));
        var expired = s.ApplyAll(events);
        Assert.Equal(ApprovalStatus.Expired, expired.Status);
        Assert.Equal(ApprovalResultCode.Conflict, expired.ProcessCommand(Claim(Waiter, T0.AddMinutes(12))).Result.Code);
        // The timer's lapse does the same when nobody claims at all.
        Assert.Equal(ApprovalStatus.Expired, Run(s, new LapseGrant(Id, T0.AddMinutes(11)), out _).Status);
        Assert.Equal(ApprovalResultCode.Invalid, s.ProcessCommand(new LapseGrant(Id, T0.AddMinutes(10))).Result.Code);
    }

    [Fact]
    public void Should_refuse_a_claim_before_the_decision_and_after_a_rejection()
    {
        Assert.Equal(ApprovalResultCode.Conflict, Pending().ProcessCommand(Claim(Waiter, T0.AddMinutes(1))).Result.Code);
        Assert.Empty(Pending().ProcessCommand(Claim(Waiter, T0.AddMinutes(1))).Events);
        var rejected = Run(Pending(), new Decide(Id, false, Root, "no", T0.AddMinutes(1)), out _);
        var (r, events) = rejected.ProcessCommand(Claim(Waiter, T0.AddMinutes(2)));
        Assert.Equal((ApprovalResultCode.Conflict, ApprovalStatus.Rejected), (r.Code, r.Status));
        Assert.Empty(events);
    }
}

public sealed class ApprovalArgumentsSpecs
{
    [Fact]
    public void Should_hash_equal_values_equally_whatever_the_property_order_and_whitespace()
    {
        var a = JsonDocument.Parse("""{ "b": [1, {"y":2,"x":"é\"q"}], "a": true }""").RootElement;
        var b = JsonDocument.Parse("""{"a":true,"b":[1,{"x":"é\"q","y":2}]}""").RootElement;
        Assert.Equal("""{"a":true,"b":[1,{"x":"é\"q","y":2}]}""", ApprovalArguments.Canonical(a));
        Assert.Equal(ApprovalArguments.Hash(a), ApprovalArguments.Hash(b));
        Assert.Matches("^sha256:[0-9a-f]{64}$", ApprovalArguments.Hash(a));
    }

    [Fact]
    public void Should_hash_changed_arguments_differently()
    {
        var a = ApprovalArguments.Hash(JsonDocument.Parse("""{"command":"ls"}""").RootElement);
        Assert.NotEqual(a, ApprovalArguments.Hash(JsonDocument.Parse("""{"command":"ls "}""").RootElement));
        Assert.NotEqual(a, ApprovalArguments.Hash(JsonDocument.Parse("""{"command":["ls"]}""").RootElement));
        Assert.NotEqual(ApprovalArguments.Hash(JsonDocument.Parse("[1,2]").RootElement), ApprovalArguments.Hash(JsonDocument.Parse("[2,1]").RootElement));
    }

    [Fact]
    public void Should_make_ids_with_the_prefix_and_refuse_malformed_ones()
    {
        var id = ApprovalId.New();
        Assert.Matches("^appr-[0-9a-f]{16}$", id.Value);
        Assert.NotEqual(id, ApprovalId.New());
        Assert.False(ApprovalId.TryParse("appr-", out _));
        Assert.False(ApprovalId.TryParse("ap_001", out _));
        Assert.False(ApprovalId.TryParse("appr-../x", out _));
        Assert.Equal(id, JsonSerializer.Deserialize<ApprovalId>(JsonSerializer.Serialize(id)));
    }
}
