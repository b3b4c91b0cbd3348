using System.Diagnostics;

namespace KruxOS.LoadTest.Load;

/// <summary>
/// Open-loop load: arrivals at a fixed rate regardless of how fast the server answers, driven by a
/// 1 ms timer and an <see cref="OpenLoopSchedule"/> (bounded in flight; late and dropped arrivals are
/// counted). Latency is measured from each arrival's scheduled time, so time spent waiting for the
/// scheduler counts against the server instead of being hidden (no coordinated omission).
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
        var total = warmup + duration;
        long measuredIssued = 0;
        long lateAtWarmEnd = -1, droppedAtWarmEnd = -1;
        List<string> notes = [];

        async Task RunArrivalAsync(Arrival a)
        {
            try
            {
                var outcome = await MeasuredPhase.InvokeAsync(op, a.Index, ct).ConfigureAwait(false);
                if (a.ScheduledAt >= warmup) phase.Record(outcome, start + MeasuredPhase.Ticks(a.ScheduledAt));
            }
            finally
            {
                schedule.Complete();
            }
        }

        using (var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1)))
        {
            var stop = false;
            while (!stop && await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
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
                        stop = true;
                        break;
                    }
                    _ = Task.Run(() => RunArrivalAsync(arrival), CancellationToken.None);
                }
                if (elapsed >= total) stop = true;
            }
        }

        var drainUntil = Stopwatch.GetTimestamp() + MeasuredPhase.Ticks(drainTimeout);
        while (schedule.Outstanding > 0 && Stopwatch.GetTimestamp() < drainUntil)
            await Task.Delay(5, ct).ConfigureAwait(false);
        if (schedule.Outstanding > 0) notes.Add($"{schedule.Outstanding} requests still in flight after the drain timeout");
        if (lateAtWarmEnd < 0) { lateAtWarmEnd = 0; droppedAtWarmEnd = 0; }
        return phase.Result(schedule.Late - lateAtWarmEnd, schedule.Dropped - droppedAtWarmEnd, notes);
    }
}
