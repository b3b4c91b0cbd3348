using BenchmarkDotNet.Running;

namespace KruxOS.Benchmarks;

/// <summary>Entry point: every benchmark of this assembly, chosen with BenchmarkDotNet's switcher.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks named by <paramref name="args"/> (e.g. <c>--filter *Audit*</c>).</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
