using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>open-loop-ws</c>: tool calls arrive at a fixed rate over a pool of WebSocket sessions, whatever
/// the server's speed; latency is measured from each call's scheduled time. The rate is <c>--rate</c>,
/// or else half the gateway's closed-loop maximum measured by <c>inproc-ws</c> earlier in this run
/// (both targets then run at the same rate, so their p99s compare), or else half of a short
/// closed-loop probe of this target. This is the "p99 at half the maximum rate" figure.
/// </summary>
public sealed class OpenLoopWsScenario : IScenario
{
    /// <inheritdoc />
    public string Name => "open-loop-ws";

    /// <inheritdoc />
    public string Description => "open loop: fixed arrival rate (default half the gateway's inproc-ws max) of tool calls over --concurrency WebSocket sessions";

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
        using var factory = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout);
        var sessions = await factory.OpenManyAsync(o.Concurrency, parallelism: 8, ct).ConfigureAwait(false);
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        List<string> notes = [];
        try
        {
            double rate;
            if (o.Rate is { } fixedRate)
            {
                rate = fixedRate;
                notes.Add("rate from --rate");
            }
            else if (context.EarlierResults.FirstOrDefault(r => r.Scenario == "inproc-ws" && r.Target == TargetServer.Gateway && r.ThroughputPerSecond > 0) is { } gw)
            {
                rate = gw.ThroughputPerSecond / 2;
                metrics["closed_loop_max_per_second"] = gw.ThroughputPerSecond;
                notes.Add("rate = half the gateway's inproc-ws throughput in this run");
            }
            else
            {
                var probeTime = o.Duration < TimeSpan.FromSeconds(3) ? o.Duration : TimeSpan.FromSeconds(3);
                var probe = await ClosedLoopRunner.RunAsync(o.Concurrency, probeTime / 3, probeTime, o.MaxRequests,
                    (worker, c) => sessions[worker].CallToolAsync(template, c), ct).ConfigureAwait(false);
                if (probe.Throughput <= 0) throw new InvalidOperationException($"closed-loop probe of {target.Name} made no successful call: {string.Join(", ", probe.Errors.Keys)}");
                rate = probe.Throughput / 2;
                metrics["closed_loop_max_per_second"] = Math.Round(probe.Throughput, 1);
                notes.Add($"rate = half of a {probeTime.TotalSeconds:0.#} s closed-loop probe of this target");
            }
            context.Log.WriteLine($"    {target.Name}: open loop at {rate:0.#} calls/s");
            var run = await OpenLoopRunner.RunAsync(rate, o.MaxOutstanding, o.LateThreshold, o.Warmup, o.Duration, o.MaxRequests,
                o.CallTimeout + TimeSpan.FromSeconds(1),
                (index, c) => sessions[index % sessions.Length].CallToolAsync(template, c), ct).ConfigureAwait(false);
            metrics["max_outstanding"] = o.MaxOutstanding;
            metrics["late_threshold_ms"] = o.LateThreshold.TotalMilliseconds;
            return new ScenarioResult
            {
                Scenario = Name,
                Target = target.Name,
                Transport = "websocket",
                LoadModel = "open",
                Operation = $"tools/call {target.ToolName}",
                Concurrency = o.Concurrency,
                RatePerSecond = Math.Round(rate, 1),
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
                Metrics = metrics,
                Notes = [.. notes, .. run.Notes],
            };
        }
        finally
        {
            await SessionFactory.CloseAllAsync(sessions, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
