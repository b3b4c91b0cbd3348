using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Report;

/// <summary>Gateway/floor ratios of one comparable scenario measured against both in the same run.</summary>
public sealed record Ratio(string Scenario, double? Throughput, double? P50, double? P99, double? BytesPerSession)
{
    /// <summary>Pairs gateway and floor results by scenario; scenarios missing either side get no ratio.</summary>
    public static IReadOnlyList<Ratio> Compute(IEnumerable<ScenarioResult> results, ISet<string> comparable)
    {
        var list = results.ToList();
        var ratios = new List<Ratio>();
        foreach (var scenario in list.Select(r => r.Scenario).Distinct())
        {
            if (!comparable.Contains(scenario)) continue;
            var gw = list.FirstOrDefault(r => r.Scenario == scenario && r.Target == TargetServer.Gateway);
            var fl = list.FirstOrDefault(r => r.Scenario == scenario && r.Target == TargetServer.Floor);
            if (gw is null || fl is null) continue;
            ratios.Add(new Ratio(
                scenario,
                Divide(gw.ThroughputPerSecond, fl.ThroughputPerSecond),
                Divide(gw.Latency.P50Us, fl.Latency.P50Us),
                Divide(gw.Latency.P99Us, fl.Latency.P99Us),
                gw.Metrics.TryGetValue("bytes_per_session", out var g) && fl.Metrics.TryGetValue("bytes_per_session", out var f) ? Divide(g, f) : null));
        }
        return ratios;
    }

    /// <summary><paramref name="a"/>/<paramref name="b"/> to 3 decimals, or null when either side has no data.</summary>
    public static double? Divide(double a, double b) => a > 0 && b > 0 ? Math.Round(a / b, 3) : null;
}
