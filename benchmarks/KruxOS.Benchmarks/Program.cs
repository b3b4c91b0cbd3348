using BenchmarkDotNet.Running;
using KruxOS.Benchmarks.Sandbox;

// `latency` prints p50/p99 tables of sandboxed against direct operations; anything else goes to
// BenchmarkDotNet's switcher, e.g. --filter '*PolicyDecision*' --job short.
if (args.Length > 0 && args[0] == "latency" && OperatingSystem.IsLinux())
{
    var iterations = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2000;
    await SandboxLatency.RunAsync(iterations);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(SandboxBenchmarks).Assembly).Run(args);
