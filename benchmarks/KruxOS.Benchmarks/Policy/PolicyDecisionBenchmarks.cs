using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;

namespace KruxOS.Benchmarks.Policy;

/// <summary>
/// One policy decision against policies of 100 and 1,000 rules spread over system, org and agent files.
/// <c>Typical</c>: rules spread over a 1,000-capability catalogue, the decided call meets a few conditional rules
/// before its match. <c>WorstCase</c>: every rule of the agent file targets the decided capability with a
/// condition that fails, so the whole file is scanned.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Percentiles))]
public class PolicyDecisionBenchmarks // BenchmarkDotNet derives from benchmark classes, so not sealed.
{
    private sealed class Percentiles : ManualConfig
    {
        public Percentiles() => AddColumn(StatisticColumn.Median, StatisticColumn.P95);
    }

    [Params(100, 1000)]
    public int Rules { get; set; }

    private PolicySet _typical = null!;
    private PolicySet _worst = null!;
    private CapabilityDefinition _write = null!;
    private JsonElement _arguments;
    private readonly Principal _agent = Principal.ForAgent(AgentName.Parse("bench"));
    private readonly DateTimeOffset _now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [GlobalSetup]
    public void Setup()
    {
        var definitions = ImmutableArray.CreateBuilder<CapabilityDefinition>();
        for (var c = 0; c < 50; c++)
        for (var o = 0; o < 20; o++)
            definitions.Add(Def(c == 0 && o == 0 ? "filesystem.write" : $"cat{c}.op{o}"));
        var registry = new CapabilityRegistry(definitions.ToImmutable());
        _write = definitions[0];
        _arguments = JsonDocument.Parse("""{"path":"/workspace/src/main.c","content":"int main(void) { return 0; }"}""").RootElement.Clone();

        var perFile = Rules / 3;
        _typical = Compile(registry, Spread(perFile, 1), Spread(perFile, 2), Spread(Rules - 2 * perFile, 3, decide: true));
        _worst = Compile(registry, Spread(perFile, 1), Spread(perFile, 2), Worst(Rules - 2 * perFile));

        // Measure what we think we measure.
        if (Typical() is not { Tier: Tier.Notify, DecidingLayer: PolicyLayer.Agent } t) throw new InvalidOperationException($"typical: {Typical()}");
        if (WorstCase() is not { Tier: Tier.Notify } w || !w.IsDefault) throw new InvalidOperationException($"worst: {WorstCase()}");
        _ = t;
    }

    private static CapabilityDefinition Def(string name) =>
        new(CapabilityName.Parse(name), "1.0", "benchmark capability", "benchmarks only", [
            new InputDefinition("path", InputType.FilesystemPath, true, "path"),
            new InputDefinition("content", InputType.String, false, "content")], [], [], Tier.Notify, [], ExecutionMode.Sandboxed);

    private static PolicySet Compile(CapabilityRegistry registry, string system, string org, string agent)
    {
        var result = PolicyCompiler.Compile(new Dictionary<string, string>
        {
            ["system.yaml"] = system, ["org.yaml"] = org, ["agents/bench.yaml"] = agent,
        }, registry);
        return result.Set ?? throw new InvalidOperationException(string.Join("\n", result.Errors));
    }

    // Mostly exact and category rules for other capabilities, a few conditional filesystem rules, and
    // (in the deciding file) a final path rule that matches the benchmarked call.
    private static string Spread(int count, int salt, bool decide = false)
    {
        var sb = new StringBuilder("rules:\n");
        for (var i = 0; i < count - (decide ? 1 : 0); i++)
        {
            switch (i % 10)
            {
                case 0:
                    sb.Append("  - capability: filesystem.write\n    conditions: { path_prefix: /workspace/tmp").Append(salt).Append(i).Append(" }\n    tier: autonomous\n");
                    break;
                case 1:
                    sb.Append("  - capability: cat").Append((i + salt) % 49 + 1).Append(".*\n    conditions: { content_size_gte: 1000 }\n    tier: approval_required\n");
                    break;
                default:
                    sb.Append("  - capability: cat").Append((i * 7 + salt) % 49 + 1).Append(".op").Append(i % 20).Append("\n    tier: notify\n");
                    break;
            }
        }
        if (decide) sb.Append("  - capability: filesystem.*\n    conditions: { path_prefix: /workspace/src }\n    tier: notify\n");
        return sb.ToString();
    }

    private static string Worst(int count)
    {
        var sb = new StringBuilder("rules:\n");
        for (var i = 0; i < count; i++)
            sb.Append("  - capability: filesystem.write\n    conditions: { path_prefix: /workspace/other").Append(i).Append(" }\n    tier: autonomous\n");
        return sb.ToString();
    }

    [Benchmark(Baseline = true)]
    public Decision Typical() => PolicyEngine.Decide(_agent, _write, _arguments, _typical, RateState.Empty, _now).Decision;

    [Benchmark]
    public Decision WorstCase() => PolicyEngine.Decide(_agent, _write, _arguments, _worst, RateState.Empty, _now).Decision;
}
