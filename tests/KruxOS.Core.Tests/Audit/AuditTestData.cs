using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Tests.Audit;

/// <summary>Fixed entries for encoding and chain tests.</summary>
internal static class AuditTestData
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 30, 0, TimeSpan.Zero);

    public static AuditEntry Entry(int n, string? summary = null) => new()
    {
        Id = new Guid($"0193a1b2-c3d4-7e5f-8a9b-{n:x12}"),
        Timestamp = T0.AddMilliseconds(n).AddTicks(3),
        Actor = new Principal(PrincipalKind.Agent, "builder"),
        SessionId = "5f0c2e9a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
        Capability = "filesystem.read",
        Inputs = JsonDocument.Parse($$"""{"path":"/workspace/file{{n}}.txt","limit":100}""").RootElement.Clone(),
        OutputSummary = summary ?? $"read {n} bytes",
        Status = AuditStatus.Success,
        PolicyDecision = new AuditPolicyDecision(Tier.Autonomous, "agent.default", 3),
        DurationMs = 12 + n,
        SchemaVersion = 1,
        Client = new AuditClient("claude-code", "1.0.0"),
    };

    public static List<SealedAuditRecord> Chain(int count, AuditChain? chain = null)
    {
        chain ??= AuditChain.FromGenesis();
        var list = new List<SealedAuditRecord>();
        for (var i = 0; i < count; i++) list.Add(chain.Seal(Entry(i)));
        return list;
    }

    public static byte[] Concat(IEnumerable<SealedAuditRecord> records) => [.. records.SelectMany(r => r.Frame.ToArray())];
}
