using System.Diagnostics;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Targets;
using Xunit;

namespace KruxOS.LoadTest.Tests;

/// <summary>The driver reads CPU over exactly a scenario's measured phase, from samples taken while it ran.</summary>
public sealed class CpuSamplerSpecs
{
    [Fact]
    public async Task Should_read_the_cpu_spent_inside_a_window_and_nothing_outside_the_samples()
    {
        // arrange: sample this process while it idles, then spins until it has used 400 ms of CPU (however long
        // that takes on a busy machine), then idles again
        await using var sampler = CpuSampler.Start(Environment.ProcessId);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var busyStart = Stopwatch.GetTimestamp();
        var cpuAtStart = Environment.CpuUsage.TotalTime;
        while (Environment.CpuUsage.TotalTime - cpuAtStart < TimeSpan.FromMilliseconds(400)) { }
        var busyEnd = Stopwatch.GetTimestamp();
        await Task.Delay(200, TestContext.Current.CancellationToken);

        // act
        var busy = sampler.Over(new MeasuredWindow(busyStart, busyEnd));
        var beforeSampling = sampler.Over(new MeasuredWindow(busyStart - Stopwatch.Frequency * 60, busyEnd));

        // assert: the spin shows in both readings (the server here is this process too); /proc counts in 10 ms ticks
        Assert.NotNull(busy);
        Assert.InRange(busy.Value.Server, 0.25, 1.0);
        Assert.InRange(busy.Value.Driver, 0.25, 1.0);
        Assert.Null(beforeSampling);
    }
}
