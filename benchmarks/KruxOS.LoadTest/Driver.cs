using System.Globalization;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Report;
using KruxOS.LoadTest.Scenarios;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest;

/// <summary>
/// One invocation: starts the floor and the gateway (free loopback ports, temporary data directory),
/// runs each selected scenario against the floor and then the gateway, prints the tables and ratios,
/// writes the JSON report, and stops both servers whatever happens.
/// </summary>
public sealed class Driver(DriverOptions options, TextWriter log)
{
    /// <summary>Runs everything; the exit code is 0 when every scenario run worked in the driver, 1 otherwise.</summary>
    public async Task<(int ExitCode, RunReport Report)> RunAsync(CancellationToken ct)
    {
        var scenarios = ScenarioRegistry.Select(options.Scenarios);
        var fileLimit = FileLimit.RaiseToHardLimit();
        var sessionsNeeded = scenarios.Max(s => s.SessionsNeeded(options));
        if (fileLimit is { } limit && (ulong)sessionsNeeded + 512 > limit)
            log.WriteLine($"warning: open-file limit {limit} is low for {sessionsNeeded} sessions; raise it first (ulimit -n {sessionsNeeded * 2 + 1024})");

        var floorDll = options.Targets.Contains(TargetServer.Floor) ? BuildOutput.FloorDll(options.FloorDll) : null;
        var gatewayDll = options.Targets.Contains(TargetServer.Gateway) ? BuildOutput.GatewayDll(options.GatewayDll) : null;

        var results = new List<ScenarioResult>();
        var failures = new List<string>();
        var targets = new List<TargetServer>();
        try
        {
            log.WriteLine("starting servers …");
            var starting = new List<Task<TargetServer>>();
            if (floorDll is not null) starting.Add(TargetServer.StartFloorAsync(floorDll, options.Host, ct));
            if (gatewayDll is not null) starting.Add(TargetServer.StartGatewayAsync(gatewayDll, options.Host, sessionsNeeded + 64, ct));
            try
            {
                await Task.WhenAll(starting).ConfigureAwait(false);
            }
            finally
            {
                // Keep whatever did start so it is stopped below, even if the other one failed.
                targets.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }
            targets = [.. targets.OrderBy(t => t.Name == TargetServer.Floor ? 0 : 1)];
            foreach (var t in targets) log.WriteLine($"  {t.Name}: pid {t.Pid}, {t.WebSocketUri} and {t.HttpUri}");

            foreach (var scenario in scenarios)
            {
                log.WriteLine($"== {scenario.Name}: {scenario.Description}");
                foreach (var target in targets)
                {
                    ct.ThrowIfCancellationRequested();
                    if (target.Name == TargetServer.Floor && !scenario.RunsOnFloor)
                    {
                        log.WriteLine($"  {target.Name,-8} skipped: the scenario needs the gateway");
                        continue;
                    }
                    try
                    {
                        var serverCpu = ProcStatus.CpuSeconds(target.Pid);
                        var driverCpu = Environment.CpuUsage.TotalTime;
                        ScenarioResult result;
                        (double Server, double Driver, double ServerSwitches)? measuredCpu;
                        await using (var sampler = CpuSampler.Start(target.Pid))
                        {
                            result = await scenario.RunAsync(new ScenarioContext(target, options, results, log), ct).ConfigureAwait(false);
                            measuredCpu = result.Window is { } window ? sampler.Over(window) : null;
                        }
                        result = WithCpu(result, serverCpu, ProcStatus.CpuSeconds(target.Pid), (Environment.CpuUsage.TotalTime - driverCpu).TotalSeconds, measuredCpu);
                        results.Add(result);
                        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {target.Name,-8} ok {result.Successes,9:N0}  errors {result.Failures,6:N0}  {result.ThroughputPerSecond,10:N1}/s  p50 {result.Latency.P50Us,8:N0} µs  p99 {result.Latency.P99Us,8:N0} µs"));
                        if (result.Successes == 0)
                            failures.Add($"{scenario.Name} on {target.Name}: no successful operation ({string.Join(", ", result.Errors.Keys)})");
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        failures.Add($"{scenario.Name} on {target.Name}: {e.GetType().Name}: {e.Message}");
                        log.WriteLine($"  {target.Name}: FAILED: {e.GetType().Name}: {e.Message}");
                    }
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            failures.Add($"start-up: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            foreach (var t in targets) await t.DisposeAsync().ConfigureAwait(false);
        }

        var report = new RunReport
        {
            GeneratedAt = DateTimeOffset.UtcNow,
            Machine = MachineInfo.Current(),
            Smoke = options.Smoke,
            Settings = SettingsOf(options, scenarios),
            Results = results,
            Ratios = Ratio.Compute(results, scenarios.Where(s => s.Comparable).Select(s => s.Name).ToHashSet()),
            DriverFailures = failures,
        };
        log.WriteLine();
        log.Write(report.ToTable());
        if (options.ReportPath is { } path)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            await File.WriteAllTextAsync(path, report.ToJson(), CancellationToken.None).ConfigureAwait(false);
            log.WriteLine($"report written to {path}");
        }
        return (failures.Count == 0 ? 0 : 1, report);
    }

    // CPU over the whole scenario run (session set-up and warm-up included): where the 2 cores went; and over
    // the measured phase alone, per measured operation: what one operation costs each process.
    private static ScenarioResult WithCpu(ScenarioResult result, double? serverBefore, double? serverAfter, double driverSeconds,
        (double Server, double Driver, double ServerSwitches)? measured)
    {
        var metrics = new SortedDictionary<string, double>(result.Metrics.ToDictionary(), StringComparer.Ordinal)
        {
            ["driver_cpu_seconds"] = Math.Round(driverSeconds, 2),
        };
        if (serverBefore is { } b && serverAfter is { } a)
        {
            metrics["server_cpu_seconds"] = Math.Round(a - b, 2);
            if (result.Successes > 0) metrics["server_cpu_us_per_op"] = Math.Round((a - b) * 1e6 / result.Successes, 1);
        }
        if (measured is { } m && result.Successes > 0)
        {
            metrics["server_cpu_us_per_op_measured"] = Math.Round(m.Server * 1e6 / result.Successes, 1);
            metrics["driver_cpu_us_per_op_measured"] = Math.Round(m.Driver * 1e6 / result.Successes, 1);
            metrics["server_context_switches_per_op_measured"] = Math.Round(m.ServerSwitches / result.Successes, 2);
            if (result.MeasuredSeconds > 0) metrics["server_cores_measured"] = Math.Round(m.Server / result.MeasuredSeconds, 2);
        }
        return result with { Metrics = metrics };
    }

    private static SortedDictionary<string, string> SettingsOf(DriverOptions o, IReadOnlyList<IScenario> scenarios) => new(StringComparer.Ordinal)
    {
        ["scenarios"] = string.Join(",", scenarios.Select(s => s.Name)),
        ["targets"] = string.Join(",", o.Targets),
        ["host"] = o.Host,
        ["duration_s"] = o.Duration.TotalSeconds.ToString(CultureInfo.InvariantCulture),
        ["warmup_s"] = o.Warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture),
        ["max_requests"] = o.MaxRequests.ToString(CultureInfo.InvariantCulture),
        ["concurrency"] = o.Concurrency.ToString(CultureInfo.InvariantCulture),
        ["rate"] = o.Rate?.ToString(CultureInfo.InvariantCulture) ?? "half of closed-loop max",
        ["max_outstanding"] = o.MaxOutstanding.ToString(CultureInfo.InvariantCulture),
        ["late_threshold_ms"] = o.LateThreshold.TotalMilliseconds.ToString(CultureInfo.InvariantCulture),
        ["churn_rate"] = o.ChurnRate.ToString(CultureInfo.InvariantCulture),
        ["idle_sessions"] = o.IdleSessions.ToString(CultureInfo.InvariantCulture),
        ["call_timeout_s"] = o.CallTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture),
        ["driver_configuration"] = BuildOutput.Configuration,
    };
}
