using System.Globalization;

namespace KruxOS.LoadTest.Cli;

/// <summary>
/// Everything a run is configured with. Every run is bounded twice: by time (<see cref="Warmup"/> +
/// <see cref="Duration"/> per scenario and target) and by count (<see cref="MaxRequests"/> measured
/// operations per scenario and target).
/// </summary>
public sealed record DriverOptions
{
    /// <summary>Scenario names to run, in order; empty means all registered scenarios.</summary>
    public IReadOnlyList<string> Scenarios { get; init; } = [];

    /// <summary>Which servers to run against: <c>floor</c>, <c>gateway</c>, or both (default).</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["floor", "gateway"];

    /// <summary>Loopback address the servers listen on and the driver connects to (default 127.0.0.1).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Measured phase length per scenario and target (default 10 s).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Warm-up before the measured phase, excluded from the statistics (default 3 s).</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Upper bound on measured operations per scenario and target (default 2,000,000).</summary>
    public long MaxRequests { get; init; } = 2_000_000;

    /// <summary>Concurrent sessions for closed-loop scenarios and the open-loop session pool (default 16).</summary>
    public int Concurrency { get; init; } = 16;

    /// <summary>Fixed arrival rate for <c>open-loop-ws</c> in calls/s; null means half the closed-loop maximum.</summary>
    public double? Rate { get; init; }

    /// <summary>Open-loop bound on requests in flight; arrivals beyond it are dropped and counted (default 256).</summary>
    public int MaxOutstanding { get; init; } = 256;

    /// <summary>An open-loop arrival sent later than this after its scheduled time counts as late (default 5 ms).</summary>
    public TimeSpan LateThreshold { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>New sessions per second in <c>session-churn</c> (default 50).</summary>
    public double ChurnRate { get; init; } = 50;

    /// <summary>Idle WebSocket sessions held by <c>idle-sessions</c> (default 1,000; up to 10,000 and beyond with a raised file limit).</summary>
    public int IdleSessions { get; init; } = 1000;

    /// <summary>Per-call timeout; a call that exceeds it counts as a timeout error (default 10 s).</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where to write the JSON report; null writes none.</summary>
    public string? ReportPath { get; init; }

    /// <summary>Smoke mode: every scenario for about a second with tiny counts, to check the driver works.</summary>
    public bool Smoke { get; init; }

    /// <summary>Path to <c>kruxos-gateway.dll</c>; null finds it in the repository's build output.</summary>
    public string? GatewayDll { get; init; }

    /// <summary>Path to <c>KruxOS.RawFloor.dll</c>; null finds it in the repository's build output.</summary>
    public string? FloorDll { get; init; }

    /// <summary>Smoke-mode bounds: about a second per scenario and target, tiny counts.</summary>
    public DriverOptions AsSmoke() => this with
    {
        Smoke = true,
        Duration = TimeSpan.FromSeconds(1),
        Warmup = TimeSpan.FromMilliseconds(300),
        MaxRequests = 2_000,
        Concurrency = 2,
        Rate = 50,
        MaxOutstanding = 16,
        ChurnRate = 5,
        IdleSessions = 10,
        CallTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage: dotnet benchmarks/KruxOS.LoadTest/bin/Release/net10.0/KruxOS.LoadTest.dll [options]
          --scenario <a,b,...>     scenarios to run (default: all); --list shows them
          --targets <floor,gateway> servers to measure (default: both; ratios need both)
          --duration <t>           measured phase per scenario and target (default 10s)
          --warmup <t>             excluded warm-up (default 3s)
          --max-requests <n>       cap on measured operations per scenario and target (default 2000000)
          --concurrency <n>        closed-loop sessions (default 16)
          --rate <n>               open-loop-ws arrivals/s (default: half the closed-loop maximum)
          --max-outstanding <n>    open-loop in-flight bound; excess arrivals are dropped (default 256)
          --churn-rate <n>         session-churn sessions/s (default 50)
          --idle-sessions <n>      idle-sessions count (default 1000)
          --call-timeout <t>       per-call timeout (default 10s)
          --host <loopback>        127.0.0.1 (default), ::1 or localhost; anything else is refused
          --report <path>          write the JSON report there
          --smoke                  ~1 s per scenario, tiny counts; exit 0 when the driver worked
          --gateway-dll <path>     kruxos-gateway.dll (default: this repository's build output)
          --floor-dll <path>       KruxOS.RawFloor.dll (default: this repository's build output)
        times: 10, 10s, 500ms, 2m
        """;

    /// <summary>Parses command-line arguments; throws <see cref="ArgumentException"/> with a readable message.</summary>
    public static DriverOptions Parse(IReadOnlyList<string> args)
    {
        var o = new DriverOptions();
        var smoke = false;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value");
            o = a switch
            {
                "--scenario" or "--scenarios" => o with { Scenarios = SplitList(Next()) },
                "--targets" or "--target" => o with { Targets = SplitList(Next()) },
                "--host" => o with { Host = LoopbackGuard.RequireHost(Next()) },
                "--duration" => o with { Duration = ParseTime(Next(), a) },
                "--warmup" => o with { Warmup = ParseTime(Next(), a) },
                "--max-requests" => o with { MaxRequests = ParsePositiveLong(Next(), a) },
                "--concurrency" => o with { Concurrency = (int)ParsePositiveLong(Next(), a) },
                "--rate" => o with { Rate = ParsePositiveDouble(Next(), a) },
                "--max-outstanding" => o with { MaxOutstanding = (int)ParsePositiveLong(Next(), a) },
                "--churn-rate" => o with { ChurnRate = ParsePositiveDouble(Next(), a) },
                "--idle-sessions" => o with { IdleSessions = (int)ParsePositiveLong(Next(), a) },
                "--call-timeout" => o with { CallTimeout = ParseTime(Next(), a) },
                "--report" => o with { ReportPath = Next() },
                "--gateway-dll" => o with { GatewayDll = Next() },
                "--floor-dll" => o with { FloorDll = Next() },
                "--smoke" => Flag(o, ref smoke),
                _ => throw new ArgumentException($"unknown option '{a}'"),
            };
        }
        foreach (var t in o.Targets)
            if (t is not ("floor" or "gateway")) throw new ArgumentException($"unknown target '{t}' (floor, gateway)");
        if (o.Duration <= TimeSpan.Zero) throw new ArgumentException("--duration must be positive");
        if (smoke)
        {
            // Smoke keeps the scenario, target, host and path choices but forces tiny bounds.
            o = o.AsSmoke();
        }
        return o;
    }

    private static DriverOptions Flag(DriverOptions o, ref bool flag)
    {
        flag = true;
        return o;
    }

    private static string[] SplitList(string v) =>
        v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Parses <c>10</c>, <c>10s</c>, <c>500ms</c>, <c>2m</c>.</summary>
    public static TimeSpan ParseTime(string v, string option)
    {
        var s = v.Trim().ToLowerInvariant();
        double scale = 1;
        if (s.EndsWith("ms", StringComparison.Ordinal)) { scale = 0.001; s = s[..^2]; }
        else if (s.EndsWith('s')) s = s[..^1];
        else if (s.EndsWith('m')) { scale = 60; s = s[..^1]; }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || double.IsInfinity(n))
            throw new ArgumentException($"{option}: '{v}' is not a time (10, 10s, 500ms, 2m)");
        return TimeSpan.FromSeconds(n * scale);
    }

    private static long ParsePositiveLong(string v, string option) =>
        long.TryParse(v.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{option}: '{v}' is not a positive integer");

    private static double ParsePositiveDouble(string v, string option) =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0 && !double.IsInfinity(n)
            ? n
            : throw new ArgumentException($"{option}: '{v}' is not a positive number");
}
