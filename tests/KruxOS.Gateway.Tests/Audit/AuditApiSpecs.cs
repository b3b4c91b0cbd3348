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
    }
}
