using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>comms-roundtrip</c> (gateway only): --concurrency pairs of connected agents over WebSocket. One operation is a
/// message's whole trip between two connected agents: the sender's <c>comms__send</c> (answered once the message is
/// durable in the recipient's inbox) followed by the recipient's <c>comms__receive</c> that takes it. The latency is
/// send → received; the operation rate is messages per second through durable inboxes.
/// </summary>
public sealed class CommsRoundTripScenario : IScenario
{
    /// <inheritdoc />
    public string Name => "comms-roundtrip";

    /// <inheritdoc />
    public string Description => "closed loop: --concurrency sender/recipient agent pairs (websocket); comms__send then the recipient's comms__receive (gateway only)";

    /// <inheritdoc />
    public bool Comparable => false;

    /// <inheritdoc />
    public bool RunsOnFloor => false;

    /// <inheritdoc />
    public int SessionsNeeded(DriverOptions options) => 1;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        var socket = target.ControlSocket ?? throw new InvalidOperationException("comms-roundtrip needs the gateway's control socket");
        var run = Guid.NewGuid().ToString("N")[..6];
        await using var admin = await ControlSocketClient.OpenAsync(socket, ct).ConfigureAwait(false);

        async Task<string> CreateAsync(string name)
        {
            // Tokens stay in memory (never argv or logs).
            var created = await admin.CallAsync("agent.create", new JsonObject { ["name"] = name, ["purpose"] = "comms load scenario" }, ct).ConfigureAwait(false);
            return created?["token"]?.GetValue<string>() ?? throw new InvalidOperationException("agent.create returned no token");
        }

        var senders = new IMcpSession[o.Concurrency];
        var receivers = new IMcpSession[o.Concurrency];
        var factories = new List<SessionFactory>();
        try
        {
            var sends = new McpWire.ToolCallTemplate[o.Concurrency];
            for (var i = 0; i < o.Concurrency; i++)
            {
                var (from, to) = ($"load-{run}-s{i}", $"load-{run}-r{i}");
                var sf = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout, await CreateAsync(from).ConfigureAwait(false));
                var rf = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout, await CreateAsync(to).ConfigureAwait(false));
                factories.Add(sf);
                factories.Add(rf);
                senders[i] = (await sf.OpenManyAsync(1, 1, ct).ConfigureAwait(false))[0];
                receivers[i] = (await rf.OpenManyAsync(1, 1, ct).ConfigureAwait(false))[0];
                sends[i] = new McpWire.ToolCallTemplate("comms__send", JsonSerializer.Serialize(new { to, message = "load test message" }));
            }
            var receive = new McpWire.ToolCallTemplate("comms__receive", """{"limit":1}""");

            async Task<CallOutcome> TripAsync(long worker, CancellationToken c)
            {
                var sent = await senders[worker].CallToolAsync(sends[worker], c).ConfigureAwait(false);
                if (!sent.IsOk) return sent;
                return await receivers[worker].CallToolAsync(receive, c).ConfigureAwait(false);
            }

            var result = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests, TripAsync, ct).ConfigureAwait(false);
            return ScenarioResult.ClosedLoop(Name, target.Name, SessionFactory.Name(McpTransport.WebSocket), "comms__send + comms__receive", o.Concurrency, result);
        }
        finally
        {
            await SessionFactory.CloseAllAsync(senders.Where(s => s is not null), CancellationToken.None).ConfigureAwait(false);
            await SessionFactory.CloseAllAsync(receivers.Where(s => s is not null), CancellationToken.None).ConfigureAwait(false);
            foreach (var f in factories) f.Dispose();
        }
    }
}
