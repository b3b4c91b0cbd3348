using System.Diagnostics;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Load;

/// <summary>One timed run: the operation measures its own latency (e.g. spawn to answer, not its clean-up).</summary>
/// <param name="run">The run number, warm-up runs first, from 0.</param>
/// <param name="ct">Cancels the whole run.</param>
public delegate Task<TimedOutcome> TimedOperation(long run, CancellationToken ct);

/// <summary>
/// Sequential runs, one at a time (cold process starts, where concurrency would measure contention instead).
/// Warm-up: at least one run, and more until <c>warmup</c> has passed; none is recorded. Measured phase: at
/// least one run, and more until <c>duration</c> has passed or <c>maxRuns</c> runs were made. Each run's
/// latency is the time the operation reports, so work after the answer (waiting for an exit) is not counted.
/// </summary>
public static class SequentialRunner
{
    /// <summary>Runs <paramref name="op"/> and returns what the measured phase saw.</summary>
    public static async Task<LoadRunResult> RunAsync(TimeSpan warmup, TimeSpan duration, long maxRuns, TimedOperation op, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRuns, 1);
        long run = 0;
        var warmEnd = Stopwatch.GetTimestamp() + Ticks(warmup);
        var warmRuns = 0;
        do
        {
            await InvokeAsync(op, run++, ct).ConfigureAwait(false);
            warmRuns++;
        }
        while (Stopwatch.GetTimestamp() < warmEnd);

        var latency = new LatencyRecorder();
        var errors = new ErrorTally();
        var start = Stopwatch.GetTimestamp();
        var end = start + Ticks(duration);
        long measured = 0, successes = 0;
        do
        {
            var r = await InvokeAsync(op, run++, ct).ConfigureAwait(false);
            measured++;
            if (r.Outcome.IsOk)
            {
                latency.RecordMicros(LatencyRecorder.ToMicros((long)(r.Elapsed.TotalSeconds * Stopwatch.Frequency)));
                successes++;
            }
            else
            {
                errors.Record(r.Outcome);
            }
        }
        while (measured < maxRuns && Stopwatch.GetTimestamp() < end);

        var stop = Stopwatch.GetTimestamp();
        var seconds = (double)(stop - start) / Stopwatch.Frequency;
        List<string> notes =
        [
            $"{warmRuns} warm-up run(s) excluded",
            measured == maxRuns ? $"{measured} measured runs (--max-requests)" : $"{measured} measured runs (stopped by --duration)",
        ];
        return new LoadRunResult(latency.Summarize(), errors.Snapshot(), successes, measured - successes, seconds, 0, 0, notes)
        {
            Window = new MeasuredWindow(start, stop),
        };
    }

    private static async Task<TimedOutcome> InvokeAsync(TimedOperation op, long run, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        try
        {
            return await op(run, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new TimedOutcome(McpWire.FromException(e), TimeSpan.Zero);
        }
    }

    private static long Ticks(TimeSpan t) => (long)(t.TotalSeconds * Stopwatch.Frequency);
}
