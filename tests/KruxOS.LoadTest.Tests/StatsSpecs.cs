using HdrHistogram;
using KruxOS.LoadTest.Stats;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class StatsSpecs
{
    [Fact]
    public void Should_report_percentiles_in_microseconds_when_histogram_has_samples()
    {
        // arrange
        var h = new LongHistogram(LatencyRecorder.MaxTrackableUs, 3);
        for (var v = 1; v <= 1000; v++) h.RecordValue(v);
        // act
        var s = LatencySummary.From(h);
        // assert
        Assert.Equal(1000, s.Count);
        Assert.Equal(500, s.P50Us);
        Assert.Equal(900, s.P90Us);
        Assert.Equal(990, s.P99Us);
        Assert.Equal(999, s.P999Us);
        Assert.Equal(1000, s.MaxUs);
        Assert.Equal(500.5, s.MeanUs, 0.5);
    }

    [Fact]
    public void Should_return_empty_summary_when_nothing_was_recorded()
    {
        // act
        var s = new LatencyRecorder().Summarize();
        // assert
        Assert.Equal(LatencySummary.Empty, s);
    }

    [Fact]
    public void Should_clamp_out_of_range_latencies_when_recording()
    {
        // arrange
        var r = new LatencyRecorder();
        // act
        r.RecordMicros(0);
        r.RecordMicros(-5);
        r.RecordMicros(long.MaxValue);
        var s = r.Summarize();
        // assert
        Assert.Equal(3, s.Count);
        Assert.Equal(1, s.P50Us);
        Assert.True(s.MaxUs >= LatencyRecorder.MaxTrackableUs, $"max {s.MaxUs}");
    }

    [Fact]
    public void Should_count_failures_by_kind_and_detail_when_tallying()
    {
        // arrange
        var t = new ErrorTally();
        // act
        t.Record(CallOutcome.Ok);
        t.Record(new CallOutcome(OutcomeKind.ToolError, "InvalidTimezone"));
        t.Record(new CallOutcome(OutcomeKind.ToolError, "InvalidTimezone"));
        t.Record(new CallOutcome(OutcomeKind.JsonRpcError, "-32600"));
        t.Record(CallOutcome.TimedOut());
        t.Record(CallOutcome.Transport("http_503"));
        // assert
        Assert.Equal(5, t.Total);
        Assert.Equal(
            new Dictionary<string, long>
            {
                ["jsonrpc_error[-32600]"] = 1,
                ["timeout"] = 1,
                ["tool_error[InvalidTimezone]"] = 2,
                ["transport_error[http_503]"] = 1,
            },
            t.Snapshot());
    }
}
