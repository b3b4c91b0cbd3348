using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using Akka.TestKit;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Actors.Approvals.ApprovalMessages;

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>
/// ADR 0058 addendum (round 8) at the approval entity: accepting an approval never spends it. The waiters holding on it are
/// offered the grant and the first to claim it (a hold on the granted approval, naming itself) runs; a waiter that can no
/// longer claim — its node is dead but not yet downed — leaves the grant to the call that re-attaches through a survivor,
/// until the grant window ends. The waiters are probes standing in for tool runs, so each spec decides who claims when.
/// </summary>
public sealed class ApprovalClaimSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly AgentName Agent = AgentName.Parse("builder");
    private static readonly JsonElement Args = JsonDocument.Parse("""{"text":"hi"}""").RootElement.Clone();
    private static readonly string Hash = ApprovalArguments.Hash(Args);
    private readonly ConcurrentQueue<AuditEntry> _records = new();
    private readonly ApprovalIndex _index = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithInMemoryJournal().WithInMemorySnapshotStore();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The approval region with one approval requested, pending.
    private async Task<(IActorRef Approvals, ApprovalId Id)> RequestedAsync(TimeSpan? grantWindow = null)
    {
        _index.MarkReady();
        var audit = Sys.ActorOf(RecordingAudit.Props(_records));
        var approvals = Sys.ActorOf(GenericChildPerEntityParent.Props(new ApprovalMessageExtractor(),
            id => ApprovalActor.Props(id, new ApprovalDependencies(_index, grantWindow ?? TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30), TimeProvider.System, audit))));
        var id = ApprovalId.New();
        var now = DateTimeOffset.UtcNow;
        var request = new ApprovalRequest(id, Principal.ForAgent(Agent), Agent, "sess-1", "test.echo", ApprovalArguments.Redact(Args), Hash, "spec.yaml:1",
            "rev-1", "needs a human", new ClientInfo("spec", "1"), now, now.AddHours(1));
        var probe = CreateTestProbe();
        approvals.Tell(new ApprovalCommands.RequestApproval(request), probe);
        Assert.True((await probe.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply, cancellationToken: Ct)).IsOk);
        return (approvals, id);
    }

    private static Hold HoldOf(ApprovalId id, TestProbe waiter, bool wait = true) => new(id, waiter.Ref, Agent, "test.echo", Hash, wait);

    // A waiter holding on the pending approval, registered.
    private async Task<TestProbe> HoldingAsync(IActorRef approvals, ApprovalId id)
    {
        var waiter = CreateTestProbe();
        approvals.Tell(HoldOf(id, waiter), waiter);
        await waiter.ExpectMsgAsync<Held>(TestTimeouts.Reply, cancellationToken: Ct);
        return waiter;
    }

    private async Task<ApprovalResult> AcceptAsync(IActorRef approvals, ApprovalId id)
    {
        var decider = CreateTestProbe();
        approvals.Tell(new ApprovalCommands.Decide(id, true, ApprovalDecider.ControlSocket(0), "fine", DateTimeOffset.UtcNow), decider);
        return await decider.ExpectMsgAsync<ApprovalResult>(TestTimeouts.Reply, cancellationToken: Ct);
    }

    private static async Task<Released> ClaimAsync(IActorRef approvals, ApprovalId id, TestProbe waiter, bool wait = true)
    {
        approvals.Tell(HoldOf(id, waiter, wait), waiter);
        return await waiter.ExpectMsgAsync<Released>(TestTimeouts.Reply, cancellationToken: Ct);
    }

    [Fact]
    public async Task Should_leave_an_accepted_grant_to_the_reattached_call_when_the_waiter_that_held_never_claims()
    {
        // arrange: a run holds on the approval; its node then dies (it will never claim), but nobody has downed it yet
        var (approvals, id) = await RequestedAsync();
        var dead = await HoldingAsync(approvals, id);

        // act: the operator accepts in that window
        var accepted = await AcceptAsync(approvals, id);

        // assert: the decision stands, but nothing is spent: the dead waiter was only offered the grant
        Assert.True(accepted.IsOk, accepted.Message);
        Assert.Equal(ApprovalStatus.Approved, accepted.Status);
        Assert.Equal(ApprovalStatus.Approved, (await dead.ExpectMsgAsync<GrantOffered>(TestTimeouts.Reply, cancellationToken: Ct)).State.Status);
        Assert.Equal(ApprovalStatus.Approved, _index.Get(id)!.Status);
        Assert.Contains(_records, e => e.Kind == AuditEntryKind.ApprovalResolution && e.Metadata.ApprovalDecision == "approved");

        // act: the call re-attaches through a survivor (a new run) and claims the grant
        var reattached = CreateTestProbe();
        var released = await ClaimAsync(approvals, id, reattached);

        // assert: the re-attached call runs — once — and is recorded as the claimant
        Assert.True(released.Execute, released.Message);
        Assert.Equal(ApprovalStatus.Consumed, _index.Get(id)!.Status);
        Assert.Equal(ApprovalActor.Claimant(reattached.Ref), _index.Get(id)!.ClaimedBy);

        // assert: the dead waiter is told it lost (it will not hear it); its claim, should it ever arrive, changes nothing
        Assert.False((await dead.ExpectMsgAsync<Released>(TestTimeouts.Reply, cancellationToken: Ct)).Execute);
        approvals.Tell(HoldOf(id, dead), dead);
        await dead.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500), Ct);
        var state = await approvals.Ask<ApprovalState>(new GetApproval(id), TestTimeouts.Reply, Ct);
        Assert.Equal((ApprovalStatus.Consumed, ApprovalActor.Claimant(reattached.Ref)), (state.Status, state.ClaimedBy));
    }

    [Fact]
    public async Task Should_run_the_live_waiter_on_its_claim_and_tell_it_so_again_when_it_claims_a_second_time()
    {
        // arrange
        var (approvals, id) = await RequestedAsync();
        var waiter = await HoldingAsync(approvals, id);

        // act: accepted; the waiter claims the grant it is offered
        Assert.True((await AcceptAsync(approvals, id)).IsOk);
        await waiter.ExpectMsgAsync<GrantOffered>(TestTimeouts.Reply, cancellationToken: Ct);
        var first = await ClaimAsync(approvals, id, waiter);

        // assert: it runs, and it is the only answer it gets
        Assert.True(first.Execute, first.Message);
        Assert.Equal(ApprovalStatus.Consumed, first.State.Status);
        await waiter.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300), Ct);

        // act: its answer was lost (the approval's node died after persisting) and it claims again through the region
        var again = await ClaimAsync(approvals, id, waiter);

        // assert: still its claim (the run executes at most once by itself); another call's claim is refused
        Assert.True(again.Execute, again.Message);
        Assert.False((await ClaimAsync(approvals, id, CreateTestProbe())).Execute);
    }

    [Fact]
    public async Task Should_let_exactly_one_of_two_waiters_that_both_claim_run()
    {
        // arrange: two identical calls hold on one approval (two connections of the agent)
        var (approvals, id) = await RequestedAsync();
        var one = await HoldingAsync(approvals, id);
        var two = await HoldingAsync(approvals, id);

        // act: accepted; both claim at once
        Assert.True((await AcceptAsync(approvals, id)).IsOk);
        await one.ExpectMsgAsync<GrantOffered>(TestTimeouts.Reply, cancellationToken: Ct);
        await two.ExpectMsgAsync<GrantOffered>(TestTimeouts.Reply, cancellationToken: Ct);
        approvals.Tell(HoldOf(id, one), one);
        approvals.Tell(HoldOf(id, two), two);

        // assert: exactly one runs; each hears exactly one answer
        var answers = new[]
        {
            await one.ExpectMsgAsync<Released>(TestTimeouts.Reply, cancellationToken: Ct),
            await two.ExpectMsgAsync<Released>(TestTimeouts.Reply, cancellationToken: Ct),
        };
        Assert.Single(answers, a => a.Execute);
        await one.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300), Ct);
        await two.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100), Ct);
    }

    [Fact]
    public async Task Should_expire_a_grant_nobody_claims_when_its_window_ends_and_release_the_waiter_without_running()
    {
        // arrange: a short grant window
        var (approvals, id) = await RequestedAsync(grantWindow: TimeSpan.FromSeconds(1));
        var dead = await HoldingAsync(approvals, id);

        // act: accepted; nobody claims
        Assert.True((await AcceptAsync(approvals, id)).IsOk);
        await dead.ExpectMsgAsync<GrantOffered>(TestTimeouts.Reply, cancellationToken: Ct);

        // assert: at the window's end the grant expires (audited) and the waiter is released without running
        var released = await dead.ExpectMsgAsync<Released>(TestTimeouts.Reply, cancellationToken: Ct);
        Assert.False(released.Execute);
        Assert.Equal(ApprovalStatus.Expired, released.State.Status);
        Assert.Contains(_records, e => e.Kind == AuditEntryKind.ApprovalResolution && e.Metadata.ApprovalDecision == "expired");
        // and a call re-attaching afterwards gets nothing from it
        Assert.False((await ClaimAsync(approvals, id, CreateTestProbe())).Execute);
    }
}
