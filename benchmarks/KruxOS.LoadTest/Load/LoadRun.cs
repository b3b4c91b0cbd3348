using System.Diagnostics;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Load;

/// <summary>One operation of a load: a tool call on worker <c>worker</c>'s session, a whole session lifecycle, …</summary>
/// <param name="worker">Closed loop: the worker index. Open loop: the arrival index.</param>
/// <param name="ct">Cancels the whole run.</param>
public delegate Task<CallOutcome> LoadOperation(long worker, CancellationToken ct);

/// <summary>What a closed- or open-loop run measured (warm-up excluded).</summary>
public sealed record LoadRunResult(
    LatencySummary Latency,
    IReadOnlyDictionary<string, long> Errors,
    long Successes,
    long Failures,
    double MeasuredSeconds,
    long Late,
    long Dropped,
    IReadOnlyList<string> Notes)
{
    /// <summary>Successes per second of the measured phase.</summary>
    public double Throughput => MeasuredSeconds > 0 ? Successes / MeasuredSeconds : 0;

    /// <summary>Open loop: latency from the actual send rather than the scheduled time (null for closed loop).</summary>
    public LatencySummary? ServiceLatency { get; init; }

    /// <summary>When the measured phase began and its last operation completed (<see cref="Stopwatch"/> timestamps of this process).</summary>
    public MeasuredWindow? Window { get; init; }
}

/// <summary>The measured phase as <see cref="Stopwatch"/> timestamps of the driver process (so CPU can be read over exactly it).</summary>
public readonly record struct MeasuredWindow(long StartTimestamp, long EndTimestamp);

/// <summary>Shared bookkeeping of a measured phase: histogram, error tally, counters, last completion time.</summary>
internal sealed class MeasuredPhase(long startTimestamp)
{
    public readonly LatencyRecorder Latency = new();
    public readonly ErrorTally Errors = new();
    private long _successes;
    private long _failures;
    private long _lastCompletion = startTimestamp;

    public long StartTimestamp { get; } = startTimestamp;

    public void Record(CallOutcome outcome, long latencyStartTimestamp)
    {
        var now = Stopwatch.GetTimestamp();
        long seen;
        while ((seen = Interlocked.Read(ref _lastCompletion)) < now && Interlocked.CompareExchange(ref _lastCompletion, now, seen) != seen) { }
        if (outcome.IsOk)
        {
            Latency.RecordMicros(LatencyRecorder.ToMicros(now - latencyStartTimestamp));
            Interlocked.Increment(ref _successes);
        }
        else
        {
            Errors.Record(outcome);
            Interlocked.Increment(ref _failures);
        }
    }

    public LoadRunResult Result(long late, long dropped, IReadOnlyList<string> notes) => new(
        Latency.Summarize(),
        Errors.Snapshot(),
        Interlocked.Read(ref _successes),
        Interlocked.Read(ref _failures),
        (double)(Interlocked.Read(ref _lastCompletion) - StartTimestamp) / Stopwatch.Frequency,
        late,
        dropped,
        notes)
    {
        Window = new MeasuredWindow(StartTimestamp, Interlocked.Read(ref _lastCompletion)),
    };

    public static async Task<CallOutcome> InvokeAsync(LoadOperation op, long worker, CancellationToken ct)
    {
        try
        {
            return await op(worker, ct).ConfigureAwait(false);
        }
        catch (SessionOpenException e)
        {
            return e.Outcome;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return McpWire.FromException(e);
        }
    }

    public static long Ticks(TimeSpan t) => (long)(t.TotalSeconds * Stopwatch.Frequency);
}
