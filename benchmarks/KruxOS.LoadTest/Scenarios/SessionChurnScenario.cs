using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>session-churn</c>: at a fixed rate (<c>--churn-rate</c> per second, open loop), each arrival
/// connects a WebSocket, initializes, makes one tool call and closes. Latency is that whole lifecycle.
/// </summary>
public sealed class SessionChurnScenario : IScenario
{
    /// <inheritdoc />
    public string Name => "session-churn";

    /// <inheritdoc />
    public string Description => "open loop: --churn-rate WebSocket sessions/s, each connect + initialize + one tool call + close";

    /// <inheritdoc />
    public bool Comparable => true;

    /// <inheritdoc />
    public bool RunsOnFloor => true;

    /// <inheritdoc />
    public int SessionsNeeded(DriverOptions options) => options.MaxOutstanding;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        var template = new McpWire.ToolCallTemplate(target.ToolName, target.ToolArguments);
        using var factory = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout);

        async Task<CallOutcome> LifecycleAsync(long _, CancellationToken c)
        {
            var session = await factory.OpenAsync(c).ConfigureAwait(false);
            await using (session.ConfigureAwait(false))
            {
                var outcome = await session.CallToolAsync(template, c).ConfigureAwait(false);
                await session.CloseAsync(c).ConfigureAwait(false);
                return outcome;
            }
        }

        var run = await OpenLoopRunner.RunAsync(o.ChurnRate, o.MaxOutstanding, o.LateThreshold, o.Warmup, o.Duration, o.MaxRequests,
            o.CallTimeout * 3 + TimeSpan.FromSeconds(1), LifecycleAsync, ct).ConfigureAwait(false);
        return new ScenarioResult
        {
            Scenario = Name,
            Target = target.Name,
            Transport = "websocket",
            LoadModel = "open",
            Operation = $"connect + initialize + tools/call {target.ToolName} + close",
            Concurrency = o.MaxOutstanding,
            RatePerSecond = o.ChurnRate,
            MeasuredSeconds = Math.Round(run.MeasuredSeconds, 3),
            Window = run.Window,
            Successes = run.Successes,
            Failures = run.Failures,
            ThroughputPerSecond = Math.Round(run.Throughput, 1),
            Latency = run.Latency,
            ServiceLatency = run.ServiceLatency,
            Errors = run.Errors,
            Late = run.Late,
            Dropped = run.Dropped,
            Metrics = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["max_outstanding"] = o.MaxOutstanding },
            Notes = run.Notes,
        };
    }
}
