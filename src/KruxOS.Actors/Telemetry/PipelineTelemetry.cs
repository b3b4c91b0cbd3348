using System.Diagnostics;
using System.Diagnostics.Metrics;
using KruxOS.Core.Telemetry;

namespace KruxOS.Actors.Telemetry;

/// <summary>
/// The call pipeline's instruments and activity source (names: <see cref="TelemetryNames"/>). Process-wide, like the
/// <see cref="Meter"/> and <see cref="ActivitySource"/> they wrap: whoever listens (the gateway's OpenTelemetry
/// providers, a test's <see cref="MeterListener"/>) subscribes by the name <see cref="TelemetryNames.Source"/>.
/// <para>Cheap when nobody listens: an instrument without a listener returns at its first check, the tags are at most
/// three (passed on the stack), and <see cref="StartSpan"/> returns null without creating anything.</para>
/// <para>Never fails its caller: a listener that throws (any in-process <see cref="MeterListener"/> or
/// <see cref="ActivityListener"/> is called synchronously) loses that measurement, and the call, the audit writer's batch or
/// the actor that recorded it goes on as if nobody listened.</para>
/// </summary>
public static class PipelineTelemetry
{
    private static readonly string? Version = typeof(PipelineTelemetry).Assembly.GetName().Version?.ToString();

    /// <summary>The gateway's meter.</summary>
    public static readonly Meter Meter = new(TelemetryNames.Source, Version);

    /// <summary>The gateway's activity source.</summary>
    public static readonly ActivitySource Source = new(TelemetryNames.Source, Version);

    // Explicit boundaries: the default ones (0 … 10,000) are made for milliseconds; ours are seconds, from 50 µs (an
    // in-process call's decision) to 5 minutes (an approval hold).
    private static readonly double[] SecondsBoundaries =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private static readonly InstrumentAdvice<double> SecondsAdvice = new() { HistogramBucketBoundaries = SecondsBoundaries };

    /// <summary><see cref="TelemetryNames.Calls"/>.</summary>
    public static readonly Counter<long> Calls = Meter.CreateCounter<long>(TelemetryNames.Calls, "{call}", "Calls answered, by capability, tier and outcome.");

    /// <summary><see cref="TelemetryNames.CallDuration"/>.</summary>
    public static readonly Histogram<double> CallDuration = Meter.CreateHistogram(TelemetryNames.CallDuration, "s",
        "Duration of a call from the session's receipt to its answer.", tags: null, advice: SecondsAdvice);

    /// <summary><see cref="TelemetryNames.StageDuration"/>.</summary>
    public static readonly Histogram<double> StageDuration = Meter.CreateHistogram(TelemetryNames.StageDuration, "s",
        "Duration of one stage of a call: decide, hold (approval wait), execute, audit.", tags: null, advice: SecondsAdvice);

    /// <summary><see cref="TelemetryNames.CallErrors"/>.</summary>
    public static readonly Counter<long> CallErrors = Meter.CreateCounter<long>(TelemetryNames.CallErrors, "{call}", "Calls answered with an error, by capability and error code.");

    /// <summary><see cref="TelemetryNames.AuditCommitDuration"/>.</summary>
    public static readonly Histogram<double> AuditCommitDuration = Meter.CreateHistogram(TelemetryNames.AuditCommitDuration, "s",
        "Duration of one audit group commit (write and fsync of a batch).", tags: null, advice: SecondsAdvice);

    /// <summary><see cref="TelemetryNames.AuditCommitEntries"/>.</summary>
    public static readonly Histogram<long> AuditCommitEntries = Meter.CreateHistogram(TelemetryNames.AuditCommitEntries, "{entry}",
        "Entries per audit group commit.", tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });

    /// <summary>Records one stage of a call that took from <paramref name="startTimestamp"/> to <paramref name="endTimestamp"/> (<see cref="Stopwatch"/> ticks).</summary>
    public static void RecordStage(string stage, string capability, string tier, long startTimestamp, long endTimestamp)
    {
        if (!StageDuration.Enabled) return;
        try
        {
            StageDuration.Record(Seconds(startTimestamp, endTimestamp),
                new KeyValuePair<string, object?>(TelemetryNames.Stage, stage),
                new KeyValuePair<string, object?>(TelemetryNames.Capability, capability),
                new KeyValuePair<string, object?>(TelemetryNames.Tier, tier));
        }
        catch (Exception e) when (Lost(e)) { }
    }

    /// <summary>Records an answered call: its count, its duration and, when it failed, its error code.</summary>
    public static void RecordCall(string capability, string tier, string outcome, string? errorCode, long startTimestamp, long endTimestamp)
    {
        var capabilityTag = new KeyValuePair<string, object?>(TelemetryNames.Capability, capability);
        var tierTag = new KeyValuePair<string, object?>(TelemetryNames.Tier, tier);
        var outcomeTag = new KeyValuePair<string, object?>(TelemetryNames.Outcome, outcome);
        try
        {
            if (Calls.Enabled) Calls.Add(1, capabilityTag, tierTag, outcomeTag);
            if (CallDuration.Enabled) CallDuration.Record(Seconds(startTimestamp, endTimestamp), capabilityTag, tierTag, outcomeTag);
            if (errorCode is not null && CallErrors.Enabled)
                CallErrors.Add(1, capabilityTag, new KeyValuePair<string, object?>(TelemetryNames.ErrorCode, TelemetryLabels.ErrorCodes.Of(errorCode)));
        }
        catch (Exception e) when (Lost(e)) { }
    }

    /// <summary>Records one audit group commit.</summary>
    public static void RecordAuditCommit(bool ok, int entries, long startTimestamp, long endTimestamp)
    {
        var result = new KeyValuePair<string, object?>(TelemetryNames.Result, ok ? "ok" : "failed");
        try
        {
            if (AuditCommitDuration.Enabled) AuditCommitDuration.Record(Seconds(startTimestamp, endTimestamp), result);
            if (AuditCommitEntries.Enabled) AuditCommitEntries.Record(entries, result);
        }
        catch (Exception e) when (Lost(e)) { }
    }

    /// <summary>
    /// Starts a span that began at <paramref name="startTimestamp"/> (<see cref="Stopwatch"/> ticks, made wall-clock time by
    /// <paramref name="clock"/>), as a child of <paramref name="parent"/> (a root when default), or returns null when nobody
    /// listens. Actors do not flow an ambient activity: <see cref="Activity.Current"/> is left as it was.
    /// </summary>
    public static Activity? StartSpan(string name, ActivityContext parent, long startTimestamp, SpanClock clock)
    {
        if (!Source.HasListeners()) return null;
        var previous = Activity.Current;
        try
        {
            return Source.StartActivity(name, ActivityKind.Internal, parent, tags: null, links: null, startTime: clock.ToUtc(startTimestamp));
        }
        catch (Exception e) when (Lost(e))
        {
            return null;
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    /// <summary>Ends <paramref name="span"/> at <paramref name="endTimestamp"/>, leaving <see cref="Activity.Current"/> as it was.</summary>
    public static void EndSpan(Activity? span, long endTimestamp, SpanClock clock)
    {
        if (span is null || span.IsStopped) return;
        var previous = Activity.Current;
        try
        {
            span.SetEndTime(clock.ToUtc(endTimestamp).UtcDateTime);
            span.Stop();
        }
        catch (Exception e) when (Lost(e)) { }
        finally
        {
            Activity.Current = previous;
        }
    }

    /// <summary>How many measurements or spans a throwing listener cost (the process's total).</summary>
    public static long LostMeasurements => Interlocked.Read(ref _lost);

    private static long _lost;

    // A listener threw: the measurement is lost, never the caller's work.
    private static bool Lost(Exception e)
    {
        _ = e;
        Interlocked.Increment(ref _lost);
        return true;
    }

    private static double Seconds(long start, long end) => end > start ? (double)(end - start) / Stopwatch.Frequency : 0;
}

/// <summary>
/// Turns <see cref="Stopwatch"/> readings into wall-clock times for spans, from one reading of both clocks: the spans of
/// one call are converted with one anchor, so their order and nesting are exactly those of the monotonic readings.
/// </summary>
public readonly record struct SpanClock(DateTimeOffset Utc, long Timestamp)
{
    /// <summary>Both clocks now.</summary>
    public static SpanClock Now() => new(DateTimeOffset.UtcNow, Stopwatch.GetTimestamp());

    /// <summary>The wall-clock time of <paramref name="timestamp"/>.</summary>
    public DateTimeOffset ToUtc(long timestamp) => Utc + Stopwatch.GetElapsedTime(Timestamp, timestamp);
}
