using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>
/// The session's idempotency ledger on an in-memory journal: a keyed call runs once however often it is
/// re-sent, and across a restart of the session entity (stop it, start a new incarnation with the same id).
/// </summary>
public sealed class IdempotencySpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();
    private readonly ApprovalIndex _index = new();
    private IActorRef? _approvals;
    private IActorRef? _audit;

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithInMemoryJournal().WithInMemorySnapshotStore();

    private AgentSessionDependencies Deps(bool approvalForEcho = false)
    {
        _index.MarkReady();
        _audit ??= Sys.ActorOf(RecordingAudit.Props(_records));
        _approvals ??= Sys.ActorOf(GenericChildPerEntityParent.Props(new ApprovalMessageExtractor(),
            id => ApprovalActor.Props(id, new ApprovalDependencies(_index, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30), TimeProvider.System, _audit))));
        var policy = new FixedPolicy(approvalForEcho ? new Dictionary<string, Tier> { ["test.echo"] = Tier.ApprovalRequired } : []);
        return Pipeline.Dependencies(_caps.Catalog(), _audit, policy)
            with { Approvals = _approvals, ApprovalIndex = _index, ApprovalHoldTimeout = TimeSpan.FromHours(1) };
    }

    private IActorRef Session(AgentSessionDependencies deps) => Sys.ActorOf(AgentSessionActor.Props("builder", deps));

    // A gateway restart, as far as the session entity is concerned: the incarnation and its runs stop; a new one recovers.
    private async Task<IActorRef> RestartAsync(IActorRef session, AgentSessionDependencies deps)
    {
        Assert.True(await session.GracefulStop(TestTimeouts.Reply));
        return Session(deps);
    }

    private static AgentSessionCommands.Invoke Keyed(string name, string args, string key, IActorRef replyTo) =>
        new(Pipeline.Agent, Pipeline.Call(name, args) with { IdempotencyKey = key }, replyTo);

    private int Ran(string capability) => _caps.Executed.Count(c => c == capability);

    [Fact]
    public async Task Should_run_a_keyed_call_once_and_answer_the_resent_call_from_the_record()
    {
        var session = Session(Deps());
        var keyed = Keyed("test.echo", """{"text":"once"}""", "key-00000001", TestActor);
        session.Tell(keyed with { Call = keyed.Call with { Client = new ClientInfo("claude-code", "2.1", "claude-code") } });
        var first = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(first.IsError, first.Error?.Message);

        session.Tell(Keyed("test.echo", """{"text":"once"}""", "key-00000001", TestActor));
        var again = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("once", again.Data!.Value.GetProperty("text").GetString());
        Assert.Equal(1, Ran("test.echo"));
        var entry = Assert.Single(_records);
        Assert.Equal("key-00000001", entry.Metadata.Details!.Value.GetProperty("idempotency_key").GetString());
        Assert.Equal("claude-code", entry.Metadata.Details!.Value.GetProperty("client_cli").GetString());
        Assert.Equal("claude-code", entry.Client!.Name);

        // a call without a key behaves as before: it runs every time
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"once"}"""));
        session.Tell(Pipeline.Invoke("test.echo", TestActor, """{"text":"once"}"""));
        await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal(3, Ran("test.echo"));
    }

    [Fact]
    public async Task Should_attach_a_call_resent_while_the_first_still_runs_and_answer_both_from_one_execution()
    {
        var session = Session(Deps());
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        session.Tell(Keyed("test.gated", "{}", "key-gated-01", first));
        await AwaitConditionAsync(() => Task.FromResult(Ran("test.gated") == 1), TestTimeouts.Reply);
        session.Tell(Keyed("test.gated", "{}", "key-gated-01", second));
        await second.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));

        _caps.GateOpen.SetResult();
        Assert.False((await first.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).IsError);
        Assert.False((await second.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).IsError);
        Assert.Equal(1, Ran("test.gated"));
    }

    [Fact]
    public async Task Should_refuse_a_key_reused_with_different_arguments_and_an_invalid_key_without_running()
    {
        var session = Session(Deps());
        session.Tell(Keyed("test.echo", """{"text":"a"}""", "key-reused-1", TestActor));
        await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);

        session.Tell(Keyed("test.echo", """{"text":"b"}""", "key-reused-1", TestActor));
        var reused = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("IdempotencyKeyReused", reused.Error!.ErrorType);

        session.Tell(Keyed("test.echo", """{"text":"c"}""", "bad key!", TestActor));
        var invalid = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("InvalidInput", invalid.Error!.ErrorType);
        Assert.Equal(1, Ran("test.echo"));
        // refusals are audited like any refused call
        Assert.Equal(3, _records.Count);
        Assert.Equal(2, _records.Count(r => r.Status == AuditStatus.Error));
    }

    [Fact]
    public async Task Should_replay_a_completed_call_after_a_restart_and_answer_OutcomeUnknown_for_one_cut_off_by_it()
    {
        var deps = Deps();
        var session = Session(deps);
        session.Tell(Keyed("test.echo", """{"text":"done"}""", "key-done-001", TestActor));
        await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        var lost = CreateTestProbe();
        session.Tell(Keyed("test.gated", "{}", "key-cutoff-1", lost));
        await AwaitConditionAsync(() => Task.FromResult(Ran("test.gated") == 1), TestTimeouts.Reply);

        session = await RestartAsync(session, deps);
        // the caller cut off by the stop hears so at once (its outcome is unknown), rather than waiting for its timeout
        Assert.Equal("InternalError", (await lost.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).Error!.ErrorType);

        session.Tell(Keyed("test.echo", """{"text":"done"}""", "key-done-001", TestActor));
        var replayed = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("done", replayed.Data!.Value.GetProperty("text").GetString());

        _caps.GateOpen.SetResult(); // were it run again, it would now complete
        for (var i = 0; i < 2; i++)
        {
            session.Tell(Keyed("test.gated", "{}", "key-cutoff-1", TestActor));
            var unknown = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
            Assert.Equal("OutcomeUnknown", unknown.Error!.ErrorType);
            Assert.Equal("key-cutoff-1", unknown.Error.ContextString("idempotency_key"));
        }
        Assert.Equal(1, Ran("test.echo"));
        Assert.Equal(1, Ran("test.gated"));

        // and the record itself survives a second restart
        session = await RestartAsync(session, deps);
        session.Tell(Keyed("test.gated", "{}", "key-cutoff-1", TestActor));
        Assert.Equal("OutcomeUnknown", (await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).Error!.ErrorType);
    }

    [Fact]
    public async Task Should_reattach_a_call_held_for_approval_across_a_restart_and_run_it_once_when_approved()
    {
        var deps = Deps(approvalForEcho: true);
        var session = Session(deps);
        var lost = CreateTestProbe();
        session.Tell(Keyed("test.echo", """{"text":"held"}""", "key-held-001", lost));
        await AwaitConditionAsync(() => Task.FromResult(_index.List(ApprovalStatus.Pending).Count == 1), TestTimeouts.Reply);
        var id = _index.List(ApprovalStatus.Pending)[0].Request!.Id;
        await AwaitConditionAsync(() => Task.FromResult(_records.Any(r => r.Status == AuditStatus.Pending)), TestTimeouts.Reply);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300)); // the ledger records the hold

        session = await RestartAsync(session, deps);
        session.Tell(Keyed("test.echo", """{"text":"held"}""", "key-held-001", TestActor));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Single(_index.List(ApprovalStatus.Pending)); // joined, no second request

        var decider = CreateTestProbe();
        _approvals!.Tell(new ApprovalCommands.Decide(id, true, ApprovalDecider.ControlSocket(0), "ok", DateTimeOffset.UtcNow), decider);
        Assert.True((await decider.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply)).IsOk);

        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError, result.Error?.Message);
        Assert.Equal("held", result.Data!.Value.GetProperty("text").GetString());
        Assert.Equal(1, Ran("test.echo"));
        Assert.Equal(ApprovalStatus.Consumed, _index.Get(id)!.Status);

        // re-sent once more: the recorded outcome, not a new approval
        session.Tell(Keyed("test.echo", """{"text":"held"}""", "key-held-001", TestActor));
        Assert.False((await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply)).IsError);
        Assert.Empty(_index.List(ApprovalStatus.Pending));
        Assert.Equal(1, Ran("test.echo"));
    }

    [Fact]
    public async Task Should_reattach_a_call_resent_after_its_first_caller_went_away_while_it_was_held()
    {
        var session = Session(Deps(approvalForEcho: true));
        var gone = CreateTestProbe();
        session.Tell(Keyed("test.echo", """{"text":"again"}""", "key-gone-0001", gone));
        await AwaitConditionAsync(() => Task.FromResult(_index.List(ApprovalStatus.Pending).Count == 1), TestTimeouts.Reply);
        var id = _index.List(ApprovalStatus.Pending)[0].Request!.Id;
        await AwaitConditionAsync(() => Task.FromResult(_records.Any(r => r.Status == AuditStatus.Pending)), TestTimeouts.Reply);

        Sys.Stop(gone.Ref); // the connection dropped: the run lets go of the hold
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        session.Tell(Keyed("test.echo", """{"text":"again"}""", "key-gone-0001", TestActor));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        var decider = CreateTestProbe();
        _approvals!.Tell(new ApprovalCommands.Decide(id, true, ApprovalDecider.ControlSocket(0), "ok", DateTimeOffset.UtcNow), decider);
        await decider.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply);
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError, result.Error?.Message);
        Assert.Equal(1, Ran("test.echo"));
        Assert.Single(_index.List()); // the re-sent call joined the same request
    }

    [Fact]
    public async Task Should_answer_a_reattached_call_with_the_rejection_made_while_the_gateway_was_down()
    {
        var deps = Deps(approvalForEcho: true);
        var session = Session(deps);
        session.Tell(Keyed("test.echo", """{"text":"no"}""", "key-rejected", CreateTestProbe()));
        await AwaitConditionAsync(() => Task.FromResult(_index.List(ApprovalStatus.Pending).Count == 1), TestTimeouts.Reply);
        var id = _index.List(ApprovalStatus.Pending)[0].Request!.Id;
        await AwaitConditionAsync(() => Task.FromResult(_records.Any(r => r.Status == AuditStatus.Pending)), TestTimeouts.Reply);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.True(await session.GracefulStop(TestTimeouts.Reply));

        var decider = CreateTestProbe();
        _approvals!.Tell(new ApprovalCommands.Decide(id, false, ApprovalDecider.ControlSocket(0), "not today", DateTimeOffset.UtcNow), decider);
        await decider.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply);

        session = Session(deps);
        session.Tell(Keyed("test.echo", """{"text":"no"}""", "key-rejected", TestActor));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalRejected", result.Error!.ErrorType);
        Assert.Empty(_index.List(ApprovalStatus.Pending)); // not turned into a new request
        Assert.Equal(0, Ran("test.echo"));
    }
}
