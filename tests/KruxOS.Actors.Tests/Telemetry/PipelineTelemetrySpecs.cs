using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using KruxOS.Actors.Telemetry;
using KruxOS.Core.Telemetry;
using Xunit;

namespace KruxOS.Actors.Tests.Telemetry;

/// <summary>
/// The pipeline's instruments: free when nobody listens (the hot path of every call goes through them), and labelled
/// exactly as documented when someone does. Both specs are in one class so they never run at the same time.
/// </summary>
public sealed class PipelineTelemetrySpecs
{
    [Fact]
    public void Should_allocate_nothing_per_call_when_nobody_listens()
    {
        // arrange: warm (JIT, static constructors)
        var t0 = Stopwatch.GetTimestamp();
        Simulate(t0);
        Assert.False(PipelineTelemetry.Calls.Enabled, "a listener is attached in this process; the spec measures the path without one");

        // act
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++) Simulate(t0);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // assert
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Should_record_counts_and_durations_with_the_catalogue_name_tier_outcome_and_a_bounded_error_code()
    {
        // arrange: a listener of the KruxOS meter, keeping this spec's measurements (other specs' runs share the meter)
        const string capability = "telemetry-spec.op";
        var seen = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, string?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TelemetryNames.Source) l.EnableMeasurementEvents(instrument);
        };
        void Keep(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var map = new Dictionary<string, string?>();
            foreach (var t in tags) map[t.Key] = t.Value as string;
            if (map.GetValueOrDefault(TelemetryNames.Capability) == capability) seen.Enqueue((instrument.Name, value, map));
        }
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Keep(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Keep(i, v, tags));
        listener.Start();
        var start = Stopwatch.GetTimestamp();
        var end = start + Stopwatch.Frequency / 100; // 10 ms

        // act
        PipelineTelemetry.RecordStage(TelemetryNames.StageExecute, capability, "notify", start, end);
        PipelineTelemetry.RecordCall(capability, "notify", "error", "Timeout", start, end);
        PipelineTelemetry.RecordCall(capability, "notify", "error", "not a code\n", start, end);

        // assert
        var stage = Assert.Single(seen, m => m.Instrument == TelemetryNames.StageDuration);
        Assert.Equal(0.01, stage.Value, 6);
        Assert.Equal("execute", stage.Tags[TelemetryNames.Stage]);
        Assert.Equal("notify", stage.Tags[TelemetryNames.Tier]);
        Assert.Equal(2, seen.Count(m => m.Instrument == TelemetryNames.Calls && m.Value == 1 && m.Tags[TelemetryNames.Outcome] == "error"));
        Assert.Equal(2, seen.Count(m => m.Instrument == TelemetryNames.CallDuration));
        var codes = seen.Where(m => m.Instrument == TelemetryNames.CallErrors).Select(m => m.Tags[TelemetryNames.ErrorCode]).ToList();
        Assert.Equal(["Timeout", "other"], codes);
    }

    [Fact]
    public void Should_lose_the_measurement_not_the_call_when_a_listener_throws()
    {
        // arrange: an in-process listener whose callback throws on this spec's capability
        const string capability = "telemetry-spec.throwing";
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TelemetryNames.Source) l.EnableMeasurementEvents(instrument);
        };
        void Throw(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var t in tags)
                if (t.Value as string == capability) throw new InvalidOperationException("listener bug");
        }
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) => Throw(tags));
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) => Throw(tags));
        listener.Start();
        var t0 = Stopwatch.GetTimestamp();

        // act: the pipeline records as a run does (the audit writer's commit is recorded the same way)
        var escaped = Record.Exception(() =>
        {
            PipelineTelemetry.RecordStage(TelemetryNames.StageAudit, capability, "autonomous", t0, t0 + 1);
            PipelineTelemetry.RecordCall(capability, "autonomous", "success", null, t0, t0 + 1);
        });

        // assert: nothing escaped to the caller
        Assert.Null(escaped);
    }

    // What one call does to the instruments: four stages, its answer with an error code, its spans.
    private static void Simulate(long t0)
    {
        var now = Stopwatch.GetTimestamp();
        PipelineTelemetry.RecordStage(TelemetryNames.StageDecide, "system.time", "autonomous", t0, now);
        PipelineTelemetry.RecordStage(TelemetryNames.StageHold, "system.time", "autonomous", t0, now);
        PipelineTelemetry.RecordStage(TelemetryNames.StageExecute, "system.time", "autonomous", t0, now);
        PipelineTelemetry.RecordStage(TelemetryNames.StageAudit, "system.time", "autonomous", t0, now);
        PipelineTelemetry.RecordCall("system.time", "autonomous", "error", "CapabilityNotFound", t0, now);
        var clock = SpanClock.Now();
        var span = PipelineTelemetry.StartSpan(TelemetryNames.CallSpan, default, t0, clock);
        PipelineTelemetry.EndSpan(span, now, clock);
        PipelineTelemetry.RecordAuditCommit(ok: true, 4, t0, now);
    }
}
