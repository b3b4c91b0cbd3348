using HdrHistogram;

namespace KruxOS.LoadTest.Stats;

/// <summary>Percentiles of one histogram, in microseconds.</summary>
public sealed record LatencySummary(long Count, double MeanUs, long P50Us, long P90Us, long P99Us, long P999Us, long MaxUs)
{
    /// <summary>No samples.</summary>
    public static readonly LatencySummary Empty = new(0, 0, 0, 0, 0, 0, 0);

    /// <summary>Summarises a histogram whose values are microseconds.</summary>
    public static LatencySummary From(HistogramBase histogram)
    {
        if (histogram.TotalCount == 0) return Empty;
        return new LatencySummary(
            histogram.TotalCount,
            Math.Round(histogram.GetMean(), 1),
            histogram.GetValueAtPercentile(50),
            histogram.GetValueAtPercentile(90),
            histogram.GetValueAtPercentile(99),
            histogram.GetValueAtPercentile(99.9),
            histogram.GetMaxValue());
    }
}
