namespace KruxOS.LoadTest.Stats;

/// <summary>What one scenario measured against one target.</summary>
public sealed record ScenarioResult
{
    /// <summary>The scenario's registered name.</summary>
    public required string Scenario { get; init; }

    /// <summary><c>floor</c> or <c>gateway</c>.</summary>
    public required string Target { get; init; }

    /// <summary><c>websocket</c> or <c>streamable-http</c>.</summary>
    public required string Transport { get; init; }

    /// <summary><c>closed</c> (N sessions as fast as they go), <c>open</c> (fixed arrival rate) or <c>hold</c>.</summary>
    public required string LoadModel { get; init; }

    /// <summary>What one operation is, e.g. <c>tools/call system__time</c>.</summary>
    public required string Operation { get; init; }

    /// <summary>Concurrent sessions (closed loop) or the session pool (open loop).</summary>
    public int Concurrency { get; init; }

    /// <summary>Target arrival rate per second (open loop only).</summary>
    public double? RatePerSecond { get; init; }

    /// <summary>Length of the measured phase in seconds (warm-up excluded).</summary>
    public double MeasuredSeconds { get; init; }

    /// <summary>Successful measured operations.</summary>
    public long Successes { get; init; }

    /// <summary>Failed measured operations.</summary>
    public long Failures { get; init; }

    /// <summary>Successful operations per second of the measured phase.</summary>
    public double ThroughputPerSecond { get; init; }

    /// <summary>Latency of successful operations.</summary>
    public LatencySummary Latency { get; init; } = LatencySummary.Empty;

    /// <summary>Open loop: latency of successful operations from the actual send (the main figure counts from the scheduled time).</summary>
    public LatencySummary? ServiceLatency { get; init; }

    /// <summary>Further latencies of successful operations, by snake_case name (e.g. the approval scenario's <c>accept_returned_to_result</c>).</summary>
    public IReadOnlyDictionary<string, LatencySummary> ExtraLatencies { get; init; } = new SortedDictionary<string, LatencySummary>(StringComparer.Ordinal);

    /// <summary>Failures by kind.</summary>
    public IReadOnlyDictionary<string, long> Errors { get; init; } = new SortedDictionary<string, long>();

    /// <summary>Open loop: arrivals sent later than the late threshold after their scheduled time.</summary>
    public long Late { get; init; }

    /// <summary>Open loop: arrivals not sent because the in-flight bound was reached.</summary>
    public long Dropped { get; init; }

    /// <summary>Scenario-specific figures (memory, derived rates), by snake_case name.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new SortedDictionary<string, double>();

    /// <summary>The measured phase as timestamps of the driver process (not reported: the driver reads CPU over it).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Load.MeasuredWindow? Window { get; init; }

    /// <summary>Free-text remarks (e.g. where a rate came from, or a bound that stopped the run early).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The result of a closed-loop run (N sessions calling back to back).</summary>
    public static ScenarioResult ClosedLoop(string scenario, string target, string transport, string operation, int concurrency,
        Load.LoadRunResult run) => FromRun(scenario, target, transport, "closed", operation, concurrency, run);

    /// <summary>The result of a run of <paramref name="loadModel"/> (closed, sequential …) from its measured figures.</summary>
    public static ScenarioResult FromRun(string scenario, string target, string transport, string loadModel, string operation, int concurrency,
        Load.LoadRunResult run) => new()
    {
        Scenario = scenario,
        Target = target,
        Transport = transport,
        LoadModel = loadModel,
        Operation = operation,
        Concurrency = concurrency,
        MeasuredSeconds = Math.Round(run.MeasuredSeconds, 3),
        Window = run.Window,
        Successes = run.Successes,
        Failures = run.Failures,
        ThroughputPerSecond = Math.Round(run.Throughput, 1),
        Latency = run.Latency,
        Errors = run.Errors,
        Notes = run.Notes,
    };
}
