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
        return ResultOf(run, target.Name, $"tools/call {target.ToolName}", o.Concurrency);
    }

    private ScenarioResult ResultOf(LoadRunResult run, string target, string operation, int concurrency) => new()
    {
        Scenario = Name,
        Target = target,
        Transport = SessionFactory.Name(transport),
        LoadModel = "closed",
        Operation = operation,
        Concurrency = concurrency,
        MeasuredSeconds = Math.Round(run.MeasuredSeconds, 3),
        Successes = run.Successes,
        Failures = run.Failures,
        ThroughputPerSecond = Math.Round(run.Throughput, 1),
        Latency = run.Latency,
        Errors = run.Errors,
        Notes = run.Notes,
    };
}
