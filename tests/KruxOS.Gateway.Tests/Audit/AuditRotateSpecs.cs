using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary><c>kruxos audit rotate</c>: the real CLI asks a running gateway's audit writer to apply retention now.</summary>
public sealed class AuditRotateSpecs
{
    [Fact]
    public async Task Should_apply_retention_now_warning_first_then_deleting_the_expired_day_file()
    {
        // arrange: a gateway whose audit directory holds a day file 100 days old (retention 90)
        await using var gateway = await TestGateway.StartAsync();
        var auditDir = Path.Combine(gateway.DataDir, "audit");
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var oldFile = AuditFileNames.ForDay(today.AddDays(-100));
        var oldEntry = AuditChain.FromGenesis().Seal(AuditEntry.Call(DateTimeOffset.UtcNow.AddDays(-100), Principal.ForUser("old"), null,
            CapabilityName.Parse("system.time"), KruxOS.Core.CoreJson.EmptyObject, AuditStatus.Success, "ok", null, 1));
        await File.WriteAllBytesAsync(Path.Combine(auditDir, oldFile), oldEntry.Frame.ToArray(), TestContext.Current.CancellationToken);

        // act 1: the first run only warns (nothing is deleted until 7 days after the first warning)
        var first = await ProcessRunner.Kruxos(gateway, "audit", "rotate", "--json");

        // assert 1
        Assert.True(first.ExitCode == 0, first.StdErr);
        var warned = JsonNode.Parse(first.StdOut)!;
        Assert.Empty(warned["deleted"]!.AsArray());
        Assert.Equal(90, warned["retention_days"]!.GetValue<int>());
        Assert.NotNull(warned["first_deletion_not_before"]);
        Assert.Contains(warned["warnings"]!.AsArray(), w => w!.GetValue<string>().Contains("kept until", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(auditDir, oldFile)));

        // act 2: the first warning was 8 days ago
        var firstWarning = DateTimeOffset.UtcNow.AddDays(-8).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(Path.Combine(auditDir, AuditFileNames.RetentionState), $$"""{"first_warning_at":"{{firstWarning}}"}""",
            TestContext.Current.CancellationToken);
        var second = await ProcessRunner.Kruxos(gateway, "audit", "rotate");

        // assert 2: deleted, anchored, reported in plain text
        Assert.True(second.ExitCode == 0, second.StdErr);
        Assert.Contains($"Deleted 1 expired day file(s) (retention 90 days): {oldFile}", second.StdOut, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(auditDir, oldFile)));
        Assert.Contains(AuditDirectory.ReadAnchors(auditDir), a => a.File == oldFile && a.LastHash == oldEntry.Entry.EntryHash);
    }

    [Fact]
    public async Task Should_refuse_cluster_wide_query_and_verify_on_a_single_node_and_a_directory_with_cluster()
    {
        await using var gateway = await TestGateway.StartAsync();

        var query = await ProcessRunner.Kruxos(gateway, "audit", "query", "--cluster");
        var verify = await ProcessRunner.Kruxos(gateway, "audit", "verify", "--cluster");
        var both = await ProcessRunner.Kruxos(gateway, "audit", "verify", "--cluster", "--dir", gateway.DataDir);

        // a single node has one chain: --cluster names that instead of answering for one node as if it were all
        Assert.NotEqual(0, query.ExitCode);
        Assert.Contains("not in a cluster", query.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, verify.ExitCode);
        Assert.Contains("not in a cluster", verify.StdErr, StringComparison.Ordinal);
        Assert.Contains("takes no --dir", both.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_say_the_gateway_is_unreachable_when_none_runs()
    {
        var result = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "audit", "rotate"],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = Path.Combine(Path.GetTempPath(), "kruxos-absent-" + Guid.NewGuid().ToString("N"), "control.sock") });

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("no control socket", result.StdErr, StringComparison.Ordinal);
    }
}
