using System.Text.Json;
using BenchmarkDotNet.Attributes;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Benchmarks.Audit;

/// <summary>Cost per entry of the audit hot path: sanitize, canonical CBOR, SHA-256 chaining, and verification.</summary>
[MemoryDiagnoser]
#pragma warning disable CA1852 // not sealed: BenchmarkDotNet generates a subclass of each benchmark class
public class AuditEncodingBenchmarks
#pragma warning restore CA1852
{
    private AuditEntry _draft = null!;
    private AuditChain _chain = null!;
    private ReadOnlyMemory<byte> _stored;

    [GlobalSetup]
    public void Setup()
    {
        var t = new DateTimeOffset(2026, 11, 25, 10, 30, 0, TimeSpan.Zero);
        _draft = AuditEntry.Call(t, new Principal(PrincipalKind.Agent, "builder"), "5f0c2e9a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
            CapabilityName.Parse("network.credentialed_request"),
            JsonDocument.Parse("""
                {"url":"https://api.example.com/v1/items?page=2","method":"POST","secret":"stripe-api-key",
                 "headers":{"Accept":"application/json","X-Trace":"abc"},"body":{"name":"widget","qty":3,"price":9.95}}
                """).RootElement,
            AuditStatus.Success, "200 OK, 512 bytes", new AuditPolicyDecision(Tier.Notify, "org.network", 7), 41,
            new AuditResourceUsage(5, 8_388_608, 0, 512), new AuditClient("claude-code", "1.0.0"));
        _chain = AuditChain.FromGenesis();
        _stored = AuditChain.FromGenesis().Seal(_draft).Payload;
    }

    /// <summary>Canonical CBOR of the body only.</summary>
    [Benchmark]
    public byte[] EncodeBody() => AuditCbor.EncodeBody(_draft);

    /// <summary>Everything the writer actor does per entry: sanitize, encode body and record, hash, frame.</summary>
    [Benchmark(Baseline = true)]
    public SealedAuditRecord SealIntoChain() => _chain.Seal(_draft);

    /// <summary>Per-record verification cost: split the stored record and recompute the hash.</summary>
    [Benchmark]
    public byte[] SplitAndHash()
    {
        var parts = AuditCbor.Split(_stored);
        return AuditCbor.ComputeHash(parts.Body.Span, parts.PreviousHash.Span);
    }
}
