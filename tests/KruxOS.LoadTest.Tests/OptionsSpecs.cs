using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Scenarios;
using KruxOS.LoadTest.Targets;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class OptionsSpecs
{
    [Theory]
    [InlineData("10", 10_000)]
    [InlineData("10s", 10_000)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120_000)]
    [InlineData("1.5", 1_500)]
    public void Should_parse_times_when_given_with_or_without_units(string text, double ms) =>
        Assert.Equal(TimeSpan.FromMilliseconds(ms), DriverOptions.ParseTime(text, "--duration"));

    [Theory]
    [InlineData("ten")]
    [InlineData("-1")]
    [InlineData("5h")]
    public void Should_refuse_a_time_when_it_is_malformed(string text) =>
        Assert.Throws<ArgumentException>(() => DriverOptions.ParseTime(text, "--duration"));

    [Fact]
    public void Should_parse_bounds_and_lists_when_given_on_the_command_line()
    {
        // act
        var o = DriverOptions.Parse(["--scenario", "inproc-ws, idle-sessions", "--duration", "20s", "--max-requests", "1_000", "--concurrency", "32", "--idle-sessions", "10000", "--targets", "gateway"]);
        // assert
        Assert.Equal(["inproc-ws", "idle-sessions"], o.Scenarios);
        Assert.Equal(TimeSpan.FromSeconds(20), o.Duration);
        Assert.Equal(1_000, o.MaxRequests);
        Assert.Equal(32, o.Concurrency);
        Assert.Equal(10_000, o.IdleSessions);
        Assert.Equal(["gateway"], o.Targets);
    }

    [Fact]
    public void Should_force_tiny_bounds_when_smoke_is_requested_whatever_the_order()
    {
        // act
        var o = DriverOptions.Parse(["--smoke", "--duration", "60", "--idle-sessions", "10000", "--report", "r.json"]);
        // assert
        Assert.True(o.Smoke);
        Assert.Equal(TimeSpan.FromSeconds(1), o.Duration);
        Assert.Equal(10, o.IdleSessions);
        Assert.Equal("r.json", o.ReportPath);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--duration")]
    [InlineData("--concurrency", "0")]
    [InlineData("--targets", "prod")]
    public void Should_refuse_the_command_line_when_it_is_invalid(params string[] args) =>
        Assert.Throws<ArgumentException>(() => DriverOptions.Parse(args));

    [Fact]
    public void Should_refuse_unknown_scenarios_when_selecting() =>
        Assert.Throws<ArgumentException>(() => ScenarioRegistry.Select(["inproc-ws", "approval-round-trip"]));

    [Fact]
    public void Should_select_in_registry_order_when_names_are_given_out_of_order() =>
        Assert.Equal(["inproc-ws", "idle-sessions"], ScenarioRegistry.Select(["idle-sessions", "inproc-ws"]).Select(s => s.Name));

    [Fact]
    public void Should_read_vmrss_in_bytes_when_the_status_file_uses_tabs() =>
        Assert.Equal(123_456L * 1024, ProcStatus.ParseVmRss("Name:\tdotnet\nVmPeak:\t  999 kB\nVmRSS:\t  123456 kB\nThreads:\t20\n"));

    [Fact]
    public void Should_redact_tokens_when_keeping_child_output() =>
        Assert.Equal("Token (shown once; it is stored only as a hash): <redacted>",
            ChildProcess.Redact("Token (shown once; it is stored only as a hash): " + new string('a', 32) + new string('7', 32)));
}

public sealed class ProcStatSpecs
{
    [Fact]
    public void Should_sum_utime_and_stime_when_the_command_name_has_spaces_and_parentheses()
    {
        // arrange: fields 14 (utime) = 250 and 15 (stime) = 50 ticks
        var stat = "4242 (dotnet (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 30 0 12345 1000000 2000 18446744073709551615";
        // act / assert
        Assert.Equal(3.0, ProcStatus.ParseCpuSeconds(stat));
    }

    [Theory]
    [InlineData("")]
    [InlineData("4242 dotnet S 1")]
    [InlineData("4242 (dotnet) S 1 2 3")]
    public void Should_return_null_when_the_stat_line_is_unusable(string stat) =>
        Assert.Null(ProcStatus.ParseCpuSeconds(stat));

    [Fact]
    public void Should_sum_voluntary_and_involuntary_context_switches_of_a_thread()
    {
        // arrange
        var status = "Name:\tdotnet\nThreads:\t20\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n";
        // act / assert
        Assert.Equal(1234, ProcStatus.ParseContextSwitches(status));
        Assert.Equal(0, ProcStatus.ParseContextSwitches("Name:\tdotnet\n"));
    }

    [Fact]
    public void Should_read_the_context_switches_of_this_process_threads()
    {
        // act
        var tally = new ContextSwitchTally();
        var first = ProcStatus.ThreadContextSwitches(Environment.ProcessId);
        Assert.NotNull(first);
        tally.Add(first);
        Thread.Sleep(20); // a sleep is a voluntary switch of this thread
        var second = ProcStatus.ThreadContextSwitches(Environment.ProcessId);

        // assert
        Assert.NotNull(second);
        Assert.Contains(Environment.ProcessId, second.Keys); // the main thread's id is the process id
        Assert.True(tally.Add(second) > first.Values.Sum(), "the sleep was not counted");
    }

    [Fact]
    public void Should_keep_the_switches_of_a_thread_that_ended()
    {
        // arrange: two threads, then thread 2 ends and thread 3 starts
        var tally = new ContextSwitchTally();
        tally.Add(new Dictionary<int, long> { [1] = 100, [2] = 500 });

        // act
        var total = tally.Add(new Dictionary<int, long> { [1] = 110, [3] = 5 });

        // assert: 600 + 10 (thread 1) + 5 (thread 3); thread 2's 500 stay counted
        Assert.Equal(615, total);
    }

    [Fact]
    public void Should_count_a_reused_thread_id_from_zero()
    {
        // arrange
        var tally = new ContextSwitchTally();
        tally.Add(new Dictionary<int, long> { [7] = 900 });

        // act: the id now belongs to a new thread with a smaller count
        var total = tally.Add(new Dictionary<int, long> { [7] = 40 });

        // assert
        Assert.Equal(940, total);
    }
}
