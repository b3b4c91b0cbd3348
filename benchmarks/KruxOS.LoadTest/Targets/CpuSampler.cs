using System.Diagnostics;
using KruxOS.LoadTest.Load;

namespace KruxOS.LoadTest.Targets;

/// <summary>
/// Reads a server's CPU time (<c>/proc/&lt;pid&gt;/stat</c>) and context switches, and the driver's own CPU time, every
/// <see cref="Interval"/> while a scenario runs, so the CPU spent in exactly its measured phase (warm-up and
/// session set-up excluded) can be read back afterwards by interpolating between samples.
/// </summary>
internal sealed class CpuSampler : IAsyncDisposable
{
    /// <summary>Time between samples.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly int _pid;
    private readonly List<Sample> _samples = [];
    private readonly ContextSwitchTally _switches = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private CpuSampler(int pid)
    {
        _pid = pid;
        Take();
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Starts sampling <paramref name="pid"/> (and this process).</summary>
    public static CpuSampler Start(int pid) => new(pid);

    /// <summary>
    /// CPU seconds the server and the driver spent within <paramref name="window"/>, and the server's context
    /// switches, or null when the window was not covered by samples.
    /// </summary>
    public (double Server, double Driver, double ServerSwitches)? Over(MeasuredWindow window)
    {
        Take();
        lock (_samples)
        {
            if (_samples.Count < 2 || window.EndTimestamp <= window.StartTimestamp) return null;
            if (At(window.StartTimestamp) is not { } start || At(window.EndTimestamp) is not { } end) return null;
            return (end.Server - start.Server, end.Driver - start.Driver, end.Switches - start.Switches);
        }
    }

    // Linear interpolation between the samples around the timestamp (the counters only ever grow).
    private (double Server, double Driver, double Switches)? At(long timestamp)
    {
        for (var i = 1; i < _samples.Count; i++)
        {
            var (a, b) = (_samples[i - 1], _samples[i]);
            if (timestamp < a.Timestamp || timestamp > b.Timestamp) continue;
            var f = b.Timestamp == a.Timestamp ? 0 : (double)(timestamp - a.Timestamp) / (b.Timestamp - a.Timestamp);
            return (a.Server + (b.Server - a.Server) * f, a.Driver + (b.Driver - a.Driver) * f, a.Switches + (b.Switches - a.Switches) * f);
        }
        return null;
    }

    private async Task LoopAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(Interval, _stop.Token).ConfigureAwait(false);
                Take();
            }
        }
        catch (OperationCanceledException) { }
    }

    // Readings are taken under the lock (this runs on the loop and on the caller of Over), so samples stay in time
    // order and the switch tally sees its readings in the order they were taken.
    private void Take()
    {
        lock (_samples)
        {
            var now = Stopwatch.GetTimestamp();
            var server = ProcStatus.CpuSeconds(_pid);
            var switches = ProcStatus.ThreadContextSwitches(_pid);
            var driver = Environment.CpuUsage.TotalTime.TotalSeconds;
            if (server is null || switches is null) return;
            _samples.Add(new Sample(now, server.Value, driver, _switches.Add(switches)));
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private readonly record struct Sample(long Timestamp, double Server, double Driver, long Switches);
}
