using System.Diagnostics;
using HdrHistogram;

namespace KruxOS.LoadTest.Stats;

/// <summary>
/// A thread-safe HdrHistogram of latencies in microseconds (1 µs to 10 min, 3 significant digits).
/// Recording takes a short lock: at the call rates a loopback MCP server reaches, that costs far less
/// than one call, and it keeps every sample in one histogram.
/// </summary>
public sealed class LatencyRecorder
{
    /// <summary>Largest recordable latency; longer ones are clamped to it.</summary>
    public const long MaxTrackableUs = 600_000_000;

    private readonly LongHistogram _histogram = new(MaxTrackableUs, 3);
    private readonly Lock _lock = new();

    /// <summary>Records the time from <paramref name="startTimestamp"/> (a <see cref="Stopwatch"/> timestamp) to now.</summary>
    public void RecordSince(long startTimestamp) => RecordMicros(ToMicros(Stopwatch.GetTimestamp() - startTimestamp));

    /// <summary>Records one latency in microseconds (at least 1, at most <see cref="MaxTrackableUs"/>).</summary>
    public void RecordMicros(long micros)
    {
        var v = Math.Clamp(micros, 1, MaxTrackableUs);
        lock (_lock) _histogram.RecordValue(v);
    }

    /// <summary>Samples recorded so far.</summary>
    public long Count
    {
        get { lock (_lock) return _histogram.TotalCount; }
    }

    /// <summary>The percentiles of everything recorded so far.</summary>
    public LatencySummary Summarize()
    {
        lock (_lock) return LatencySummary.From(_histogram);
    }

    /// <summary>Converts a <see cref="Stopwatch"/> tick count to microseconds.</summary>
    public static long ToMicros(long stopwatchTicks) => stopwatchTicks * 1_000_000 / Stopwatch.Frequency;
}
