using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Report;

/// <summary>Where and how a run was made.</summary>
public sealed record MachineInfo(int ProcessorCount, string Os, string Runtime, long TotalMemoryBytes)
{
    /// <summary>This machine.</summary>
    public static MachineInfo Current() => new(
        Environment.ProcessorCount,
        System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
}

/// <summary>The JSON report of one driver invocation.</summary>
public sealed record RunReport
{
    /// <summary>Schema version of this report.</summary>
    public int SchemaVersion { get; init; } = 1;

    /// <summary>When the run ended (UTC).</summary>
    public required DateTimeOffset GeneratedAt { get; init; }

    /// <summary>Where it ran.</summary>
    public required MachineInfo Machine { get; init; }

    /// <summary>True for a smoke run (figures not meaningful).</summary>
    public bool Smoke { get; init; }

    /// <summary>The bounds and settings used.</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }

    /// <summary>Every scenario × target result.</summary>
    public required IReadOnlyList<ScenarioResult> Results { get; init; }

    /// <summary>Gateway/floor ratios per comparable scenario.</summary>
    public required IReadOnlyList<Ratio> Ratios { get; init; }

    /// <summary>Scenario runs that failed in the driver, with the reason.</summary>
    public required IReadOnlyList<string> DriverFailures { get; init; }

    /// <summary>The JSON options of the report: snake_case, indented, nulls omitted.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The report as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>The plain-text tables printed on the console.</summary>
    public string ToTable()
    {
        var sb = new StringBuilder();
        var rows = new List<string[]>
        {
            new[] { "scenario", "target", "load", "conc/rate", "ok", "errors", "late", "dropped", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs" },
        };
        foreach (var r in Results)
        {
            rows.Add(
            [
                r.Scenario, r.Target, r.LoadModel,
                r.RatePerSecond is { } rate ? $"{F(rate)}/s" : r.Concurrency.ToString(CultureInfo.InvariantCulture),
                N(r.Successes), N(r.Failures), N(r.Late), N(r.Dropped), F(r.ThroughputPerSecond),
                N(r.Latency.P50Us), N(r.Latency.P90Us), N(r.Latency.P99Us), N(r.Latency.P999Us), N(r.Latency.MaxUs),
            ]);
        }
        AppendTable(sb, rows);

        if (Ratios.Count > 0)
        {
            sb.AppendLine().AppendLine("gateway / floor (same run):");
            var ratioRows = new List<string[]> { new[] { "scenario", "ops/s", "p50", "p99", "bytes/session" } };
            foreach (var q in Ratios)
                ratioRows.Add([q.Scenario, R(q.Throughput), R(q.P50), R(q.P99), R(q.BytesPerSession)]);
            AppendTable(sb, ratioRows);
        }

        foreach (var r in Results.Where(r => r.ServiceLatency is not null))
        {
            var s = r.ServiceLatency!;
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Scenario} {r.Target}: service time from the actual send: p50 {N(s.P50Us)} µs, p90 {N(s.P90Us)} µs, p99 {N(s.P99Us)} µs, max {N(s.MaxUs)} µs");
        }
        foreach (var r in Results)
        {
            foreach (var (name, s) in r.ExtraLatencies)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"{r.Scenario} {r.Target}: {name.Replace('_', ' ')}: p50 {N(s.P50Us)} µs, p90 {N(s.P90Us)} µs, p99 {N(s.P99Us)} µs, max {N(s.MaxUs)} µs ({N(s.Count)} samples)");
        }
        foreach (var r in Results.Where(r => r.Metrics.ContainsKey("server_cpu_seconds")))
        {
            r.Metrics.TryGetValue("driver_cpu_seconds", out var driver);
            var measured = r.Metrics.TryGetValue("server_cpu_us_per_op_measured", out var sm) && r.Metrics.TryGetValue("driver_cpu_us_per_op_measured", out var dm)
                ? $"; measured phase: server {sm:0.0} µs and driver {dm:0.0} µs of CPU per operation, server {r.Metrics.GetValueOrDefault("server_cores_measured"):0.00} cores busy, {r.Metrics.GetValueOrDefault("server_context_switches_per_op_measured"):0.00} server context switches per operation"
                : "";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Scenario} {r.Target}: whole run (set-up and warm-up included): server CPU {r.Metrics["server_cpu_seconds"]:0.00} s, driver CPU {driver:0.00} s{measured}");
        }
        foreach (var r in Results.Where(r => r.Metrics.ContainsKey("bytes_per_session") || r.Metrics.ContainsKey("sessions_held")))
        {
            r.Metrics.TryGetValue("sessions_held", out var held);
            r.Metrics.TryGetValue("rss_before_bytes", out var before);
            r.Metrics.TryGetValue("rss_after_bytes", out var after);
            r.Metrics.TryGetValue("bytes_per_session", out var per);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Scenario} {r.Target}: {held:0} sessions held; VmRSS {before / 1048576:0.0} MiB -> {after / 1048576:0.0} MiB; {per / 1024:0.0} KiB per session");
        }
        foreach (var r in Results)
        {
            foreach (var (kind, count) in r.Errors)
                sb.AppendLine(CultureInfo.InvariantCulture, $"{r.Scenario} {r.Target}: {count} x {kind}");
            foreach (var note in r.Notes)
                sb.AppendLine(CultureInfo.InvariantCulture, $"{r.Scenario} {r.Target}: {note}");
        }
        foreach (var f in DriverFailures) sb.AppendLine(CultureInfo.InvariantCulture, $"DRIVER FAILURE: {f}");
        return sb.ToString();
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
    private static string F(double v) => v.ToString("N1", CultureInfo.InvariantCulture);
    private static string R(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "-";

    private static void AppendTable(StringBuilder sb, List<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        for (var i = 0; i < rows.Count; i++)
        {
            // Text columns left-aligned (the first three), figures right-aligned.
            sb.AppendLine(string.Join("  ", rows[i].Select((cell, c) => c < 3 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd());
            if (i == 0) sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        }
    }
}
