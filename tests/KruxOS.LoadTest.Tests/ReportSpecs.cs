using System.Text.Json;
using KruxOS.LoadTest.Report;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class ReportSpecs
{
    private static ScenarioResult Result(string target, double throughput, long p50, long p99, double? bytesPerSession = null) => new()
    {
        Scenario = "inproc-ws",
        Target = target,
        Transport = "websocket",
        LoadModel = "closed",
        Operation = "tools/call x",
        Concurrency = 16,
        MeasuredSeconds = 10,
        Successes = (long)(throughput * 10),
        Failures = 2,
        ThroughputPerSecond = throughput,
        Latency = new LatencySummary(100, 120.5, p50, p50 * 2, p99, p99 * 2, p99 * 3),
        Errors = new SortedDictionary<string, long> { ["tool_error[InvalidTimezone]"] = 2 },
        Metrics = bytesPerSession is { } b
            ? new SortedDictionary<string, double> { ["bytes_per_session"] = b }
            : new SortedDictionary<string, double>(),
    };

    private static RunReport Report(params ScenarioResult[] results) => new()
    {
        GeneratedAt = new DateTimeOffset(2026, 11, 25, 3, 0, 0, TimeSpan.Zero),
        Machine = new MachineInfo(2, "Linux", ".NET 10", 24L << 30),
        Settings = new SortedDictionary<string, string> { ["duration_s"] = "10" },
        Results = results,
        Ratios = Ratio.Compute(results, new HashSet<string> { "inproc-ws" }),
        DriverFailures = [],
    };

    [Fact]
    public void Should_compute_gateway_over_floor_ratios_when_both_targets_ran()
    {
        // act
        var ratios = Ratio.Compute([Result(TargetServer.Floor, 10_000, 400, 2_000, 30_000), Result(TargetServer.Gateway, 7_000, 600, 5_000, 45_000)],
            new HashSet<string> { "inproc-ws" });
        // assert
        var r = Assert.Single(ratios);
        Assert.Equal(new Ratio("inproc-ws", 0.7, 1.5, 2.5, 1.5), r);
    }

    [Fact]
    public void Should_give_no_ratio_when_only_one_target_ran() =>
        Assert.Empty(Ratio.Compute([Result(TargetServer.Gateway, 7_000, 600, 5_000)], new HashSet<string> { "inproc-ws" }));

    [Fact]
    public void Should_write_snake_case_json_with_latencies_errors_and_ratios_when_serialized()
    {
        // arrange
        var report = Report(Result(TargetServer.Floor, 10_000, 400, 2_000), Result(TargetServer.Gateway, 7_000, 600, 5_000));
        // act
        using var doc = JsonDocument.Parse(report.ToJson());
        // assert
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("schema_version").GetInt32());
        Assert.Equal(2, root.GetProperty("machine").GetProperty("processor_count").GetInt32());
        Assert.Equal("10", root.GetProperty("settings").GetProperty("duration_s").GetString());
        var gateway = root.GetProperty("results")[1];
        Assert.Equal("gateway", gateway.GetProperty("target").GetString());
        Assert.Equal(7_000, gateway.GetProperty("throughput_per_second").GetDouble());
        var latency = gateway.GetProperty("latency");
        foreach (var field in new[] { "count", "mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us" })
            Assert.True(latency.TryGetProperty(field, out _), field);
        Assert.Equal(5_000, latency.GetProperty("p99_us").GetInt64());
        Assert.Equal(2, gateway.GetProperty("errors").GetProperty("tool_error[InvalidTimezone]").GetInt64());
        Assert.False(gateway.TryGetProperty("rate_per_second", out _)); // null members are omitted
        var ratio = root.GetProperty("ratios")[0];
        Assert.Equal("inproc-ws", ratio.GetProperty("scenario").GetString());
        Assert.Equal(0.7, ratio.GetProperty("throughput").GetDouble());
        Assert.Equal(0, root.GetProperty("driver_failures").GetArrayLength());
    }

    [Fact]
    public void Should_print_a_table_row_per_result_and_the_ratio_when_rendered()
    {
        // arrange
        var report = Report(Result(TargetServer.Floor, 10_000, 400, 2_000), Result(TargetServer.Gateway, 7_000, 600, 5_000));
        // act
        var rows = report.ToTable().Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        // assert
        Assert.Contains(rows, r => r is ["inproc-ws", "floor", "closed", ..] && r.Contains("10,000.0") && r.Contains("2,000"));
        Assert.Contains(rows, r => r is ["inproc-ws", "gateway", "closed", ..] && r.Contains("7,000.0") && r.Contains("5,000"));
        Assert.Contains(rows, r => r is ["inproc-ws", "0.700", "1.500", "2.500", "-"]);
    }

    [Fact]
    public void Should_print_and_serialize_extra_latencies_when_a_scenario_records_them()
    {
        // arrange
        var approval = Result(TargetServer.Gateway, 50, 40_000, 90_000) with
        {
            Scenario = "approval-roundtrip",
            ExtraLatencies = new SortedDictionary<string, LatencySummary>(StringComparer.Ordinal)
            {
                ["accept_returned_to_result"] = new(480, 900, 850, 2_100, 6_400, 9_000, 9_500),
            },
        };
        var report = Report(approval);
        // act
        var table = report.ToTable();
        using var doc = JsonDocument.Parse(report.ToJson());
        // assert
        Assert.Contains("approval-roundtrip gateway: accept returned to result: p50 850 µs, p90 2,100 µs, p99 6,400 µs, max 9,500 µs (480 samples)", table);
        var extra = doc.RootElement.GetProperty("results")[0].GetProperty("extra_latencies").GetProperty("accept_returned_to_result");
        Assert.Equal(6_400, extra.GetProperty("p99_us").GetInt64());
    }
}
