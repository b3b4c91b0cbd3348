using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>Which state family a <see cref="StateWriteScenario"/> writes.</summary>
public enum StateWriteKind
{
    /// <summary><c>state.persistent.set</c>: a new version of the worker's own key of its own agent (event persisted before the answer).</summary>
    Persistent,

    /// <summary><c>state.shared.set</c> with <c>expected_version</c>: the worker's own shared key (optimistic lock, partition event persisted before the answer).</summary>
    Shared,
}

/// <summary>
/// <c>state-persistent</c> / <c>state-shared</c> (gateway only): --concurrency agents, one WebSocket session each, each
/// writing its own key back to back (closed loop). Every call is decided, audited and answered only after its event is
/// durable. Run in the same invocation as <c>inproc-ws</c> (<c>system__time</c>) for the same-run floor.
/// </summary>
public sealed class StateWriteScenario(StateWriteKind kind) : IScenario
{
    /// <inheritdoc />
    public string Name => kind == StateWriteKind.Persistent ? "state-persistent" : "state-shared";

    /// <inheritdoc />
    public string Description => kind == StateWriteKind.Persistent
        ? "closed loop: --concurrency agents (websocket) each call state__persistent__set on its own key (gateway only)"
        : "closed loop: --concurrency agents (websocket) each call state__shared__set on its own key with expected_version (gateway only)";

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
        var socket = target.ControlSocket ?? throw new InvalidOperationException($"{Name} needs the gateway's control socket");
        var run = Guid.NewGuid().ToString("N")[..6];
        await using var admin = await ControlSocketClient.OpenAsync(socket, ct).ConfigureAwait(false);
        var sessions = new IMcpSession[o.Concurrency];
        var factories = new List<SessionFactory>();
        var versions = new long[o.Concurrency];
        try
        {
            for (var i = 0; i < o.Concurrency; i++)
            {
                // Tokens stay in memory (never argv or logs).
                var created = await admin.CallAsync("agent.create", new JsonObject { ["name"] = $"load-{run}-st{i}", ["purpose"] = "state load scenario" }, ct)
                    .ConfigureAwait(false);
                var token = created?["token"]?.GetValue<string>() ?? throw new InvalidOperationException("agent.create returned no token");
                var f = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout, token);
                factories.Add(f);
                sessions[i] = (await f.OpenManyAsync(1, 1, ct).ConfigureAwait(false))[0];
            }
            var value = new { step = "load", payload = new string('x', 200) };

            async Task<CallOutcome> WriteAsync(long worker, CancellationToken c)
            {
                McpWire.ToolCallTemplate call = kind == StateWriteKind.Persistent
                    ? new("state__persistent__set", JsonSerializer.Serialize(new { key = "load-key", value }))
                    : new("state__shared__set", JsonSerializer.Serialize(new { key = $"load-{run}-{worker}", value, expected_version = versions[worker] }));
                var outcome = await sessions[worker].CallToolAsync(call, c).ConfigureAwait(false);
                // Each worker is its key's only writer, so a successful write is always the next version.
                if (outcome.IsOk) versions[worker]++;
                return outcome;
            }

            var result = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests, WriteAsync, ct).ConfigureAwait(false);
            return ScenarioResult.ClosedLoop(Name, target.Name, SessionFactory.Name(McpTransport.WebSocket),
                kind == StateWriteKind.Persistent ? "state__persistent__set" : "state__shared__set", o.Concurrency, result);
        }
        finally
        {
            await SessionFactory.CloseAllAsync(sessions.Where(s => s is not null), CancellationToken.None).ConfigureAwait(false);
            foreach (var f in factories) f.Dispose();
        }
    }
}
