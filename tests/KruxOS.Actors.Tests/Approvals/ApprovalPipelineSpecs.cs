using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using Akka.Persistence.Hosting;
using Xunit;

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>The hold in the pipeline, on an in-memory journal: request, hold, decide, grant, dedup.</summary>
public sealed class ApprovalPipelineSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();
    private readonly ApprovalIndex _index = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithInMemoryJournal().WithInMemorySnapshotStore();

    private (IActorRef Session, IActorRef Approvals) Start(TimeSpan? hold = null, bool indexReady = true, bool refuseResolutions = false,
        TimeSpan? grantWindow = null)
    {
        if (indexReady) _index.MarkReady();
        var audit = refuseResolutions ? Sys.ActorOf(Props.Create(() => new RefusingResolutions(_records))) : Sys.ActorOf(RecordingAudit.Props(_records));
        var approvals = Sys.ActorOf(GenericChildPerEntityParent.Props(new ApprovalMessageExtractor(),
            id => ApprovalActor.Props(id, new ApprovalDependencies(_index, grantWindow ?? TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30), TimeProvider.System, audit))));
        var deps = Pipeline.Dependencies(_caps.Catalog(), audit, new FixedPolicy(new Dictionary<string, Tier> { ["test.echo"] = Tier.ApprovalRequired }))
            with { Approvals = approvals, ApprovalIndex = _index, ApprovalHoldTimeout = hold ?? TimeSpan.FromHours(1) };
        return (Sys.ActorOf(AgentSessionActor.Props("builder", deps)), approvals);
    }

    private async Task<ApprovalState> PendingAsync(int count = 1)
    {
        await AwaitConditionAsync(() => Task.FromResult(_index.List(ApprovalStatus.Pending).Count == count), TestTimeouts.Reply);
        return _index.List(ApprovalStatus.Pending)[^1];
    }

    private async Task<ApprovalResult> DecideAsync(IActorRef approvals, ApprovalId id, bool approve, string reason = "")
    {
        var probe = CreateTestProbe();
        approvals.Tell(new ApprovalCommands.Decide(id, approve, ApprovalDecider.ControlSocket(0), reason, DateTimeOffset.UtcNow), probe);
        return await probe.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_hold_the_call_until_approved_then_run_it_and_return_the_real_result()
    {
        var (session, approvals) = Start();
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"hi"}"""));
        var pending = await PendingAsync();
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Empty(_caps.Executed);
        var held = Assert.Single(_records);
        Assert.Equal(AuditStatus.Pending, held.Status);
        Assert.Equal(pending.Request!.Id.Value, held.Metadata.ApprovalRequestId);

        Assert.True((await DecideAsync(approvals, pending.Request!.Id, true)).IsOk);

        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError, result.Error?.Message);
        Assert.Equal("hi", result.Data!.Value.GetProperty("text").GetString());
        Assert.Equal(ApprovalStatus.Consumed, _index.Get(pending.Request.Id)!.Status);
        // pending call entry, then the resolution and the final call entry, durable before the reply
        Assert.Equal(3, _records.Count);
        var resolution = _records.ElementAt(1);
        Assert.Equal(AuditEntryKind.ApprovalResolution, resolution.Kind);
        Assert.Equal(pending.Request.Id.Value, resolution.Metadata.ApprovalRequestId);
        Assert.Equal("approved", resolution.Metadata.ApprovalDecision);
        Assert.Equal("user:cli:root", resolution.Metadata.DecidedBy);
        var decider = resolution.Metadata.Details!.Value.GetProperty("decider");
        Assert.Equal("root", decider.GetProperty("name").GetString());
        Assert.Equal("operator", decider.GetProperty("role").GetString());
        Assert.Equal("control_socket", decider.GetProperty("surface").GetString());
        Assert.Equal("peer_uid", decider.GetProperty("credential_type").GetString());
        var final = _records.Last();
        Assert.Equal(AuditEntryKind.Call, final.Kind);
        Assert.Equal(pending.Request.Id.Value, final.Metadata.ApprovalRequestId);
        Assert.Equal("approved", final.Metadata.ApprovalDecision);
        Assert.Equal(AuditStatus.Success, final.Status);
    }

    [Fact]
    public async Task Should_fail_closed_without_requesting_an_approval_until_the_index_has_replayed_the_journal()
    {
        var (session, _) = Start(indexReady: false);
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"early"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
        Assert.Empty(_index.List());
        Assert.Empty(_caps.Executed);

        _index.MarkReady();
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"early"}"""));
        await PendingAsync();
    }

    [Fact]
    public async Task Should_fail_with_ApprovalRejected_and_the_reason_when_rejected()
    {
        var (session, approvals) = Start();
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"hi"}"""));
        var pending = await PendingAsync();
        await DecideAsync(approvals, pending.Request!.Id, false, "not now");
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalRejected", result.Error!.ErrorType);
        Assert.Equal("not now", result.Error.ContextString("reason"));
        Assert.Empty(_caps.Executed);
        var resolution = Assert.Single(_records, e => e.Kind == AuditEntryKind.ApprovalResolution);
        Assert.Equal("rejected", resolution.Metadata.ApprovalDecision);
        Assert.Equal(AuditStatus.Denied, resolution.Status);
        Assert.Equal("not now", resolution.OutputSummary);
        var final = _records.Last();
        Assert.Equal((AuditEntryKind.Call, "rejected", AuditStatus.Denied), (final.Kind, final.Metadata.ApprovalDecision, final.Status));
        var late = await DecideAsync(approvals, pending.Request.Id, true);
        Assert.Equal(409, late.HttpStatus);
        Assert.Equal(ApprovalStatus.Rejected, late.Status);
    }

    [Fact]
    public async Task Should_time_out_with_an_error_never_running_the_call()
    {
        var (session, _) = Start(hold: TimeSpan.FromSeconds(1));
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"hi"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalTimedOut", result.Error!.ErrorType);
        Assert.Empty(_caps.Executed);
        var timedOut = Assert.Single(_index.List());
        Assert.Equal(ApprovalStatus.TimedOut, timedOut.Status);
        var resolution = Assert.Single(_records, e => e.Kind == AuditEntryKind.ApprovalResolution);
        Assert.Equal("timed_out", resolution.Metadata.ApprovalDecision);
        Assert.Equal(timedOut.Request!.Id.Value, resolution.Metadata.ApprovalRequestId);
        // the held call's final entry carries the decision and the same status as the resolution (a timeout is an error)
        var final = _records.Last();
        Assert.Equal((AuditEntryKind.Call, "timed_out"), (final.Kind, final.Metadata.ApprovalDecision));
        Assert.Equal(AuditStatus.Error, resolution.Status);
        Assert.Equal(resolution.Status, final.Status);
    }

    [Fact]
    public async Task Should_record_an_expired_resolution_with_status_error_when_a_grant_nobody_used_lapses()
    {
        // arrange: a poll-path call (nobody waits), approved, with a grant window of half a second
        var (session, approvals) = Start(grantWindow: TimeSpan.FromMilliseconds(500));
        session.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("test.echo", """{"text":"late"}""") with { HoldForApproval = false }, TestActor));
        var pending = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        var id = ApprovalId.Parse(pending.Error!.ContextString("request_id")!);
        Assert.Equal(ApprovalStatus.Approved, (await DecideAsync(approvals, id, true)).Status);

        // act: nobody retries within the window
        await AwaitConditionAsync(() => Task.FromResult(_records.Any(e => e.Metadata.ApprovalDecision == "expired")), TestTimeouts.Reply);

        // assert: the approved resolution, then the expired one, linked to the held call's entry
        var resolutions = _records.Where(e => e.Kind == AuditEntryKind.ApprovalResolution).ToList();
        Assert.Equal(["approved", "expired"], resolutions.Select(r => r.Metadata.ApprovalDecision));
        var expired = resolutions[1];
        Assert.Equal((id.Value, AuditStatus.Error, "user:gateway"), (expired.Metadata.ApprovalRequestId, expired.Status, expired.Metadata.DecidedBy));
        Assert.Equal(ApprovalStatus.Expired, _index.Get(id)!.Status);
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_attach_an_identical_call_to_the_pending_request_instead_of_creating_a_duplicate()
    {
        var (session, approvals) = Start();
        var first = CreateTestProbe();
        session.Tell(Pipeline.Invoke("test.echo", first, """{"text":"same"}"""));
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"same"}"""));
        var pending = await PendingAsync();
        await Task.Delay(300);
        Assert.Single(_index.List());
        await DecideAsync(approvals, pending.Request!.Id, true);
        // One approval, one execution: one of the identical calls runs, the other fails.
        var a = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        var b = await first.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Single(new[] { a, b }, r => !r.IsError);
        Assert.Equal("ApprovalNotUsable", new[] { a, b }.Single(r => r.IsError).Error!.ErrorType);
        Assert.Single(_caps.Executed);
    }

    [Fact]
    public async Task Should_turn_an_approval_nobody_waits_for_into_a_single_use_grant_for_the_identical_call_only()
    {
        var (session, approvals) = Start();
        var call = new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("test.echo", """{"text":"g"}""") with { HoldForApproval = false }, TestActor);
        session.Tell(call);
        var pendingReply = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalPending", pendingReply.Error!.ErrorType);
        var id = ApprovalId.Parse(pendingReply.Error.ContextString("request_id")!);
        var polled = Assert.Single(_records);
        Assert.Equal(AuditStatus.Pending, polled.Status);
        Assert.Equal(id.Value, polled.Metadata.ApprovalRequestId);
        Assert.Equal(ApprovalStatus.Approved, (await DecideAsync(approvals, id, true)).Status);
        // decided with nobody waiting: the entity recorded the resolution before answering the decider
        var granted = Assert.Single(_records, e => e.Kind == AuditEntryKind.ApprovalResolution);
        Assert.Equal("approved", granted.Metadata.ApprovalDecision);
        Assert.Equal(id.Value, granted.Metadata.ApprovalRequestId);

        // changed arguments: a new approval, not the grant
        session.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("test.echo", """{"text":"other"}""") with { HoldForApproval = false }, TestActor));
        var changed = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalPending", changed.Error!.ErrorType);
        Assert.NotEqual(id.Value, changed.Error.ContextString("request_id"));

        // identical retry: spends the grant and runs
        session.Tell(call);
        var ran = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(ran.IsError, ran.Error?.Message);
        Assert.Equal(ApprovalStatus.Consumed, _index.Get(id)!.Status);
        Assert.Single(_records, e => e.Kind == AuditEntryKind.ApprovalResolution);
        Assert.Equal("approved", _records.Last().Metadata.ApprovalDecision);

        // and only once
        session.Tell(call);
        var again = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalPending", again.Error!.ErrorType);
        Assert.NotEqual(id.Value, again.Error.ContextString("request_id"));
        Assert.Single(_caps.Executed);
    }

    [Fact]
    public async Task Should_create_one_new_request_when_a_burst_of_identical_calls_meets_a_grant_being_spent()
    {
        var (session, approvals) = Start();
        var call = Pipeline.Call("test.echo", """{"text":"burst"}""") with { HoldForApproval = false };
        session.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, call, TestActor));
        var first = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        var granted = ApprovalId.Parse(first.Error!.ContextString("request_id")!);
        Assert.Equal(ApprovalStatus.Approved, (await DecideAsync(approvals, granted, true)).Status);

        // act: identical calls arrive together; one spends the grant, every other one needs a new approval
        const int burst = 24;
        var probe = CreateTestProbe();
        for (var i = 0; i < burst; i++) session.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, call, probe));
        var replies = new List<ToolCallResult>();
        for (var i = 0; i < burst; i++) replies.Add(await probe.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply));

        // assert: one run, and all the others wait on one and the same new request
        Assert.Single(replies, r => !r.IsError);
        Assert.Single(_caps.Executed);
        var waiting = replies.Where(r => r.IsError).ToList();
        Assert.All(waiting, r => Assert.Equal("ApprovalPending", r.Error!.ErrorType));
        var ids = waiting.Select(r => r.Error!.ContextString("request_id")).Distinct().ToList();
        Assert.Single(ids);
        Assert.NotEqual(granted.Value, ids[0]);
        Assert.Single(_index.List(ApprovalStatus.Pending));
    }

    [Fact]
    public async Task Should_decide_a_decide_only_hook_call_without_ever_executing_it()
    {
        var (session, approvals) = Start();
        var call = new AgentSessionCommands.Invoke(Pipeline.Agent,
            Pipeline.Call("test.echo", """{"text":"hook"}""") with { HoldForApproval = false, NativeTool = "Bash" }, TestActor);

        // approval_required: pending at once, audited with the native tool
        session.Tell(call);
        var pending = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalPending", pending.Error!.ErrorType);
        var id = ApprovalId.Parse(pending.Error.ContextString("request_id")!);
        var held = Assert.Single(_records);
        Assert.Equal(AuditStatus.Pending, held.Status);
        Assert.Equal("Bash", held.Metadata.Details!.Value.GetProperty("native_tool").GetString());
        Assert.True((await DecideAsync(approvals, id, true)).IsOk);

        // the identical call spends the grant: allowed, and nothing runs in the gateway
        session.Tell(call);
        var allowed = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(allowed.IsError, allowed.Error?.Message);
        Assert.Equal("allow", allowed.Data!.Value.GetProperty("decision").GetString());
        Assert.Equal(ApprovalStatus.Consumed, _index.Get(id)!.Status);
        Assert.Empty(_caps.Executed);
        var final = _records.Last();
        Assert.Equal(AuditStatus.Success, final.Status);
        Assert.Equal("allowed: the client runs its native tool", final.OutputSummary);
        Assert.Equal("pre_tool_use", final.Metadata.Details!.Value.GetProperty("hook").GetString());
        Assert.Equal("approved", final.Metadata.ApprovalDecision);
    }

    [Fact]
    public async Task Should_not_run_a_held_call_when_the_audit_log_refuses_the_resolution()
    {
        var (session, approvals) = Start(refuseResolutions: true);
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"unaudited"}"""));
        var pending = await PendingAsync();

        await DecideAsync(approvals, pending.Request!.Id, true);

        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.True(result.IsError);
        Assert.Equal("ApprovalNotUsable", result.Error!.ErrorType);
        Assert.Empty(_caps.Executed);
    }

    /// <summary>An audit writer that refuses approval_resolution entries and appends everything else.</summary>
    private sealed class RefusingResolutions : ReceiveActor
    {
        public RefusingResolutions(ConcurrentQueue<AuditEntry> records) =>
            Receive<AuditCommands.Append>(m =>
            {
                if (m.Draft.Kind == AuditEntryKind.ApprovalResolution)
                {
                    m.ReplyTo.Tell(new AuditReplies.AuditFailed(m.Draft.Id, "disk full"));
                    return;
                }
                records.Enqueue(m.Draft);
                m.ReplyTo.Tell(new AuditReplies.AuditAppended(m.Draft.Id, $"{records.Count:x64}"));
            });
    }
}
