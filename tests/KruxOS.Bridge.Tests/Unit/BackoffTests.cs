namespace KruxOS.Bridge.Tests.Unit;

/// <summary>The reconnect schedule: 1 s doubling to 60 s, jitter bounds, reset.</summary>
public sealed class BackoffTests
{
    [Fact]
    public void Nominal_schedule_doubles_from_one_second_to_sixty()
    {
        var seconds = Enumerable.Range(0, 9).Select(i => Backoff.Nominal(i).TotalSeconds).ToArray();
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], seconds);
    }

    [Fact]
    public void Jitter_stays_within_twenty_percent_and_the_cap()
    {
        var b = new Backoff(new Random(7));
        for (var i = 0; i < 40; i++)
        {
            var nominal = Backoff.Nominal(Math.Min(i, 16)).TotalMilliseconds;
            var d = b.Next().TotalMilliseconds;
            Assert.InRange(d, nominal * 0.8 - 1, Math.Min(nominal * 1.2 + 1, 60_000));
        }
    }

    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    [Fact]
    public void Reset_starts_again_at_one_second()
    {
        var b = new Backoff(new FixedRandom(0.5)); // 0.5 → no jitter
        Assert.Equal(1000, b.Next().TotalMilliseconds);
        Assert.Equal(2000, b.Next().TotalMilliseconds);
        Assert.Equal(4000, b.Next().TotalMilliseconds);
        b.Reset();
        Assert.Equal(1000, b.Next().TotalMilliseconds);
    }

    [Fact]
    public void Extreme_jitter_is_clamped()
    {
        var high = new Backoff(new FixedRandom(0.999999));
        for (var i = 0; i < 10; i++) high.Next();
        Assert.Equal(60_000, high.Next().TotalMilliseconds);
        var low = new Backoff(new FixedRandom(0));
        Assert.Equal(800, low.Next().TotalMilliseconds);
    }
}
