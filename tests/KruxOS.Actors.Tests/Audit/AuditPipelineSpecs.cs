using System.Text;
using Akka.Actor;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Tests.Support;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using TempDir = KruxOS.Actors.Tests.Support.TempDir;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>Calls through a real node (AddKruxOsActors) land in the hash-chained audit log before the reply.</summary>
public sealed class AuditPipelineSpecs
{
    private static KruxOsSettings Settings(string dataDir, AuditFailMode mode = AuditFailMode.Degrade) => new()
    {
        DataDir = dataDir,
        MetricsInterval = TimeSpan.FromMinutes(5),
        Audit = new AuditSettings { FailMode = mode },
    };

    private static async Task CreateAgents(NodeHost node, params string[] names)
    {
        var registry = await node.Registry.GetAsync<IdentityRegistry>();
        foreach (var name in names)
        {
            var created = await registry.Ask<IdentityResult>(
                new IdentityCommands.CreateAgent(name, "audit spec", TokenHashing.Hash(TokenHashing.NewAgentToken()), DateTimeOffset.UtcNow), TestTimeouts.Reply);
            Assert.True(created.IsOk, created.Message);
        }
        var directory = node.Services.GetRequiredService<IdentityDirectory>();
        var deadline = DateTime.UtcNow + TestTimeouts.Reply;
        while (!names.All(directory.Current.Agents.ContainsKey))
        {
            Assert.True(DateTime.UtcNow < deadline, "identities not published in time");
            await Task.Delay(50);
        }
    }

    private static async Task<ToolCallResult> Invoke(NodeHost node, string agent, string capability, string args = "{}", string session = "sess-audit")
    {
        var region = await node.Registry.GetAsync<AgentSessionRegion>();
        var name = AgentName.Parse(agent);
        var call = new ToolCall(Principal.ForAgent(name), name, session, capability,
            System.Text.Json.JsonDocument.Parse(args).RootElement.Clone(), new ClientInfo("spec-client", "2.1"));
        return await region.Ask<ToolCallResult>(
            new Func<IActorRef, object>(reply => new AgentSessionCommands.Invoke(name, call, reply)), TestTimeouts.Cluster, CancellationToken.None);
    }

    [Fact]
    public async Task Should_have_the_call_on_disk_in_the_day_file_with_a_valid_chain_when_the_reply_arrives()
    {
        using var dir = new TempDir();
        await using var node = await NodeHost.StartAsync(Settings(dir.Path));
        await CreateAgents(node, "builder");

        var result = await Invoke(node, "builder", "system.time", """{"timezone":"Europe/Berlin"}""");

        Assert.False(result.IsError, result.Error?.Message);
        // no waiting: the reply came after the fsync, so the entry is already in today's file
        var auditDir = Path.Combine(dir.Path, "audit");
        var day = Path.Combine(auditDir, AuditFileNames.ForDay(DateOnly.FromDateTime(DateTime.UtcNow)));
        var entry = Assert.Single(Drafts.ReadAll(auditDir), e => e.Capability == "system.time");
        Assert.True(File.Exists(day) || AuditDirectory.ListDayFiles(auditDir).Count == 1);
        Assert.Equal((AuditEntryKind.Call, AuditStatus.Success), (entry.Kind, entry.Status));
        Assert.Equal(Principal.ForAgent(AgentName.Parse("builder")), entry.Actor);
        Assert.Equal("sess-audit", entry.SessionId);
        Assert.Equal(new AuditClient("spec-client", "2.1"), entry.Client);
        Assert.Equal("Europe/Berlin", entry.Inputs.GetProperty("timezone").GetString());
        Assert.Equal(Core.Capabilities.Tier.Autonomous, entry.PolicyDecision!.Tier);
        var report = AuditVerifier.VerifyDirectory(auditDir);
        Assert.True(report.IsIntact, report.Summary);
    }

    [Fact]
    public async Task Should_store_a_secret_named_argument_redacted()
    {
        using var dir = new TempDir();
        await using var node = await NodeHost.StartAsync(Settings(dir.Path));
        await CreateAgents(node, "builder");
        const string secret = "hunter2-very-secret-value";

        // unknown arguments are refused as invalid input, but the attempt is still audited with its inputs
        var result = await Invoke(node, "builder", "system.time", $$"""{"timezone":"UTC","db_password":"{{secret}}"}""");

        Assert.Equal("InvalidInput", result.Error?.ErrorType);
        var auditDir = Path.Combine(dir.Path, "audit");
        var entry = Assert.Single(Drafts.ReadAll(auditDir), e => e.Capability == "system.time");
        Assert.Equal(AuditStatus.Error, entry.Status);
        Assert.Equal("[REDACTED:db_password]", entry.Inputs.GetProperty("db_password").GetString());
        Assert.Equal("UTC", entry.Inputs.GetProperty("timezone").GetString());
        foreach (var f in Directory.EnumerateFiles(auditDir))
            Assert.DoesNotContain(secret, Encoding.UTF8.GetString(await File.ReadAllBytesAsync(f)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_fail_the_call_closed_in_halt_mode_when_the_audit_log_cannot_be_written()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "audit"), "a file where the audit directory should be");
        await using var node = await NodeHost.StartAsync(Settings(dir.Path, AuditFailMode.Halt));
        await CreateAgents(node, "builder");

        var result = await Invoke(node, "builder", "system.time");

        Assert.Equal("ServiceUnavailable", result.Error?.ErrorType);
        Assert.Equal("audit", result.Error!.ContextString("service"));
        var health = await node.Services.GetRequiredService<AuditProbe>().GetAsync(CancellationToken.None);
        Assert.Equal(AuditHealthStatus.Halted, health!.Status);
        Assert.Equal(Health.HealthStatus.Critical, AuditProbe.Assess(health, 10_000).Status);
    }

    [Fact]
    public async Task Should_keep_the_call_serving_in_degrade_mode_and_report_the_buffer_as_critical()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "audit"), "a file where the audit directory should be");
        await using var node = await NodeHost.StartAsync(Settings(dir.Path, AuditFailMode.Degrade));
        await CreateAgents(node, "builder");

        var first = await Invoke(node, "builder", "system.time");
        var result = await Invoke(node, "builder", "system.health");

        Assert.False(first.IsError, first.Error?.Message); // buffered in the ring, the call went ahead

        Assert.False(result.IsError, result.Error?.Message);
        Assert.True(result.Data!.Value.GetProperty("queue_depths").GetProperty("audit_buffer").GetInt32() >= 1);
        var health = await node.Services.GetRequiredService<AuditProbe>().GetAsync(CancellationToken.None);
        Assert.Equal(AuditHealthStatus.Degraded, health!.Status);
        Assert.Equal(Health.HealthStatus.Critical, AuditProbe.Assess(health, 10_000).Status);
    }

    [Fact]
    public async Task Should_write_one_valid_chain_with_every_call_when_many_sessions_call_at_once()
    {
        using var dir = new TempDir();
        await using var node = await NodeHost.StartAsync(Settings(dir.Path));
        string[] agents = ["alpha", "bravo", "charlie", "delta"];
        await CreateAgents(node, agents);
        const int sessionsPerAgent = 5;
        const int callsPerSession = 12;

        var calls = agents
            .SelectMany(a => Enumerable.Range(0, sessionsPerAgent).Select(s => (Agent: a, Session: $"sess-{a}-{s}")))
            .SelectMany(x => Enumerable.Range(0, callsPerSession).Select(_ => Invoke(node, x.Agent, "system.time", "{}", x.Session)))
            .ToList();
        var results = await Task.WhenAll(calls);

        Assert.All(results, r => Assert.False(r.IsError, r.Error?.Message));
        var auditDir = Path.Combine(dir.Path, "audit");
        var entries = Drafts.ReadAll(auditDir).Where(e => e.Capability == "system.time").ToList();
        Assert.Equal(agents.Length * sessionsPerAgent * callsPerSession, entries.Count);
        Assert.Equal(entries.Count, entries.Select(e => e.Id).Distinct().Count());
        Assert.All(entries.GroupBy(e => e.SessionId), g => Assert.Equal(callsPerSession, g.Count()));
        Assert.Equal(agents.Length * sessionsPerAgent, entries.Select(e => e.SessionId).Distinct().Count());
        var report = AuditVerifier.VerifyDirectory(auditDir);
        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(Drafts.ReadAll(auditDir).Count, report.Entries);
    }
}
