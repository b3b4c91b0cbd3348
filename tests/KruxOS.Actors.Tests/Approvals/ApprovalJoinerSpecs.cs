using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Tests.Support;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core.Approvals;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>
/// The owner of approval dedupe for one session: identical calls wait on one approval, a new request is sent with the run
/// as its sender, a closed approval is never joined again, and a request is forgotten only once the index knows it.
/// </summary>
public sealed class ApprovalJoinerSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private const string Capability = "test.echo";
    private const string Hash = "hash-of-identical-arguments";
    private readonly ApprovalIndex _index = new();

    private ApprovalJoiner Joiner(IActorRef region)
    {
        _index.MarkReady();
        return new ApprovalJoiner(region, _index, TimeSpan.FromHours(1), TimeProvider.System);
    }

    private static ToolRunPlan Plan(ApprovalPlan approval)
    {
        var call = Pipeline.Call(Capability, """{"text":"hi"}""");
        return new ToolRunPlan(call, new SessionSnapshot(Pipeline.Agent, call.SessionId, DateTimeOffset.UtcNow, 1, call.Client), ActorRefs.Nobody,
            TestCapabilities.Echo, call.Arguments, new PolicyVerdict(Tier.ApprovalRequired, "test.yaml:3", "needs a human", "rev-1"), null, approval);
    }

    private static ApprovalState Recorded(ApprovalId id, ApprovalStatus status)
    {
        var now = DateTimeOffset.UtcNow;
        var call = Pipeline.Call(Capability);
        return new ApprovalState(status, new ApprovalRequest(id, call.Principal, call.Agent, call.SessionId, Capability, call.Arguments, Hash, "test.yaml:3", "rev-1",
            "needs a human", call.Client, now, now.AddHours(1)), null, null, null, null);
    }

    [Fact]
    public async Task Should_request_a_new_approval_once_with_the_run_as_sender_and_join_it_for_the_identical_call()
    {
        var region = CreateTestProbe();
        var run = CreateTestProbe();
        var joiner = Joiner(region);

        var first = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);
        Assert.True(first.IsNew);
        joiner.RequestIfNew(Plan(first), run);
        var request = await region.ExpectMsgAsync<ApprovalCommands.RequestApproval>(TestTimeouts.Reply);
        Assert.Equal(first.Id, request.Request.Id);
        Assert.Equal(run.Ref, region.LastSender);

        var second = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);
        Assert.False(second.IsNew);
        Assert.Equal(first.Id, second.Id);
        joiner.RequestIfNew(Plan(second), run);
        await region.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Should_join_the_open_approval_the_index_knows()
    {
        var open = ApprovalId.New();
        var joiner = Joiner(CreateTestProbe());
        _index.Publish(Recorded(open, ApprovalStatus.Pending), 1);
        var plan = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);
        Assert.False(plan.IsNew);
        Assert.Equal(open, plan.Id);
    }

    [Fact]
    public void Should_join_exactly_the_approval_a_reattached_call_names()
    {
        var held = ApprovalId.New();
        var joiner = Joiner(CreateTestProbe());
        var plan = joiner.Assign(Pipeline.Agent, Capability, Hash, held);
        Assert.Equal(held, plan.Id);
        Assert.True(plan.Reattach);
        Assert.False(plan.IsNew);
    }

    [Fact]
    public async Task Should_reassign_a_run_whose_approval_closed_to_a_new_request_and_never_back_to_the_closed_one()
    {
        var region = CreateTestProbe();
        var run = CreateTestProbe();
        var joiner = Joiner(region);
        var first = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);

        var next = joiner.Reassign(new ApprovalNeeded(Plan(first with { IsNew = false }), first.Id), run);
        Assert.True(next.IsNew);
        Assert.NotEqual(first.Id, next.Id);
        var request = await region.ExpectMsgAsync<ApprovalCommands.RequestApproval>(TestTimeouts.Reply);
        Assert.Equal(next.Id, request.Request.Id);
        Assert.Equal(run.Ref, region.LastSender);

        // Another identical run now joins the newer request.
        Assert.Equal(next.Id, joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null).Id);
    }

    [Fact]
    public void Should_forget_a_request_only_once_the_index_knows_it()
    {
        var joiner = Joiner(CreateTestProbe());
        var first = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);

        // Settled before the index has the request: an identical call must still join it, never create a second one.
        joiner.Settled(new ApprovalSettled(Capability, Hash, first.Id));
        var joined = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);
        Assert.False(joined.IsNew);
        Assert.Equal(first.Id, joined.Id);

        // Once the index knows it (here: already spent), it is forgotten and the next identical call asks again.
        _index.Publish(Recorded(first.Id, ApprovalStatus.Consumed), 3);
        joiner.Settled(new ApprovalSettled(Capability, Hash, first.Id));
        var fresh = joiner.Assign(Pipeline.Agent, Capability, Hash, reattach: null);
        Assert.True(fresh.IsNew);
        Assert.NotEqual(first.Id, fresh.Id);
    }

    [Fact]
    public void Should_report_no_queue_without_a_region_and_loading_until_the_index_replayed()
    {
        Assert.False(new ApprovalJoiner(null, new ApprovalIndex(), null, TimeProvider.System).Available);
        var loading = new ApprovalJoiner(CreateTestProbe(), new ApprovalIndex(), null, TimeProvider.System);
        Assert.True(loading.Available);
        Assert.True(loading.IndexLoading);
    }
}
