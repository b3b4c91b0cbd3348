using System.Collections.Concurrent;
using Akka;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.TestKit;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Approvals;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static KruxOS.Core.Approvals.ApprovalEvents;

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>
/// A decision made on one node whose approval entity lives on another (issue 21): the deciding node's index shows the
/// decided state as soon as the entity has answered — read from the journal, never waiting for the live feed — and the
/// live feed bringing the same events later, duplicated or late, never rolls the decision back. The entity here is a
/// probe that writes the decision into a stand-in journal and answers, as an entity on another node does: it never touches
/// this node's index.
/// </summary>
public sealed class ApprovalDecisionVisibilitySpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private readonly ApprovalIndex _index = new();
    private readonly ConcurrentDictionary<string, List<EventEnvelope>> _journal = new(StringComparer.Ordinal);
    private long _offset;
    private ISourceQueueWithComplete<EventEnvelope>? _live;

    private EventEnvelope Write(ApprovalId id, IApprovalEvent e)
    {
        var pid = ApprovalActor.PersistenceIdPrefix + id.Value;
        var events = _journal.GetOrAdd(pid, _ => []);
        lock (events)
        {
            var env = new EventEnvelope(Offset.Sequence(Interlocked.Increment(ref _offset)), pid, events.Count + 1, e, 0, [ApprovalEventTagger.Tag]);
            events.Add(env);
            return env;
        }
    }

    private Source<EventEnvelope, NotUsed> EventsOf(string pid) =>
        Source.From(_journal.TryGetValue(pid, out var events) ? events.ToList() : []);

    private static ApprovalRequest Request(ApprovalId id)
    {
        var now = DateTimeOffset.UtcNow;
        var call = Pipeline.Call("test.echo");
        return new ApprovalRequest(id, call.Principal, call.Agent, call.SessionId, "test.echo", call.Arguments, "hash-" + id.Value, "test.yaml:3", "rev-1",
            "needs a human", call.Client, now, now.AddHours(1));
    }

    // The index actor with the replay of what is in the journal now, a live feed the spec feeds by hand, and the re-read
    // (failing when the journal is unreadable); the admin service deciding through the region probe.
    private (ApprovalAdmin Admin, TestProbe Region) Node(bool journalReadable = true)
    {
        var region = CreateTestProbe();
        var replay = _journal.Values.SelectMany(e => e).OrderBy(e => ((Sequence)e.Offset).Value).ToList();
        var keeper = Sys.ActorOf(ApprovalIndexActor.Props(_index, region.Ref, TimeProvider.System,
            source: _ => Source.From(replay),
            live: (_, _) => Source.Queue<EventEnvelope>(64, OverflowStrategy.Backpressure).MapMaterializedValue(q =>
            {
                _live = q;
                return NotUsed.Instance;
            }),
            byId: (_, pid) => journalReadable ? EventsOf(pid) : Source.Failed<EventEnvelope>(new InvalidOperationException("journal unreachable"))));
        var admin = new ApprovalAdmin(new Required<ApprovalRegion>(region.Ref), new Required<ApprovalIndexActor>(keeper), _index, TimeProvider.System,
            NullLogger<ApprovalAdmin>.Instance);
        return (admin, region);
    }

    // Decides as the operator on this node while the probe plays the entity on another node: persists, then answers.
    private async Task<ApprovalView> DecideElsewhereAsync(ApprovalAdmin admin, TestProbe region, ApprovalId id)
    {
        var decision = admin.DecideAsync(id.Value, approve: true, ApprovalDecider.ControlSocket(0), "ship it", CancellationToken.None);
        var decide = await region.ExpectMsgAsync<ApprovalCommands.Decide>(TestTimeouts.Reply);
        Write(id, new ApprovalGranted(id, decide.Decider.Name, decide.Reason, "hash-" + id.Value, decide.At.AddMinutes(5), decide.At, decide.Decider));
        region.Reply(new ApprovalResult(ApprovalResultCode.Ok, ApprovalStatus.Approved, "approved"));
        var result = await decision.WaitAsync(TestTimeouts.Reply);
        Assert.True(result.IsOk, result.Error?.Message);
        return result.Value!;
    }

    [Fact]
    public async Task Should_show_a_decision_made_by_an_entity_on_another_node_at_once_and_never_roll_it_back_for_a_late_or_duplicate_journal_event()
    {
        // arrange: a node started before the approval existed (nothing to replay); the entity that filed the request ran
        // here and put it into the index itself, then its shard moved; the live feed lags and has brought nothing yet
        var (admin, region) = Node();
        await _index.Ready.WaitAsync(TestTimeouts.Reply);
        await AwaitConditionAsync(() => Task.FromResult(_live is not null), TestTimeouts.Reply);
        var id = ApprovalId.New();
        var requested = Write(id, new ApprovalRequested(Request(id)));
        _index.Publish(ApprovalState.Empty.Apply((IApprovalEvent)requested.Event), 1);
        Assert.Equal(ApprovalStatus.Pending, _index.Get(id)!.Status);

        // act: decided here, persisted by the entity on another node
        var view = await DecideElsewhereAsync(admin, region, id);

        // assert: the answer and this node's index show the decision, with who decided it
        Assert.Equal(ApprovalStatus.Approved, view.State.Status);
        Assert.Equal(ApprovalStatus.Approved, _index.Get(id)!.Status);
        Assert.Equal("ship it", _index.Get(id)!.Decision!.Reason);
        Assert.Equal(0, _index.PendingCount);

        // act: the live feed catches up late, first with the request alone (an older state of the approval)
        await OfferAndSettleAsync(requested);

        // assert: still approved
        Assert.Equal(ApprovalStatus.Approved, _index.Get(id)!.Status);

        // act: then the decision, twice (a duplicate)
        var granted = _journal[requested.PersistenceId][1];
        await OfferAndSettleAsync(granted, granted);

        // assert: still approved, decided once, and nothing pending but the feed's markers
        Assert.Equal(ApprovalStatus.Approved, _index.Get(id)!.Status);
        Assert.Equal("ship it", _index.Get(id)!.Decision!.Reason);
        Assert.DoesNotContain(id, _index.List(ApprovalStatus.Pending).Select(s => s.Request!.Id));
        Assert.Equal(ApprovalStatus.Approved, (await admin.ShowAsync(id.Value, CancellationToken.None)).Value!.State.Status);
    }

    // Offers envelopes to the live feed, then the request of a new approval, and waits until that marker is indexed: the feed
    // handles its events in order, so everything offered before it has been applied.
    private async Task OfferAndSettleAsync(params EventEnvelope[] envelopes)
    {
        var marker = ApprovalId.New();
        foreach (var env in envelopes.Append(Write(marker, new ApprovalRequested(Request(marker)))))
            Assert.Equal(QueueOfferResult.Enqueued.Instance, await _live!.OfferAsync(env));
        await AwaitConditionAsync(() => Task.FromResult(_index.Get(marker) is not null), TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_still_answer_a_durable_decision_with_its_state_when_the_journal_cannot_be_read_at_once()
    {
        // arrange: the approval's journal cannot be read by id (a failing query); the live feed works
        var id = ApprovalId.New();
        Write(id, new ApprovalRequested(Request(id)));
        var (admin, region) = Node(journalReadable: false);
        await _index.Ready.WaitAsync(TestTimeouts.Reply);
        await AwaitConditionAsync(() => Task.FromResult(_live is not null), TestTimeouts.Reply);

        // act: decided elsewhere; the live feed brings the decision a moment later
        var decision = admin.DecideAsync(id.Value, approve: true, ApprovalDecider.ControlSocket(0), "ship it", CancellationToken.None);
        var decide = await region.ExpectMsgAsync<ApprovalCommands.Decide>(TestTimeouts.Reply);
        var granted = Write(id, new ApprovalGranted(id, decide.Decider.Name, decide.Reason, "hash-" + id.Value, decide.At.AddMinutes(5), decide.At, decide.Decider));
        region.Reply(new ApprovalResult(ApprovalResultCode.Ok, ApprovalStatus.Approved, "approved"));
        await Task.Delay(200);
        Assert.Equal(QueueOfferResult.Enqueued.Instance, await _live!.OfferAsync(granted));
        var result = await decision.WaitAsync(TestTimeouts.Reply);

        // assert: the durable decision is answered as done, with the decided state (never an error, never the stale state)
        Assert.True(result.IsOk, result.Error?.Message);
        Assert.Equal(ApprovalStatus.Approved, result.Value!.State.Status);
        Assert.Equal(ApprovalStatus.Approved, _index.Get(id)!.Status);
    }

    [Fact]
    public async Task Should_decide_an_approval_requested_through_another_node_that_the_live_feed_has_not_brought_yet()
    {
        // arrange: this node is up; then a call is held through another node — its request is in the journal only
        var (admin, region) = Node();
        await _index.Ready.WaitAsync(TestTimeouts.Reply);
        var id = ApprovalId.New();
        Write(id, new ApprovalRequested(Request(id)));
        Assert.Null(_index.Get(id));

        // act: the operator shows it and accepts it here at once (a CI run saw NotFound for exactly this)
        var shown = await admin.ShowAsync(id.Value, CancellationToken.None);
        var view = await DecideElsewhereAsync(admin, region, id);

        // assert
        Assert.True(shown.IsOk, shown.Error?.Message);
        Assert.Equal(ApprovalStatus.Pending, shown.Value!.State.Status);
        Assert.Equal(ApprovalStatus.Approved, view.State.Status);
        Assert.Equal(ApprovalStatus.Approved, _index.Get(id)!.Status);
    }

    [Theory]
    [InlineData(true, "NotFound")]
    [InlineData(false, "ServiceUnavailable")]
    public async Task Should_answer_an_id_in_neither_the_index_nor_the_journal_without_starting_an_entity(bool journalReadable, string expected)
    {
        // arrange
        var (admin, region) = Node(journalReadable);
        await _index.Ready.WaitAsync(TestTimeouts.Reply);

        // act: an id nobody requested
        var decided = await admin.DecideAsync(ApprovalId.New().Value, approve: true, ApprovalDecider.ControlSocket(0), "typo", CancellationToken.None);
        var shown = await admin.ShowAsync(ApprovalId.New().Value, CancellationToken.None);

        // assert: unknown when the journal says so, a retryable refusal when it could not be read; no decision was sent
        Assert.Equal(expected, decided.Error!.Code);
        Assert.Equal(expected, shown.Error!.Code);
        await region.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    private sealed class Required<T>(IActorRef actor) : IRequiredActor<T>
    {
        public IActorRef ActorRef => actor;

        public Task<IActorRef> GetAsync(CancellationToken cancellationToken = default) => Task.FromResult(actor);
    }
}
