using System.Collections.Concurrent;
using System.Diagnostics;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>idle-sessions</c>: opens <c>--idle-sessions</c> WebSocket sessions (connect + initialize, 16 at a
/// time, stopping at <c>--duration</c> if not all are open by then), holds them idle, and reads the
/// server's resident memory (<c>/proc/&lt;pid&gt;/status</c> VmRSS) before and after: memory per session.
/// The latency recorded is connect + initialize per session.
/// </summary>
public sealed class IdleSessionsScenario : IScenario
{
    /// <summary>How long the sessions are held before the second memory reading.</summary>
    public static readonly TimeSpan Hold = TimeSpan.FromSeconds(2);

    private const int OpenParallelism = 16;
    private const int PingSample = 20;

    /// <inheritdoc />
    public string Name => "idle-sessions";

    /// <inheritdoc />
    public string Description => "hold --idle-sessions initialized idle WebSocket sessions; server VmRSS before/after and bytes per session";

    /// <inheritdoc />
    public bool Comparable => true;

    /// <inheritdoc />
    public bool RunsOnFloor => true;

    /// <inheritdoc />
    public int SessionsNeeded(DriverOptions options) => options.IdleSessions;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        using var factory = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout);
        var latency = new LatencyRecorder();
        var errors = new ErrorTally();
        var held = new ConcurrentBag<IMcpSession>();
        List<string> notes = [];

        // Let the previous scenario's garbage and closing sockets settle before the baseline reading.
        await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        var before = ProcStatus.ResidentBytes(target.Pid);
        var opening = Stopwatch.StartNew();
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(o.Duration);
            try
            {
                await Parallel.ForAsync(0, o.IdleSessions, new ParallelOptions { MaxDegreeOfParallelism = OpenParallelism, CancellationToken = deadline.Token },
                    async (_, c) =>
                    {
                        var t0 = Stopwatch.GetTimestamp();
                        try
                        {
                            held.Add(await factory.OpenAsync(c).ConfigureAwait(false));
                            latency.RecordSince(t0);
                        }
                        catch (SessionOpenException e)
                        {
                            errors.Record(e.Outcome);
                        }
                    }).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                notes.Add($"--duration ({o.Duration.TotalSeconds:0.#} s) ended the opening phase after {held.Count} of {o.IdleSessions} sessions");
            }
            var openSeconds = opening.Elapsed.TotalSeconds;

            await Task.Delay(Hold, ct).ConfigureAwait(false);
            var after = ProcStatus.ResidentBytes(target.Pid);

            // The sessions must still be served after the hold, or the memory figure would flatter.
            var sample = held.Take(PingSample).ToList();
            var alive = 0;
            foreach (var s in sample)
                if ((await s.PingAsync(ct).ConfigureAwait(false)).IsOk) alive++;
            if (alive < sample.Count) notes.Add($"only {alive} of {sample.Count} sampled sessions answered a ping after the hold");

            var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal)
            {
                ["sessions_requested"] = o.IdleSessions,
                ["sessions_held"] = held.Count,
                ["ping_sample_alive"] = alive,
                ["ping_sample_size"] = sample.Count,
                ["hold_seconds"] = Hold.TotalSeconds,
            };
            if (before is { } b && after is { } a)
            {
                metrics["rss_before_bytes"] = b;
                metrics["rss_after_bytes"] = a;
                metrics["rss_delta_bytes"] = a - b;
                if (!held.IsEmpty) metrics["bytes_per_session"] = Math.Round((double)(a - b) / held.Count, 0);
            }
            else
            {
                notes.Add("VmRSS could not be read (not Linux?)");
            }
            return new ScenarioResult
            {
                Scenario = Name,
                Target = target.Name,
                Transport = "websocket",
                LoadModel = "hold",
                Operation = "connect + initialize, then idle",
                Concurrency = OpenParallelism,
                MeasuredSeconds = Math.Round(openSeconds, 3),
                Successes = held.Count,
                Failures = errors.Total,
                ThroughputPerSecond = openSeconds > 0 ? Math.Round(held.Count / openSeconds, 1) : 0,
                Latency = latency.Summarize(),
                Errors = errors.Snapshot(),
                Metrics = metrics,
                Notes = notes,
            };
        }
        finally
        {
            await SessionFactory.CloseAllAsync(held, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
