using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>
/// A call whose record the audit writer already refuses (halted, or its ring full) is refused before the
/// capability runs: the real writer publishes its state, the pipeline reads it before executing.
/// </summary>
public sealed class AuditFailClosedSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly TempDir _dir = new();
    private readonly FlakyFileSystem _fs = new();
    private readonly TestCapabilities _caps = new();
    private readonly AuditAvailability _availability = new();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    private IActorRef Writer(string directory, AuditFailMode mode, int ring = 10_000) => Sys.ActorOf(AuditWriterActor.Props(new AuditOptions
    {
        Directory = directory,
        FailMode = mode,
        RingCapacity = ring,
        RetryInterval = TimeSpan.FromMilliseconds(200),
        UseIndex = false,
        FileSystem = _fs,
        Availability = _availability,
    }));

    private IActorRef Session(IActorRef writer) =>
        Sys.ActorOf(AgentSessionActor.Props("builder", Pipeline.Dependencies(_caps.Catalog(), writer, auditAvailability: _availability)));

    private async Task<ToolCallResult> Call(IActorRef session, string text)
    {
        var probe = CreateTestProbe();
        session.Tell(Pipeline.Invoke("test.echo", probe, $$"""{"text":"{{text}}"}"""));
        return await probe.ExpectMsgAsync<ToolCallResult>(Wait, cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Should_not_run_the_capability_and_answer_the_refusal_when_the_writer_is_halted()
    {
        // arrange: fail_mode halt, and the log cannot be opened (a file where the directory should be)
        var blocked = _dir.File("audit");
        await File.WriteAllTextAsync(blocked, "not a directory", TestContext.Current.CancellationToken);
        var writer = Writer(blocked, AuditFailMode.Halt);
        await AwaitConditionAsync(() => Task.FromResult(_availability.Refusal is not null), Wait, cancellationToken: TestContext.Current.CancellationToken);
        var session = Session(writer);

        // act
        var result = await Call(session, "must not run");

        // assert: the refusal is answered, and nothing ran
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
        Assert.Equal("audit", result.Error.ContextString("service"));
        Assert.Contains("halt", result.Error.Message, StringComparison.Ordinal);
        Assert.Empty(_caps.Executed);

        // once the log can be written the writer accepts again, and so does the pipeline
        File.Delete(blocked);
        await AwaitConditionAsync(() => Task.FromResult(_availability.Refusal is null), Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.False((await Call(session, "after")).IsError);
        Assert.Equal(["test.echo"], _caps.Executed);
    }

    [Fact]
    public async Task Should_not_run_the_capability_when_the_degrade_ring_is_full()
    {
        // arrange: degrade mode, a ring of 2, and a disk that fails every write
        var writer = Writer(_dir.Path, AuditFailMode.Degrade, ring: 2);
        var probe = CreateTestProbe();
        await AwaitConditionAsync(async () => (await writer.Ask<AuditHealth>(GetAuditHealth.Instance, Wait)).Status == AuditHealthStatus.Healthy, Wait,
            cancellationToken: TestContext.Current.CancellationToken);
        _fs.FailWrite = true;
        for (var i = 0; i < 2; i++)
        {
            writer.Tell(new Append(Drafts.Call(i), probe));
            await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: TestContext.Current.CancellationToken);
        }
        await AwaitConditionAsync(() => Task.FromResult(_availability.Refusal is not null), Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains("ring buffer full", _availability.Refusal, StringComparison.Ordinal);
        var session = Session(writer);

        // act
        var result = await Call(session, "must not run");

        // assert
        Assert.Equal("ServiceUnavailable", result.Error!.ErrorType);
        Assert.Empty(_caps.Executed);
        _fs.FailWrite = false;
        await AwaitConditionAsync(() => Task.FromResult(_availability.Refusal is null), Wait, cancellationToken: TestContext.Current.CancellationToken);
        Assert.False((await Call(session, "after")).IsError);
    }
}
