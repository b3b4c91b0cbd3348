using System.Diagnostics;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Sandbox;

namespace KruxOS.Benchmarks.Sandbox;

/// <summary>A sandbox on a throw-away data directory with one agent and a 4 KiB file.</summary>
[SupportedOSPlatform("linux")]
internal sealed class BenchSandbox : IAsyncDisposable
{
    private static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());
    public readonly string DataDirectory = Path.Combine(Path.GetTempPath(), "kruxos-bench-" + Guid.NewGuid().ToString("N")[..8]);
    public readonly AgentName Agent = AgentName.Parse("bench");
    public SandboxHost Host { get; }
    public string FilePath { get; }

    public BenchSandbox()
    {
        Directory.CreateDirectory(DataDirectory);
        Host = new SandboxHost(new SandboxOptions { DataDirectory = DataDirectory, CgroupName = "kruxos-bench-" + Environment.ProcessId });
        if (Host.Health.Status != KruxOS.Sandbox.Health.SandboxHealthStatus.Healthy) throw new InvalidOperationException(Host.Health.Message);
        FilePath = Path.Combine(Host.WorkspaceOf(Agent), "4k.bin");
    }

    public SandboxRequest Request(string capability, object args)
    {
        Registry.TryResolve(capability, out var def);
        if (!ArgumentValidator.TryValidate(def, JsonSerializer.SerializeToElement(args), out var normalized, out var error)) throw new ArgumentException(error!.Message);
        return new SandboxRequest(Agent, def.Name, normalized);
    }

    public async Task<SandboxResult> Must(SandboxRequest request)
    {
        var r = await Host.ExecuteAsync(request, CancellationToken.None);
        if (!r.IsSuccess) throw new InvalidOperationException(r.Error!.Message);
        return r;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Directory.Delete(DataDirectory, true);
    }
}

/// <summary>BenchmarkDotNet view of the same operations (in-process toolchain: the sandbox needs root and the built worker).</summary>
[SupportedOSPlatform("linux")]
[InProcess]
[MemoryDiagnoser]
public class SandboxBenchmarks
{
    private BenchSandbox _sb = null!;
    private SandboxRequest _read = null!;
    private SandboxRequest _true = null!;

    // BenchmarkDotNet awaits Task-returning setup and cleanup methods.
    [GlobalSetup]
    public async Task Setup()
    {
        _sb = new BenchSandbox();
        await _sb.Must(_sb.Request("filesystem.write", new { path = "4k.bin", content = Convert.ToBase64String(RandomNumberGenerator.GetBytes(4096)), encoding = "binary" }));
        _read = _sb.Request("filesystem.read", new { path = "4k.bin", encoding = "binary" });
        _true = _sb.Request("process.run", new { command = "true" });
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _sb.DisposeAsync();

    [Benchmark(Baseline = true)]
    public byte[] DirectRead4K() => SHA256.HashData(File.ReadAllBytes(_sb.FilePath));

    [Benchmark]
    public Task<SandboxResult> SandboxedRead4K() => _sb.Must(_read);

    [Benchmark]
    public void DirectProcessTrue()
    {
        using var p = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
        p.WaitForExit();
    }

    [Benchmark]
    public Task<SandboxResult> SandboxedProcessTrue() => _sb.Must(_true);
}

/// <summary>Plain Stopwatch percentiles: sandboxed vs direct, and the worker's cold start.</summary>
[SupportedOSPlatform("linux")]
public static class SandboxLatency
{
    public static async Task RunAsync(int iterations)
    {
        await using var sb = new BenchSandbox();
        await sb.Must(sb.Request("filesystem.write", new { path = "4k.bin", content = Convert.ToBase64String(RandomNumberGenerator.GetBytes(4096)), encoding = "binary" }));
        var read = sb.Request("filesystem.read", new { path = "4k.bin", encoding = "binary" });
        var run = sb.Request("process.run", new { command = "true" });

        var cold = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            await sb.Host.StopAgentAsync(sb.Agent, CancellationToken.None);
            var sw = Stopwatch.StartNew();
            await sb.Must(read);
            cold.Add(sw.Elapsed.TotalMilliseconds);
        }

        var sandboxedRead = await Measure(iterations, () => sb.Must(read));
        var directRead = await Measure(iterations, () => { SHA256.HashData(File.ReadAllBytes(sb.FilePath)); return Task.CompletedTask; });
        var runs = Math.Max(50, iterations / 10);
        var sandboxedRun = await Measure(runs, () => sb.Must(run));
        var directRun = await Measure(runs, async () =>
        {
            using var p = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
            await p.WaitForExitAsync();
        });

        Console.WriteLine($"worker cold start (first call after stop, incl. read): median {Percentile(cold, 50):0.0} ms, max {cold.Max():0.0} ms");
        Console.WriteLine($"{"operation",-34} {"n",6} {"p50 ms",8} {"p99 ms",8}");
        Row("filesystem.read 4 KiB sandboxed", sandboxedRead);
        Row("read+sha256 4 KiB direct", directRead);
        Row("process.run true sandboxed", sandboxedRun);
        Row("Process.Start /bin/true direct", directRun);
        Console.WriteLine($"ratio read p50 {Percentile(sandboxedRead, 50) / Percentile(directRead, 50):0.0}x, p99 {Percentile(sandboxedRead, 99) / Percentile(directRead, 99):0.0}x; " +
                          $"process.run p50 {Percentile(sandboxedRun, 50) / Percentile(directRun, 50):0.0}x, p99 {Percentile(sandboxedRun, 99) / Percentile(directRun, 99):0.0}x");
    }

    private static void Row(string name, List<double> xs) => Console.WriteLine($"{name,-34} {xs.Count,6} {Percentile(xs, 50),8:0.000} {Percentile(xs, 99),8:0.000}");

    private static async Task<List<double>> Measure(int n, Func<Task> op)
    {
        for (var i = 0; i < Math.Min(50, n); i++) await op();
        var result = new List<double>(n);
        for (var i = 0; i < n; i++)
        {
            var sw = Stopwatch.StartNew();
            await op();
            result.Add(sw.Elapsed.TotalMilliseconds);
        }
        return result;
    }

    private static double Percentile(List<double> xs, double p)
    {
        var s = xs.Order().ToList();
        return s[Math.Clamp((int)Math.Ceiling(p / 100 * s.Count) - 1, 0, s.Count - 1)];
    }
}
