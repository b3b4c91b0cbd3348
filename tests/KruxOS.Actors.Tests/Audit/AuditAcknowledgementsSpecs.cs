using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>
/// The one piece that reads the audit writer's acknowledgements for an audited actor: durable (appended or buffered),
/// refused (the first reason kept), answers about entries not awaited ignored, and a deadline that settles everything.
/// </summary>
public sealed class AuditAcknowledgementsSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    /// <summary>An audited actor: appends what it is given, reports each acknowledgement as the piece read it.</summary>
    private sealed class Audited : UntypedActor, IWithTimers
    {
        private readonly IActorRef _writer;
        private readonly IActorRef _report;
        private readonly TimeSpan _deadline;
        private AuditAcknowledgements _acks = null!;

        public Audited(IActorRef writer, IActorRef report, TimeSpan deadline)
        {
            _writer = writer;
            _report = report;
            _deadline = deadline;
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => _acks = new AuditAcknowledgements(_writer, Timers, "audit", _deadline);

        protected override void OnReceive(object message)
        {
            switch (message)
            {
                case AuditEntry[] entries:
                    _acks.ArmDeadline();
                    _acks.Append(entries, Self);
                    _report.Tell(_acks.Pending);
                    return;
                case "cancel":
                    _acks.CancelDeadline();
                    return;
                default:
                    if (_acks.TryHandle(message, out var ack)) _report.Tell((ack, _acks.Pending, _acks.FirstFailure));
                    else _report.Tell(("not mine", message));
                    return;
            }
        }
    }

    private (IActorRef Actor, Akka.TestKit.TestProbe Writer, Akka.TestKit.TestProbe Report) Start(TimeSpan? deadline = null)
    {
        var writer = CreateTestProbe();
        var report = CreateTestProbe();
        var actor = Sys.ActorOf(Props.Create(() => new Audited(writer, report, deadline ?? TimeSpan.FromMinutes(5))));
        return (actor, writer, report);
    }

    private static async Task<Guid[]> AppendAsync(IActorRef actor, Akka.TestKit.TestProbe writer, Akka.TestKit.TestProbe report, int count)
    {
        actor.Tell(Enumerable.Range(1, count).Select(n => Drafts.Call(n)).ToArray());
        Assert.Equal(count, await report.ExpectMsgAsync<int>(TestTimeouts.Reply));
        var ids = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            var append = await writer.ExpectMsgAsync<AuditCommands.Append>(TestTimeouts.Reply);
            Assert.Equal(actor, append.ReplyTo);
            ids[i] = append.Draft.Id;
        }
        return ids;
    }

    [Fact]
    public async Task Should_count_appended_and_buffered_entries_as_durable_and_settle_after_the_last()
    {
        var (actor, writer, report) = Start();
        var ids = await AppendAsync(actor, writer, report, 2);

        actor.Tell(new AuditReplies.AuditAppended(ids[0], "h"));
        var (first, pending, failure) = await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        Assert.Equal(new AuditAck(AuditAckKind.Durable, null, false), first);
        Assert.Equal(1, pending);
        Assert.Null(failure);

        actor.Tell(new AuditReplies.AuditBuffered(ids[1], 1));
        var (last, _, _) = await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        Assert.Equal(new AuditAck(AuditAckKind.Durable, null, true), last);
    }

    [Fact]
    public async Task Should_keep_the_first_refusal_even_when_it_comes_before_the_other_entries_are_answered()
    {
        var (actor, writer, report) = Start();
        var ids = await AppendAsync(actor, writer, report, 3);

        actor.Tell(new AuditReplies.AuditFailed(ids[1], "disk full"));
        var (early, _, failure) = await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        Assert.Equal(new AuditAck(AuditAckKind.Failed, "disk full", false), early);
        Assert.Equal("disk full", failure);

        actor.Tell(new AuditReplies.AuditFailed(ids[2], "halted"));
        actor.Tell(new AuditReplies.AuditAppended(ids[0], "h"));
        await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        var (last, _, still) = await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        Assert.True(last.AllSettled);
        Assert.Equal("disk full", still);
    }

    [Fact]
    public async Task Should_ignore_answers_about_entries_it_does_not_await()
    {
        var (actor, writer, report) = Start();
        var ids = await AppendAsync(actor, writer, report, 1);

        actor.Tell(new AuditReplies.AuditFailed(Guid.NewGuid(), "someone else's entry"));
        var (stale, pending, failure) = await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        Assert.Equal(AuditAckKind.Stale, stale.Kind);
        Assert.Equal(1, pending);
        Assert.Null(failure);

        // The same entry answered twice counts once.
        actor.Tell(new AuditReplies.AuditAppended(ids[0], "h"));
        actor.Tell(new AuditReplies.AuditAppended(ids[0], "h"));
        Assert.Equal(AuditAckKind.Durable, (await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply)).Item1.Kind);
        Assert.Equal(AuditAckKind.Stale, (await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply)).Item1.Kind);

        actor.Tell("some other message");
        await report.ExpectMsgAsync<(string, object)>(TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_settle_everything_as_timed_out_when_the_deadline_passes()
    {
        var (actor, writer, report) = Start(TimeSpan.FromMilliseconds(300));
        await AppendAsync(actor, writer, report, 2);
        var (ack, pending, _) = await report.ExpectMsgAsync<(AuditAck, int, string?)>(TestTimeouts.Reply);
        Assert.Equal(new AuditAck(AuditAckKind.TimedOut, null, true), ack);
        Assert.Equal(0, pending);
    }

    [Fact]
    public async Task Should_not_time_out_once_the_deadline_is_cancelled()
    {
        var (actor, _, report) = Start(TimeSpan.FromMilliseconds(300));
        // Both in the mailbox at once: the cancel is handled before the deadline can pass.
        actor.Tell(new[] { Drafts.Call(1) });
        actor.Tell("cancel");
        Assert.Equal(1, await report.ExpectMsgAsync<int>(TestTimeouts.Reply));
        await report.ExpectNoMsgAsync(TimeSpan.FromSeconds(1));
    }
}
