using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using Akka.TestKit;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Comms;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Scheduling;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Comms;
using KruxOS.Core.Identity;
using KruxOS.Core.Scheduling;
using KruxOS.Core.Sessions;
using KruxOS.Core.State;
using Xunit;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Identity.IdentityCommands;

namespace KruxOS.Actors.Tests.Scheduling;

/// <summary>
/// A run's result and the loss of the scheduler's node in between: the result reaches the agent's inbox before the run is
/// recorded finished, so an incarnation cut off after the run answered but before the inbox did leaves the run in flight;
/// the next incarnation (same journal) sends it again under its run id and delivers the answer under the same message id.
/// (Seen in CI with three processes: a run executed once at the minute boundary of a kill -9 and its result never arrived.)
/// The session and inbox regions are probes, so the spec decides exactly when each answers.
/// </summary>
public sealed class SchedulerResultDeliverySpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly AgentName Agent = AgentName.Parse("builder");

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithInMemoryJournal().WithInMemorySnapshotStore();

    private (SchedulerDependencies Deps, TestProbe Sessions, TestProbe Inboxes) Dependencies()
    {
        var identities = new IdentityDirectory();
        var (result, events) = IdentityState.Empty.ProcessCommand(new CreateAgent(Agent.Value, "tests", TokenHashing.Hash("t"), DateTimeOffset.UtcNow));
        Assert.True(result.IsOk, result.Message);
        identities.Publish(events.Aggregate(IdentityState.Empty, (s, e) => s.Apply(e)));
        var sessions = CreateTestProbe();
        var inboxes = CreateTestProbe();
        var dispatcher = new CallDispatcher(new RegionStandIn<AgentSessionRegion>(sessions.Ref),
            new DispatchTimeouts(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), DispatchTimeouts.DefaultDecision));
        var post = new PostOffice(new RegionStandIn<InboxRegion>(inboxes.Ref), new RegionStandIn<ChannelRegion>(CreateTestProbe().Ref), new RegionStandIn<AgentSessionRegion>(sessions.Ref), identities);
        var deps = new SchedulerDependencies(SchedulerLimits.Default, new SchedulerClock(TimeProvider.System), dispatcher, post, identities, null,
            CheckInterval: TimeSpan.FromMilliseconds(200));
        return (deps, sessions, inboxes);
    }

    [Fact]
    public async Task Should_deliver_a_result_the_lost_incarnation_never_got_into_the_inbox_from_the_next_one_under_the_same_message_id()
    {
        // arrange: a one-second delay of system.time
        var ct = TestContext.Current.CancellationToken;
        var (deps, sessions, inboxes) = Dependencies();
        var first = Sys.ActorOf(SchedulerActor.Props(Agent.Value, deps));
        var jobId = JobIds.New(JobKind.Delay);
        first.Tell(new SchedulerCommands.CreateDelay(Agent, jobId, CapabilityName.Parse("system.time"), StoredJson.EmptyObject, 1, null), TestActor);
        await ExpectMsgAsync<ISchedulerReply>(TestTimeouts.Reply, cancellationToken: ct);

        // act: the run goes and answers; the inbox has not answered when the incarnation is lost
        var run = await sessions.FishForMessageAsync<AgentSessionCommands.Invoke>(_ => true, TimeSpan.FromSeconds(10), cancellationToken: ct);
        run.ReplyTo.Tell(Answer());
        var lostDelivery = await inboxes.ExpectMsgAsync<Deliver>(TestTimeouts.Reply, cancellationToken: ct);
        await StopAsync(first);

        // act: the next incarnation recovers from the same journal
        Sys.ActorOf(SchedulerActor.Props(Agent.Value, deps));
        var again = await sessions.FishForMessageAsync<AgentSessionCommands.Invoke>(_ => true, TimeSpan.FromSeconds(10), cancellationToken: ct);
        again.ReplyTo.Tell(Answer()); // the ledger's answer from its record
        var delivery = await inboxes.ExpectMsgAsync<Deliver>(TestTimeouts.Reply, cancellationToken: ct);
        inboxes.Reply(new InboxReplies.Delivered(delivery.Message.MessageId, false));

        // assert: the same run (same key), its result under the same message id as the lost attempt
        Assert.Equal(run.Call.IdempotencyKey, again.Call.IdempotencyKey);
        Assert.Equal(lostDelivery.Message.MessageId, delivery.Message.MessageId);
        Assert.Equal(SchedulerActor.ResultMessageId(again.Call.IdempotencyKey!), delivery.Message.MessageId);
        Assert.Contains("succeeded", delivery.Message.Body, StringComparison.Ordinal);
    }

    private static ToolCallResult Answer() =>
        ToolCallResult.Success(CapabilityName.Parse("system.time"), JsonDocument.Parse("""{"utc":"now"}""").RootElement.Clone(), Tier.Autonomous, 3);

    private async Task StopAsync(IActorRef actor)
    {
        var watcher = CreateTestProbe();
        watcher.Watch(actor);
        Sys.Stop(actor);
        await watcher.ExpectTerminatedAsync(actor, TestTimeouts.Reply);
    }
}
