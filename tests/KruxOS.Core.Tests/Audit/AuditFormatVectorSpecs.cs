using System.Text.Json;
using System.Text.RegularExpressions;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

/// <summary>Checks the test vectors published in docs/audit-format.md against the code.</summary>
public sealed partial class AuditFormatVectorSpecs
{
    internal static AuditEntry Vector1() => new()
    {
        Id = Guid.Parse("01936f3e-8a4b-7c2d-9e1f-000000000001"),
        Timestamp = new DateTimeOffset(2026, 11, 25, 10, 30, 0, TimeSpan.Zero).AddTicks(1_234_560),
        Kind = AuditEntryKind.Call,
        Actor = new Principal(PrincipalKind.Agent, "builder"),
        SessionId = "5f0c2e9a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
        Capability = "filesystem.read",
        Inputs = JsonDocument.Parse("""{"path":"/workspace/notes.txt","limit":100,"offset":-1,"ratio":0.5,"api_key":"sk-live-123"}""").RootElement,
        OutputSummary = "read 42 bytes",
        Status = AuditStatus.Success,
        PolicyDecision = new AuditPolicyDecision(Tier.Autonomous, "agent.default", 3),
        DurationMs = 12,
        ResourceUsage = new AuditResourceUsage(3, 1_048_576, 42, 0),
        Client = new AuditClient("claude-code", "1.0.0"),
    };

    internal static AuditEntry Vector2() => new()
    {
        Id = Guid.Parse("01936f3e-8a4b-7c2d-9e1f-000000000002"),
        Timestamp = new DateTimeOffset(2026, 11, 25, 10, 31, 5, TimeSpan.Zero),
        Kind = AuditEntryKind.ApprovalResolution,
        Actor = new Principal(PrincipalKind.User, "operator"),
        Capability = "email.send",
        OutputSummary = "Rejected by dashboard admin",
        Status = AuditStatus.Denied,
        PolicyDecision = new AuditPolicyDecision(Tier.ApprovalRequired, Reason: "Rejected by dashboard admin"),
        Metadata = new AuditMetadata(ApprovalRequestId: "appr-x1y2z3", ApprovalDecision: "rejected", DecidedBy: "user:operator"),
    };

    private static Dictionary<string, string> DocumentedVectors()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "audit-format.md"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var text = File.ReadAllText(Path.Combine(dir.FullName, "docs", "audit-format.md"));
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in VectorBlock().Matches(text))
            result[m.Groups[1].Value] = Regex.Replace(m.Groups[2].Value, "\\s+", "");
        return result;
    }

    [Fact]
    public void Should_match_the_documented_test_vectors()
    {
        var chain = AuditChain.FromGenesis();
        var r1 = chain.Seal(Vector1());
        var r2 = chain.Seal(Vector2());
        var actual = new Dictionary<string, string>
        {
            ["genesis"] = Convert.ToHexStringLower(AuditCbor.Genesis),
            ["1.body"] = Convert.ToHexStringLower(AuditCbor.EncodeBody(r1.Entry)),
            ["1.entry_hash"] = r1.Entry.EntryHash!,
            ["1.record"] = Convert.ToHexStringLower(r1.Frame.Span),
            ["2.body"] = Convert.ToHexStringLower(AuditCbor.EncodeBody(r2.Entry)),
            ["2.entry_hash"] = r2.Entry.EntryHash!,
            ["2.record"] = Convert.ToHexStringLower(r2.Frame.Span),
        };

        var documented = DocumentedVectors();

        var mismatches = actual
            .Where(kv => !documented.TryGetValue(kv.Key, out var doc) || doc != kv.Value)
            .Select(kv => $"vector {kv.Key} differs from the documentation; actual: {kv.Value}")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        // a verifier over the documented records accepts them
        var file = Convert.FromHexString(documented["1.record"] + documented["2.record"]);
        Assert.True(ChainVerifier.Verify([AuditFraming.Scan("audit-2026-11-25.log", file)]).IsIntact);
    }

    [GeneratedRegex("<!--\\s*vector:([a-z0-9._]+)\\s*-->\\s*```text\\s*([0-9a-f\\s]+?)```", RegexOptions.CultureInvariant)]
    private static partial Regex VectorBlock();
}
