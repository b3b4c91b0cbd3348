using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>inproc-ws</c> / <c>inproc-http</c>: N sessions (default 16) call the target's in-process tool as
/// fast as they go (closed loop): <c>system__time</c> on the gateway, <c>noop</c> on the floor.
/// Measures the maximum call rate and its latency.
/// </summary>
public sealed class InProcCallScenario(McpTransport transport) : IScenario
{
    /// <inheritdoc />
    public string Name { get; } = transport == McpTransport.WebSocket ? "inproc-ws" : "inproc-http";

    /// <inheritdoc />
    public string Description =>
        $"closed loop: --concurrency {SessionFactory.Name(transport)} sessions call system__time (gateway) / noop (floor) back to back";

    /// <inheritdoc />
    public bool Comparable => true;

    /// <inheritdoc />
    public bool RunsOnFloor => true;

    /// <inheritdoc />
    public int SessionsNeeded(DriverOptions options) => options.Concurrency;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        var template = new McpWire.ToolCallTemplate(target.ToolName, target.ToolArguments);
        using var factory = new SessionFactory(target, transport, o.CallTimeout);
        var sessions = await factory.OpenManyAsync(o.Concurrency, parallelism: 8, ct).ConfigureAwait(false);
        LoadRunResult run;
        try
        {
            run = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests,
                (worker, c) => sessions[worker].CallToolAsync(template, c), ct).ConfigureAwait(false);
        }
        finally
        {
            await SessionFactory.CloseAllAsync(sessions, CancellationToken.None).ConfigureAwait(false);
        }
        return ScenarioResult.ClosedLoop(Name, target.Name, SessionFactory.Name(transport), $"tools/call {target.ToolName}", o.Concurrency, run);
    }
}
