using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;
using Xunit;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Tests.Agents;

public sealed class AgentSessionSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private IActorRef Session(Akka.Actor.Props? auditProps = null, IPolicySeam? policy = null, TimeSpan? execTimeout = null, TimeSpan? auditTimeout = null, int maxConnections = 16,
        AuditAvailability? availability = null)
    {
        var audit = Sys.ActorOf(auditProps ?? RecordingAudit.Props(_records));
        return Sys.ActorOf(AgentSessionActor.Props("builder",
            Pipeline.Dependencies(_caps.Catalog(), audit, policy, execTimeout, auditTimeout, maxConnections, auditAvailability: availability)));
    }

    [Fact]
    public async Task Should_run_the_capability_and_audit_it_before_replying_when_the_call_is_autonomous()
    {
        // arrange
        var session = Session();
        // act
        session.Tell(Pipeline.Invoke("test__echo", TestActor, """{"text":"hi"}"""));
        // assert
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError);
        Assert.Equal("hi", result.Data!.Value.GetProperty("text").GetString());
        var record = Assert.Single(_records);
        Assert.Equal(AuditStatus.Success, record.Status);
        Assert.Equal("test.echo", record.Capability);
        Assert.Equal(Tier.Autonomous, record.PolicyDecision!.Tier);
        Assert.Equal("spec", record.Client!.Name);
        Assert.Equal("sess-test", record.SessionId);
        // an in-process capability measures nothing beyond the entry's duration; the summary gives the output's size only
        Assert.Null(record.ResourceUsage);
        Assert.Equal($"ok: {System.Text.Encoding.UTF8.GetByteCount(result.Data.Value.GetRawText())} bytes of output", record.OutputSummary);
    }

    [Fact]
    public async Task Should_record_the_resource_usage_the_handler_measured_on_success_and_on_failure()
    {
        // arrange
        var session = Session();
        // act
        session.Tell(Pipeline.Invoke("test.measured", TestActor));
        var ok = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        session.Tell(Pipeline.Invoke("test.measured", TestActor, """{"fail":true}"""));
        var failed = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        // assert
        Assert.False(ok.IsError);
        Assert.Equal("ResourceExhausted", failed.Error!.ErrorType);
        Assert.Equal(2, _records.Count);
        Assert.All(_records, e => Assert.Equal(TestCapabilities.MeasuredUsage, e.ResourceUsage));
        Assert.Equal("ok: 15 bytes of output", _records.First().OutputSummary);
        Assert.Equal("ResourceExhausted: memory limit reached", _records.Last().OutputSummary);
    }

    [Fact]
    public async Task Should_refuse_an_unknown_capability_and_still_audit_it()
    {
        var session = Session();
        session.Tell(Pipeline.Invoke("test__nothing", TestActor));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("CapabilityNotFound", result.Error!.ErrorType);
        Assert.Equal(AuditStatus.Error, Assert.Single(_records).Status);
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_answer_and_audit_a_refusal_decided_at_the_edge_without_running_anything()
    {
        // arrange: the edge found the call's idempotency key invalid before the pipeline saw it
        var session = Session();
        var refusal = Core.Errors.Errors.InvalidInput("_meta.kruxos/idempotency_key", "must be a string");
        var call = Pipeline.Call("test.echo", """{"text":"x"}""") with { EdgeRefusal = refusal };
        // act
        session.Tell(new AgentSessionCommands.Invoke(Pipeline.Agent, call, TestActor));
        // assert
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal(refusal, result.Error);
        Assert.Empty(_caps.Executed);
        var entry = Assert.Single(_records);
        Assert.Equal((AuditEntryKind.Call, AuditStatus.Error, "InvalidInput", "test.echo"), (entry.Kind, entry.Status, entry.Metadata.ErrorType, entry.Capability));
        Assert.Equal("x", entry.Inputs.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Should_refuse_invalid_input_without_running_anything()
    {
        var session = Session();
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":5}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("InvalidInput", result.Error!.ErrorType);
        Assert.Equal("text", result.Error.ContextString("field"));
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_deny_and_report_a_policy_violation_when_the_tier_is_blocked()
    {
        // arrange
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(SupervisionEvent));
        var session = Session(policy: new FixedPolicy(new Dictionary<string, Tier> { ["test.echo"] = Tier.Blocked }));
        // act
        session.Tell(Pipeline.Invoke("test__echo", TestActor, """{"text":"x"}"""));
        // assert
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("PolicyDenied", result.Error!.ErrorType);
        Assert.Equal("test.yaml:3", result.Error.ContextString("rule"));
        Assert.Empty(_caps.Executed);
        // a policy_violation entry first, then the denied call
        Assert.Collection(_records,
            e => Assert.Equal((AuditEntryKind.PolicyViolation, AuditStatus.Denied), (e.Kind, e.Status)),
            e => Assert.Equal((AuditEntryKind.Call, AuditStatus.Denied, "test.yaml:3"), (e.Kind, e.Status, e.PolicyDecision!.Rule)));
        await events.FishForMessageAsync(m => m is SupervisionEvent { Type: SupervisionEventTypes.PolicyViolation }, TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_fail_closed_and_never_run_when_approval_is_required_and_no_queue_exists()
    {
        var session = Session(policy: new FixedPolicy(new Dictionary<string, Tier> { ["test.echo"] = Tier.ApprovalRequired }));
        session.Tell(Pipeline.Invoke("test__echo", TestActor, """{"text":"x"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalUnavailable", result.Error!.ErrorType);
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_run_and_emit_a_notification_when_the_tier_is_notify()
    {
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(SupervisionEvent));
        var session = Session(policy: new FixedPolicy(new Dictionary<string, Tier> { ["test.echo"] = Tier.Notify }));
        session.Tell(Pipeline.Invoke("test__echo", TestActor, """{"text":"x"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError);
        Assert.Equal(Tier.Notify, result.Tier);
        await events.FishForMessageAsync(m => m is SupervisionEvent { Type: SupervisionEventTypes.Notification }, TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_report_a_declared_capability_error_as_is()
    {
        var session = Session();
        session.Tell(Pipeline.Invoke("test.declared", TestActor));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("FileNotFound", result.Error!.ErrorType);
        Assert.Equal(AuditStatus.Error, Assert.Single(_records).Status);
    }

    [Fact]
    public async Task Should_hide_internal_details_when_a_handler_crashes()
    {
        var session = Session();
        session.Tell(Pipeline.Invoke("test.boom", TestActor));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("InternalError", result.Error!.ErrorType);
        Assert.DoesNotContain("secret internal detail", result.Error.Message);
        // the session survives and serves the next call
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"after"}"""));
        Assert.False((await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).IsError);
    }

    [Fact]
    public async Task Should_time_out_and_cancel_a_capability_that_runs_too_long()
    {
        var session = Session(execTimeout: TimeSpan.FromMilliseconds(300));
        session.Tell(Pipeline.Invoke("test.hang", TestActor));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("Timeout", result.Error!.ErrorType);
    }

    [Fact]
    public async Task Should_fail_the_call_closed_when_the_audit_seam_refuses_the_record()
    {
        // arrange: the writer refuses records, and says so through the node's availability signal
        var refusing = Props.Create(() => new RefusingAudit());
        var availability = new AuditAvailability();
        availability.Update("disk full and fail_mode is halt");
        var session = Session(auditProps: refusing, availability: availability);
        // act
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"x"}"""));
        // assert: refused before the capability ran, not after
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
        Assert.Equal("audit", result.Error.ContextString("service"));
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_still_fail_the_call_closed_when_the_audit_refusal_comes_only_after_execution()
    {
        // the remaining window: the writer accepted when the run checked and refused the record afterwards
        var session = Session(auditProps: Props.Create(() => new RefusingAudit()), availability: new AuditAvailability());
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"x"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
        Assert.Equal(["test.echo"], _caps.Executed);
    }

    [Fact]
    public async Task Should_let_the_call_proceed_when_the_audit_writer_buffers_the_entry_in_degrade_mode()
    {
        var buffering = Props.Create(() => new BufferingAudit());
        var session = Session(auditProps: buffering);
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"x"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError);
        Assert.Equal("x", result.Data!.Value.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Should_fail_the_call_closed_when_the_audit_seam_never_answers()
    {
        var silent = Props.Create(() => new SilentAudit());
        var session = Session(auditProps: silent, auditTimeout: TimeSpan.FromMilliseconds(300));
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"x"}"""));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
    }

    [Fact]
    public async Task Should_not_hold_later_calls_behind_a_slow_one()
    {
        // arrange
        var session = Session();
        var slow = CreateTestProbe();
        session.Tell(Pipeline.Invoke("test.gated", slow));
        // act
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"fast"}"""));
        // assert: the fast call answers while the slow one is still held
        Assert.False((await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).IsError);
        await slow.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        _caps.GateOpen.SetResult();
        Assert.False((await slow.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).IsError);
    }

    [Fact]
    public async Task Should_close_every_connection_when_terminated()
    {
        // arrange
        var session = Session();
        var c1 = CreateTestProbe();
        var c2 = CreateTestProbe();
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-1", c1, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-2", c2, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        // act
        session.Tell(new AgentSessionCommands.Terminate(Pipeline.Agent, "agent revoked"));
        // assert: both are told; the answer waits until both connection actors have stopped (transports closed)
        Assert.Equal("agent revoked", (await c1.ExpectMsgAsync<AgentSessionReplies.Terminated>()).Reason);
        Assert.Equal("agent revoked", (await c2.ExpectMsgAsync<AgentSessionReplies.Terminated>()).Reason);
        Sys.Stop(c1.Ref);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Sys.Stop(c2.Ref);
        Assert.Equal(2, (await ExpectMsgAsync<AgentSessionReplies.TerminateResult>(TestTimeouts.Reply)).ConnectionsClosed);
        session.Tell(new AgentSessionCommands.GetInfo(Pipeline.Agent));
        Assert.Empty((await ExpectMsgAsync<AgentSessionReplies.SessionInfo>()).Connections);
    }

    [Fact]
    public async Task Should_answer_a_terminate_after_its_wait_when_a_connection_never_stops()
    {
        // arrange: a connection that is told to close but never stops (its node is gone, say)
        var session = Session();
        var stuck = CreateTestProbe();
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-1", stuck, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        // act
        session.Tell(new AgentSessionCommands.Terminate(Pipeline.Agent, "killed by operator"));
        // assert: not before the wait, but then the operator gets an answer
        await stuck.ExpectMsgAsync<AgentSessionReplies.Terminated>();
        await ExpectNoMsgAsync(AgentSessionActor.TerminateWait - TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await ExpectMsgAsync<AgentSessionReplies.TerminateResult>(TestTimeouts.Reply)).ConnectionsClosed);
    }

    [Fact]
    public async Task Should_deliver_a_notification_to_every_open_connection_of_the_agent()
    {
        // arrange
        var session = Session();
        var c1 = CreateTestProbe();
        var c2 = CreateTestProbe();
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-1", c1, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-2", c2, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        // act
        session.Tell(new AgentSessionCommands.Notify(Pipeline.Agent, "notifications/kruxos/file_changed", """{"watch_id":"w-1"}"""));
        // assert
        foreach (var c in new[] { c1, c2 })
        {
            var n = await c.ExpectMsgAsync<AgentSessionReplies.Notification>();
            Assert.Equal("notifications/kruxos/file_changed", n.Method);
            Assert.Equal("""{"watch_id":"w-1"}""", n.ParamsJson);
        }
        session.Tell(new AgentSessionCommands.Detach(Pipeline.Agent, "sess-2"));
        session.Tell(new AgentSessionCommands.Notify(Pipeline.Agent, "notifications/kruxos/file_changed", """{"watch_id":"w-2"}"""));
        await c1.ExpectMsgAsync<AgentSessionReplies.Notification>();
        await c2.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Should_forget_a_connection_whose_actor_stops()
    {
        var session = Session();
        var conn = CreateTestProbe();
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-1", conn, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        Sys.Stop(conn);
        await AwaitAssertAsync(async () =>
        {
            session.Tell(new AgentSessionCommands.GetInfo(Pipeline.Agent));
            Assert.Empty((await ExpectMsgAsync<AgentSessionReplies.SessionInfo>()).Connections);
        }, TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_refuse_connections_beyond_the_per_agent_limit()
    {
        var session = Session(maxConnections: 1);
        var c1 = CreateTestProbe();
        var c2 = CreateTestProbe();
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-1", c1, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        session.Tell(new AgentSessionCommands.Attach(Pipeline.Agent, "sess-2", c2, ClientInfo.Unknown, DateTimeOffset.UtcNow));
        Assert.Contains("already has 1", (await c2.ExpectMsgAsync<AgentSessionReplies.Terminated>(TestTimeouts.Reply)).Reason);
        await c1.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    private sealed class RefusingAudit : ReceiveActor
    {
        public RefusingAudit() => Receive<AuditCommands.Append>(m => m.ReplyTo.Tell(new AuditReplies.AuditFailed(m.Draft.Id, "disk full and fail_mode is halt")));
    }

    private sealed class BufferingAudit : ReceiveActor
    {
        public BufferingAudit() => Receive<AuditCommands.Append>(m => m.ReplyTo.Tell(new AuditReplies.AuditBuffered(m.Draft.Id, 1)));
    }

    private sealed class SilentAudit : ReceiveActor
    {
        public SilentAudit() => Receive<AuditCommands.Append>(_ => { });
    }
}
