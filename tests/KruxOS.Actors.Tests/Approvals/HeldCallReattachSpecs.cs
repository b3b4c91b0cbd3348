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

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>
/// ADR 0058 at the session: a call held for approval whose session entity goes away (its shard moves, the session stops)
/// is answered <c>ApprovalReattach</c> with its approval id, never left waiting; the identical call sent again naming that
/// approval — to the session's next incarnation — joins it (no second request) and runs once when it is approved. A call
/// naming an approval that belongs to another call gets nothing from it.
/// </summary>
public sealed class HeldCallReattachSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();
    private readonly ApprovalIndex _index = new();
    private AgentSessionDependencies? _deps;

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithInMemoryJournal().WithInMemorySnapshotStore();

    // The approval queue and one incarnation of the agent's session; call again for the next incarnation (same journal).
    private (IActorRef Session, IActorRef Approvals) Start(IActorRef? approvals = null)
    {
        if (_deps is null)
        {
            _index.MarkReady();
            var audit = Sys.ActorOf(RecordingAudit.Props(_records));
            approvals = Sys.ActorOf(GenericChildPerEntityParent.Props(new ApprovalMessageExtractor(),
                id => ApprovalActor.Props(id, new ApprovalDependencies(_index, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30), TimeProvider.System, audit))));
            _deps = Pipeline.Dependencies(_caps.Catalog(), audit, new FixedPolicy(new Dictionary<string, Tier> { ["test.echo"] = Tier.ApprovalRequired }))
                with { Approvals = approvals, ApprovalIndex = _index, ApprovalHoldTimeout = TimeSpan.FromHours(1) };
        }
        return (Sys.ActorOf(AgentSessionActor.Props("builder", _deps)), _deps.Approvals!);
    }

    private async Task<ApprovalState> PendingAsync()
    {
        await AwaitConditionAsync(() => Task.FromResult(_index.List(ApprovalStatus.Pending).Count == 1), TestTimeouts.Reply);
        return _index.List(ApprovalStatus.Pending)[0];
    }

    private async Task StoppedAsync(IActorRef actor)
    {
        var watcher = CreateTestProbe();
        watcher.Watch(actor);
        Sys.Stop(actor);
        await watcher.ExpectTerminatedAsync(actor, TestTimeouts.Reply);
    }

    private async Task ApproveAsync(IActorRef approvals, ApprovalId id)
    {
        var probe = CreateTestProbe();
        approvals.Tell(new ApprovalCommands.Decide(id, true, ApprovalDecider.ControlSocket(0), "fine", DateTimeOffset.UtcNow), probe);
        Assert.True((await probe.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply)).IsOk);
    }

    private static AgentSessionCommands.Invoke Invoke(IActorRef replyTo, string args, string? key = null, ApprovalId? reattach = null) =>
        new(Pipeline.Agent, Pipeline.Call("test.echo", args) with { IdempotencyKey = key, Reattach = reattach }, replyTo);

    [Theory]
    [InlineData(null)]
    [InlineData("kbr-reattach-0001")]
    public async Task Should_answer_a_held_call_cut_off_by_its_session_with_ApprovalReattach_and_run_it_once_when_the_reattached_call_is_approved(string? key)
    {
        // arrange: a call held on a pending approval
        var (first, approvals) = Start();
        first.Tell(Invoke(TestActor, """{"text":"hi"}""", key));
        var pending = await PendingAsync();
        var id = pending.Request!.Id;
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        // act: the session entity goes away while the call is held (a shard handoff, a stop)
        await StoppedAsync(first);

        // assert: the caller is answered at once, retryable, with the approval it was held on; nothing ran
        var cut = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal(ApprovalReattach.ErrorType, cut.Error?.ErrorType);
        Assert.True(cut.Error!.Retryable);
        Assert.Equal(id, ApprovalReattach.Of(cut.Error));
        Assert.Empty(_caps.Executed);

        // act: the identical call again, naming the approval, to the session's next incarnation
        var (next, _) = Start();
        next.Tell(Invoke(TestActor, """{"text":"hi"}""", key, id));
        await AwaitConditionAsync(() => Task.FromResult(_records.Count(e => e.Status == AuditStatus.Pending) == 2), TestTimeouts.Reply);

        // assert: it joined the same approval (no second request) and waits
        var only = Assert.Single(_index.List());
        Assert.Equal(id, only.Request!.Id);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        // act: approved
        await ApproveAsync(approvals, id);

        // assert: the real result, one execution, and the call's audit trail ends with its outcome under the same approval
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError, result.Error?.Message);
        Assert.Equal("hi", result.Data!.Value.GetProperty("text").GetString());
        Assert.Single(_caps.Executed);
        Assert.Equal(ApprovalStatus.Consumed, _index.Get(id)!.Status);
        var final = _records.Last();
        Assert.Equal((AuditEntryKind.Call, AuditStatus.Success, "approved", id.Value),
            (final.Kind, final.Status, final.Metadata.ApprovalDecision, final.Metadata.ApprovalRequestId));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Single(_caps.Executed);
    }

    [Fact]
    public async Task Should_not_let_a_call_that_names_another_calls_approval_run_on_it_or_spend_it()
    {
        // arrange: the agent's call A is pending
        var (session, approvals) = Start();
        var victim = CreateTestProbe();
        session.Tell(Invoke(victim, """{"text":"rm -rf the tests"}"""));
        var pending = await PendingAsync();
        var id = pending.Request!.Id;

        // act: another call (other arguments) names A's approval, as a hostile client would
        session.Tell(Invoke(TestActor, """{"text":"something else"}""", reattach: id));

        // assert: refused without running; A's approval is untouched and still pending
        var refused = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.Equal("ApprovalNotUsable", refused.Error?.ErrorType);
        Assert.Empty(_caps.Executed);
        Assert.Equal(ApprovalStatus.Pending, _index.Get(id)!.Status);
        Assert.Single(_index.List());

        // act: A is approved
        await ApproveAsync(approvals, id);

        // assert: only A ran, once
        var a = await victim.ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(a.IsError, a.Error?.Message);
        Assert.Equal(["test.echo"], _caps.Executed);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Should_hold_a_call_naming_an_approval_that_was_never_recorded_on_a_request_of_its_own()
    {
        // arrange
        var (session, approvals) = Start();
        var unknown = ApprovalId.New();

        // act: the named approval does not exist (its request was lost with a killed node, or the id is made up)
        session.Tell(Invoke(TestActor, """{"text":"hi"}""", reattach: unknown));

        // assert: the call is held on a new request for itself (after the early-hold wait), never run unapproved
        await AwaitConditionAsync(() => Task.FromResult(_index.List(ApprovalStatus.Pending).Count == 1), TestTimeouts.Reply);
        var pending = _index.List(ApprovalStatus.Pending)[0];
        Assert.NotEqual(unknown, pending.Request!.Id);
        Assert.Empty(_caps.Executed);
        await ApproveAsync(approvals, pending.Request.Id);
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError, result.Error?.Message);
        Assert.Single(_caps.Executed);
    }
}
