using KruxOS.LoadTest.Load;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class OpenLoopScheduleSpecs
{
    private static List<Arrival> Drain(OpenLoopSchedule s, TimeSpan elapsed)
    {
        var list = new List<Arrival>();
        while (s.TryNext(elapsed, out var a)) list.Add(a);
        return list;
    }

    [Fact]
    public void Should_release_arrivals_at_the_fixed_rate_when_time_advances()
    {
        // arrange: 100/s → one arrival every 10 ms, the first at 0
        var s = new OpenLoopSchedule(100, maxOutstanding: 1000, lateThreshold: TimeSpan.FromMilliseconds(5));
        // act
        var atZero = Drain(s, TimeSpan.Zero);
        var atZeroAgain = Drain(s, TimeSpan.Zero);
        var at95 = Drain(s, TimeSpan.FromMilliseconds(95));
        // assert
        Assert.Equal([0L], atZero.Select(a => a.Index));
        Assert.Empty(atZeroAgain);
        Assert.Equal(Enumerable.Range(1, 9).Select(i => (long)i), at95.Select(a => a.Index));
        Assert.Equal(TimeSpan.FromMilliseconds(90), at95[^1].ScheduledAt);
        Assert.Equal(10, s.Issued);
        Assert.Equal(10, s.Scheduled);
        Assert.Equal(0, s.Dropped);
    }

    [Fact]
    public void Should_count_arrivals_late_when_admitted_beyond_the_threshold()
    {
        // arrange
        var s = new OpenLoopSchedule(100, maxOutstanding: 1000, lateThreshold: TimeSpan.FromMilliseconds(5));
        // act: at 95 ms, arrivals due at 0..80 ms are more than 5 ms late; the one due at 90 ms is exactly 5 ms late
        var arrivals = Drain(s, TimeSpan.FromMilliseconds(95));
        // assert
        Assert.Equal(9, s.Late);
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (long)i), arrivals.Where(a => a.Late).Select(a => a.Index));
        Assert.False(arrivals[^1].Late);
    }

    [Fact]
    public void Should_drop_arrivals_when_the_in_flight_bound_is_reached()
    {
        // arrange
        var s = new OpenLoopSchedule(100, maxOutstanding: 2, lateThreshold: TimeSpan.FromMilliseconds(5));
        // act: 101 arrivals are due by 1 s (0, 10 ms, …, 1000 ms) and none completes
        var admitted = Drain(s, TimeSpan.FromSeconds(1));
        // assert
        Assert.Equal(2, admitted.Count);
        Assert.Equal(101, s.Scheduled);
        Assert.Equal(2, s.Issued);
        Assert.Equal(99, s.Dropped);
        Assert.Equal(2, s.Outstanding);
    }

    [Fact]
    public void Should_admit_again_when_in_flight_requests_complete()
    {
        // arrange
        var s = new OpenLoopSchedule(100, maxOutstanding: 1, lateThreshold: TimeSpan.FromMilliseconds(5));
        Drain(s, TimeSpan.Zero);
        // act
        s.Complete();
        var next = Drain(s, TimeSpan.FromMilliseconds(10));
        // assert
        Assert.Single(next);
        Assert.Equal(1, next[0].Index);
        Assert.Equal(2, s.Issued);
        Assert.Equal(0, s.Dropped);
        Assert.Equal(1, s.Outstanding);
    }

    [Fact]
    public void Should_throw_when_completions_outnumber_admissions()
    {
        // arrange
        var s = new OpenLoopSchedule(10, maxOutstanding: 4, lateThreshold: TimeSpan.Zero);
        Drain(s, TimeSpan.Zero);
        s.Complete();
        // act / assert
        Assert.Throws<InvalidOperationException>(s.Complete);
        Assert.Equal(0, s.Outstanding);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Should_refuse_a_rate_when_it_is_not_positive_and_finite(double rate) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpenLoopSchedule(rate, 1, TimeSpan.Zero));
}
