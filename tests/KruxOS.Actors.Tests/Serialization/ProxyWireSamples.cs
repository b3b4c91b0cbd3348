using System.Text.Json;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using static KruxOS.Core.Proxy.WriteCommands;
using static KruxOS.Core.Proxy.WriteEvents;

namespace KruxOS.Actors.Tests.Serialization;

/// <summary>One sample of every wire type of the Service Proxy.</summary>
public static class ProxyWireSamples
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    public static IEnumerable<object> All()
    {
        var id = WriteId.Parse("wr-0193a1b2c3d47e8f9a0b1c2d3e4f5a6b");
        var marker = WriteMarker.New(id);
        var gmail = ServiceName.Parse("gmail");
        var send = CapabilityName.Parse("email.send");
        var args = JsonDocument.Parse("""{"to":"bob@example.com","subject":"hi"}""").RootElement;
        var agent = AgentName.Parse("builder");
        var rollback = new WriteRollback("untrash", JsonDocument.Parse("""{"labels":["INBOX"]}""").RootElement, At);
        var spec = new RollbackSpec("untrash", TimeSpan.FromHours(72));
        var buffered = new WriteBuffered(id, gmail, send, args, marker, agent, "sess-1", "to bob@example.com", At.AddMinutes(5), spec, At);
        var state = BufferedWriteState.Empty(id).Apply(buffered).Apply(new AttemptStarted(id, 1, false, At.AddMinutes(5)))
            .Apply(new RollbackRecorded(id, 1, rollback, At.AddHours(72), At.AddMinutes(5)));
        yield return new BufferWrite(id, gmail, send, args, marker, agent, "sess-1", "to bob@example.com", TimeSpan.FromMinutes(5), spec, At);
        yield return new CancelWrite(id, "agent:builder", agent, "oops", At);
        yield return new BeginAttempt(id, 0, At);
        yield return new RecordRollback(id, 1, rollback, At);
        yield return new RecordOutcome(id, 1, AttemptResult.Transient, null, "HTTP 503", TimeSpan.FromSeconds(30), At);
        yield return new RetryWrite(id, "user:ops", At);
        yield return new DiscardWrite(id, "user:ops", "obsolete", At);
        yield return new CancelForDisconnect(id, "user:ops", At);
        yield return buffered;
        yield return new WriteCancelled(id, "user:ops", "wrong", At);
        yield return new AttemptStarted(id, 2, true, At);
        yield return new RollbackRecorded(id, 1, rollback, At.AddHours(72), At);
        yield return new WriteExecuted(id, 1, "msg-123", At);
        yield return new AttemptFailed(id, 1, "HTTP 503", At.AddMinutes(1), At);
        yield return new WriteDeadLettered(id, 6, "HTTP 503", false, At);
        yield return new WriteRequeued(id, "user:ops", At);
        yield return new WriteDiscarded(id, "user:ops", "obsolete", At);
        yield return new ApplyRollback(id, "user:ops", At);
        yield return new RecordRollbackOutcome(id, 1, true, false, "msg-123", At);
        yield return new RollbackStarted(id, 1, "user:ops", At);
        yield return new RollbackSucceeded(id, 1, "msg-123", At);
        yield return new RollbackFailed(id, 1, "HTTP 503", false, At);
        yield return new RollbackApplication(RollbackApplyStatus.Applied, 1, "user:ops", At, At, "msg-123");
        yield return new WriteMessages.RollbackRequest(id, "user:ops", At);
        yield return rollback;
        yield return state;
        yield return state.Apply(new WriteExecuted(id, 1, "msg-123", At)).Apply(new RollbackStarted(id, 1, "user:ops", At));
        yield return new WriteResult(WriteResultCode.Ok, "buffered", state);
        yield return new WriteMessages.GetWrite(id);
        yield return new WriteMessages.WakeWrite(id);
    }
}
