using System.Diagnostics;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Load;

/// <summary>
/// Open-loop load: arrivals at a fixed rate regardless of how fast the server answers, driven by a
/// scheduler thread that checks every millisecond and an <see cref="OpenLoopSchedule"/> (bounded in flight; late and dropped arrivals are
/// counted). Latency is measured from each arrival's scheduled time, so time spent waiting for the
/// scheduler counts against the server instead of being hidden (no coordinated omission); the
/// service time (from the actual send) is kept separately to tell the two apart.
/// </summary>
public static class OpenLoopRunner
{
    /// <summary>Runs the load and returns what the measured phase saw.</summary>
    public static async Task<LoadRunResult> RunAsync(
        double ratePerSecond, int maxOutstanding, TimeSpan lateThreshold,
        TimeSpan warmup, TimeSpan duration, long maxRequests, TimeSpan drainTimeout,
        LoadOperation op, CancellationToken ct)
    {
        var schedule = new OpenLoopSchedule(ratePerSecond, maxOutstanding, lateThreshold);
        var start = Stopwatch.GetTimestamp();
        var phase = new MeasuredPhase(start + MeasuredPhase.Ticks(warmup));
        var service = new LatencyRecorder(); // from the actual send, for telling scheduler delay from server time
        var total = warmup + duration;
        long measuredIssued = 0;
        long lateAtWarmEnd = -1, droppedAtWarmEnd = -1;
        List<string> notes = [];

        async Task RunArrivalAsync(Arrival a)
        {
            try
            {
                var sent = Stopwatch.GetTimestamp();
                var outcome = await MeasuredPhase.InvokeAsync(op, a.Index, ct).ConfigureAwait(false);
                if (a.ScheduledAt >= warmup)
                {
                    phase.Record(outcome, start + MeasuredPhase.Ticks(a.ScheduledAt));
                    if (outcome.IsOk) service.RecordSince(sent);
                }
            }
            finally
            {
                schedule.Complete();
            }
        }

        // A dedicated thread sleeping 1 ms between checks: thread-pool timers fire every few
        // milliseconds on a busy machine, which would show up as queueing latency that is the driver's.
        void Schedule()
        {
            while (!ct.IsCancellationRequested)
            {
                var elapsed = Stopwatch.GetElapsedTime(start);
                if (lateAtWarmEnd < 0 && elapsed >= warmup)
                {
                    lateAtWarmEnd = schedule.Late;
                    droppedAtWarmEnd = schedule.Dropped;
                }
                var horizon = elapsed < total ? elapsed : total - TimeSpan.FromTicks(1);
                while (schedule.TryNext(horizon, out var arrival))
                {
                    if (arrival.ScheduledAt >= warmup && ++measuredIssued > maxRequests)
                    {
                        notes.Add($"stopped by --max-requests ({maxRequests}) before the deadline");
                        schedule.Complete();
                        return;
                    }
                    ThreadPool.UnsafeQueueUserWorkItem(a => _ = RunArrivalAsync(a), arrival, preferLocal: false);
                }
                if (elapsed >= total) return;
                Thread.Sleep(1);
            }
        }

        await Task.Factory.StartNew(Schedule, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();

        var drainUntil = Stopwatch.GetTimestamp() + MeasuredPhase.Ticks(drainTimeout);
        while (schedule.Outstanding > 0 && Stopwatch.GetTimestamp() < drainUntil)
            await Task.Delay(5, ct).ConfigureAwait(false);
        if (schedule.Outstanding > 0) notes.Add($"{schedule.Outstanding} requests still in flight after the drain timeout");
        if (lateAtWarmEnd < 0) { lateAtWarmEnd = 0; droppedAtWarmEnd = 0; }
        return phase.Result(schedule.Late - lateAtWarmEnd, schedule.Dropped - droppedAtWarmEnd, notes) with { ServiceLatency = service.Summarize() };
    }
}
