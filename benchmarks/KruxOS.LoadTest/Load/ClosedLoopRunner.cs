using System.Diagnostics;

namespace KruxOS.LoadTest.Load;

/// <summary>
/// Closed-loop load: <c>concurrency</c> workers each issue their next operation as soon as the last
/// one finished. Operations started during the warm-up are not recorded; the measured phase ends at
/// the deadline or when <c>maxRequests</c> measured operations were started, whichever comes first.
/// </summary>
public static class ClosedLoopRunner
{
    /// <summary>Runs the load and returns what the measured phase saw.</summary>
    public static async Task<LoadRunResult> RunAsync(int concurrency, TimeSpan warmup, TimeSpan duration, long maxRequests, LoadOperation op, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var start = Stopwatch.GetTimestamp();
        var warmEnd = start + MeasuredPhase.Ticks(warmup);
        var end = warmEnd + MeasuredPhase.Ticks(duration);
        var phase = new MeasuredPhase(warmEnd);
        long budget = maxRequests;
        long warmBudget = maxRequests;
        var budgetHit = 0;

        async Task WorkerAsync(int worker)
        {
            while (!ct.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (t0 >= end) return;
                var measured = t0 >= warmEnd;
                if (measured)
                {
                    if (Interlocked.Decrement(ref budget) < 0)
                    {
                        Volatile.Write(ref budgetHit, 1);
                        return;
                    }
                }
                else if (Interlocked.Decrement(ref warmBudget) < 0)
                {
                    // Warm-up is bounded by count too: wait for the measured phase instead of calling more.
                    await Task.Delay(TimeSpan.FromSeconds((double)(warmEnd - t0) / Stopwatch.Frequency), ct).ConfigureAwait(false);
                    continue;
                }
                var outcome = await MeasuredPhase.InvokeAsync(op, worker, ct).ConfigureAwait(false);
                if (measured) phase.Record(outcome, t0);
            }
        }

        var workers = Enumerable.Range(0, concurrency).Select(i => Task.Run(() => WorkerAsync(i), CancellationToken.None)).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
        List<string> notes = [];
        if (budgetHit == 1) notes.Add($"stopped by --max-requests ({maxRequests}) before the deadline");
        return phase.Result(0, 0, notes);
    }
}
