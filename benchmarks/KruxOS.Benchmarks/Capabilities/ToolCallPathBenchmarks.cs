using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using KruxOS.Core.Capabilities;

namespace KruxOS.Benchmarks.Capabilities;

/// <summary>
/// The pure steps every <c>tools/call</c> takes before it reaches an executor: resolving the tool name
/// (MCP double-underscore, dotted, bridge single-underscore, unknown) and validating the arguments
/// against the capability's inputs; plus the per-tool work of <c>tools/list</c> (name mapping, input
/// schema). Uses the built-in catalogue, as the gateway does.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Percentiles))]
public class ToolCallPathBenchmarks // BenchmarkDotNet derives from benchmark classes, so not sealed.
{
    private sealed class Percentiles : ManualConfig
    {
        public Percentiles() => AddColumn(StatisticColumn.Median, StatisticColumn.P95);
    }

    private CapabilityRegistry _registry = null!;
    private CapabilityDefinition _time = null!;
    private JsonElement _noArguments;
    private JsonElement _timezone;

    [GlobalSetup]
    public void Setup()
    {
        _registry = new CapabilityRegistry(DefinitionLoader.BuiltIn());
        if (!_registry.TryResolve("system.time", out _time)) throw new InvalidOperationException("system.time is not built in");
        _noArguments = JsonDocument.Parse("{}").RootElement.Clone();
        _timezone = JsonDocument.Parse("""{"timezone":"Europe/Berlin"}""").RootElement.Clone();
    }

    [Benchmark(Description = "ToolNames.ToMcp(system.time)")]
    public string MapToMcp() => ToolNames.ToMcp(_time.Name);

    [Benchmark(Description = "TryResolve(system__time)")]
    public bool ResolveMcpName() => _registry.TryResolve("system__time", out _);

    [Benchmark(Description = "TryResolve(system.time)")]
    public bool ResolveDottedName() => _registry.TryResolve("system.time", out _);

    [Benchmark(Description = "TryResolve(system_time)")]
    public bool ResolveSingleUnderscoreName() => _registry.TryResolve("system_time", out _);

    [Benchmark(Description = "TryResolve(unknown)")]
    public bool ResolveUnknownName() => _registry.TryResolve("filesystem__nope", out _);

    [Benchmark(Description = "TryValidate(system.time, {})")]
    public bool ValidateEmpty() => ArgumentValidator.TryValidate(_time, _noArguments, out _, out _);

    [Benchmark(Description = "TryValidate(system.time, {timezone})")]
    public bool ValidateTimezone() => ArgumentValidator.TryValidate(_time, _timezone, out _, out _);

    [Benchmark(Description = "InputSchema.For(system.time)")]
    public JsonElement Schema() => InputSchema.For(_time);
}
