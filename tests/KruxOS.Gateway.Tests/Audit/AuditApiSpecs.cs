using KruxOS.Testing;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Core.Agents;
using KruxOS.Core.Control;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Endpoints;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

public sealed class AuditApiSpecs
{
    private static async Task<JsonNode> Control(TestGateway gw, string method, JsonObject parameters)
    {
        var response = ControlResponse.Parse(await gw.Services.GetRequiredService<ControlCommands>()
            .ExecuteAsync(null, method, parameters, CancellationToken.None));
        Assert.True(response.Ok, response.ErrorMessage);
        return response.Result!;
    }

    private static async Task<ToolCallResult> Call(TestGateway gw, string agent, string capability, string session)
    {
        var region = await gw.Services.GetRequiredService<ActorRegistry>().GetAsync<AgentSessionRegion>();
        var name = AgentName.Parse(agent);
        var call = new ToolCall(Principal.ForAgent(name), name, session, capability, JsonDocument.Parse("{}").RootElement.Clone(), new ClientInfo("spec", "1"));
        return await region.Ask<ToolCallResult>(new Func<IActorRef, object>(r => new AgentSessionCommands.Invoke(name, call, r)),
            TimeSpan.FromSeconds(30), CancellationToken.None);
    }

    [Fact]
    public async Task Should_list_filtered_audit_entries_with_hashes_and_integrity_to_a_user_token()
    {
        // arrange
        await using var gw = await TestGateway.StartAsync();
        await Control(gw, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "builder", ["purpose"] = "audit api spec" });
        await Control(gw, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "other", ["purpose"] = "audit api spec" });
        var userToken = (await Control(gw, ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "spec" }))["token"]!.GetValue<string>();
        Assert.False((await Call(gw, "builder", "system.time", "sess-b1")).IsError);
        Assert.False((await Call(gw, "builder", "agent.whoami", "sess-b1")).IsError);
        Assert.False((await Call(gw, "other", "system.time", "sess-o1")).IsError);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gw.UserApiPort}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", userToken);

        // act
        var all = JsonNode.Parse(await http.GetStringAsync("/api/audit?since=1h&limit=10"))!;
        var filtered = JsonNode.Parse(await http.GetStringAsync("/api/audit?agent=builder&capability=system.*&status=success"))!;
        using var bad = await http.GetAsync("/api/audit?limit=0");
        using var anonymous = await new HttpClient().GetAsync($"http://127.0.0.1:{gw.UserApiPort}/api/audit");

        // assert
        Assert.Equal(3, all["total"]!.GetValue<long>());
        Assert.Equal("verified", all["integrity"]!.GetValue<string>());
        var entry = Assert.Single(filtered["entries"]!.AsArray())!;
        Assert.Equal(1, filtered["total"]!.GetValue<long>());
        Assert.Equal("builder", entry["agent"]!.GetValue<string>());
        Assert.Equal("system.time", entry["capability"]!.GetValue<string>());
        Assert.Equal("success", entry["result"]!["status"]!.GetValue<string>());
        Assert.Equal("autonomous", entry["policy_decision"]!["tier"]!.GetValue<string>());
        Assert.Matches("^sha256:[0-9a-f]{64}$", entry["hash"]!.GetValue<string>());
        Assert.True(Guid.TryParse(entry["id"]!.GetValue<string>(), out _));
        Assert.NotNull(entry["timestamp"]);
        Assert.Equal(JsonValueKind.Object, JsonSerializer.Deserialize<JsonElement>(entry["arguments"]!.ToJsonString()).ValueKind);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        // the health check reads the writer
        var health = await gw.Services.GetRequiredService<KruxOS.Actors.Health.HealthRegistry>().RunAsync(CancellationToken.None);
        Assert.Equal(KruxOS.Actors.Health.HealthStatus.Healthy, Assert.Single(health.Services, s => s.Name == "audit").Status);

        // agent_name is an alias of agent (the dashboard's spelling), and approval outcomes filter on the decision
        var byName = JsonNode.Parse(await http.GetStringAsync("/api/audit?agent_name=builder"))!;
        Assert.Equal(2, byName["total"]!.GetValue<long>());
        Assert.All(byName["entries"]!.AsArray(), e => Assert.Equal("builder", e!["agent"]!.GetValue<string>()));
        Assert.Equal(0, JsonNode.Parse(await http.GetStringAsync("/api/audit?status=approved"))!["total"]!.GetValue<long>());
    }

    [Fact]
    public async Task Should_keep_integrity_current_by_verifying_only_new_entries_and_report_a_tampered_older_file_as_broken()
    {
        // arrange: yesterday's day file (closed) already holds three entries when the gateway starts
        var dataDir = Directory.CreateTempSubdirectory("kruxos-gw-").FullName;
        var auditDir = Path.Combine(dataDir, "audit");
        var yesterday = DateTimeOffset.UtcNow.AddDays(-1);
        var (writer, recovery) = AuditFileWriter.Open(auditDir, new FixedClock(yesterday), useIndex: false);
        var chain = new AuditChain(recovery.Head.Span);
        using (writer)
        {
            writer.AppendBatch([.. Enumerable.Range(0, 3).Select(i => chain.Seal(AuditEntry.Call(yesterday.AddSeconds(i), Principal.ForUser("ops"), null,
                CapabilityName.Parse("system.time"), KruxOS.Core.CoreJson.EmptyObject, AuditStatus.Success, $"old {i}", null, 1)))]);
        }
        await using var gw = await TestGateway.StartAsync(dataDir);
        await Control(gw, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "builder", ["purpose"] = "integrity spec" });
        var userToken = (await Control(gw, ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "spec" }))["token"]!.GetValue<string>();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gw.UserApiPort}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", userToken);
        var verifier = gw.Services.GetRequiredService<AuditIntegrity>().Verifier;
        Assert.False((await Call(gw, "builder", "system.time", "sess-i1")).IsError);

        // act 1: the first request verifies the directory
        var first = JsonNode.Parse(await http.GetStringAsync("/api/audit?limit=1"))!;
        var full = verifier.FullVerifications;

        // act 2: one new call, one new entry: the next request reads only it
        Assert.False((await Call(gw, "builder", "system.time", "sess-i1")).IsError);
        var second = JsonNode.Parse(await http.GetStringAsync("/api/audit?limit=1"))!;

        // assert
        Assert.Equal("verified", first["integrity"]!.GetValue<string>());
        Assert.Equal("verified", second["integrity"]!.GetValue<string>());
        Assert.Equal(full, verifier.FullVerifications);
        Assert.Equal(1, verifier.LastEntriesRead);

        // act 3: a byte of yesterday's (closed) file is flipped: the cache is invalid, the break is reported
        var path = Path.Combine(auditDir, AuditFileNames.ForDay(DateOnly.FromDateTime(yesterday.UtcDateTime)));
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[bytes.AsSpan().IndexOf("old 1"u8)] ^= 0x01;
        await File.WriteAllBytesAsync(path, bytes);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var third = JsonNode.Parse(await http.GetStringAsync("/api/audit?limit=1"))!;

        Assert.StartsWith("broken: ", third["integrity"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("hash_mismatch", third["integrity"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(path), third["integrity"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(full + 1, verifier.FullVerifications);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
