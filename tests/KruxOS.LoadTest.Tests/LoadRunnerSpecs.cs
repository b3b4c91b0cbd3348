using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class LoadRunnerSpecs
{
    [Fact]
    public async Task Should_stop_at_max_requests_when_the_count_bound_comes_before_the_deadline()
    {
        // arrange: a long deadline, so only the count can end the run
        long calls = 0;
        Task<CallOutcome> Op(long worker, CancellationToken ct)
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult(CallOutcome.Ok);
        }
        // act
        var run = await ClosedLoopRunner.RunAsync(4, TimeSpan.Zero, TimeSpan.FromMinutes(5), 250, Op, TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(250, run.Successes);
        Assert.Equal(250, Interlocked.Read(ref calls));
        Assert.Equal(250, run.Latency.Count);
        Assert.Contains(run.Notes, n => n.Contains("--max-requests", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_tally_failures_by_kind_when_operations_fail()
    {
        // arrange: every third call is a tool error, every fifth an exception inside the operation
        Task<CallOutcome> Op(long worker, CancellationToken ct)
        {
            var n = Interlocked.Increment(ref _counter);
            if (n % 5 == 0) throw new IOException("socket reset");
            return Task.FromResult(n % 3 == 0 ? new CallOutcome(OutcomeKind.ToolError, "InvalidTimezone") : CallOutcome.Ok);
        }
        // act
        var run = await ClosedLoopRunner.RunAsync(1, TimeSpan.Zero, TimeSpan.FromMinutes(5), 30, Op, TestContext.Current.CancellationToken);
        // assert: of 1..30, multiples of 5 throw (6), other multiples of 3 are tool errors (3, 6, 9, 12, 18, 21, 24, 27 → 8)
        Assert.Equal(6, run.Errors["transport_error[IOException]"]);
        Assert.Equal(8, run.Errors["tool_error[InvalidTimezone]"]);
        Assert.Equal(16, run.Successes);
        Assert.Equal(14, run.Failures);
    }

    private long _counter;
}
