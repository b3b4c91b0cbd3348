using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Gateway.Tests.Modules.Broken;
using KruxOS.Gateway.Tests.Modules.Probe;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Modules;

/// <summary>
/// A capability module registered with one call is offered, run, audited and governed by policy like a built-in
/// one, through a real gateway and the Node MCP SDK; a module set that cannot bind every definition to exactly one
/// handler stops the gateway at start-up (ADR 0032).
/// </summary>
public sealed class ModuleEndToEndSpecs
{
    private const string BlockProbe = "rules:\n  - capability: probe.*\n    tier: blocked\n    reason: this agent may not probe\n";

    // A call built from the definition alone: every input gets a value of its declared type.
    private static JsonObject ArgumentsFor(CapabilityDefinition definition)
    {
        var args = new JsonObject();
        foreach (var input in definition.Inputs)
            args[input.Name] = input.Type switch
            {
                InputType.Integer => 1,
                InputType.Float or InputType.Number => 1.5,
                InputType.Boolean => true,
                _ => $"probe {input.Name}",
            };
        return args;
    }

    [Fact]
    public async Task Should_offer_run_and_audit_every_capability_of_a_registered_module()
    {
        // arrange: an agent whose policy blocks the module, laid down before start
        var dataDir = Directory.CreateTempSubdirectory("kruxos-module-e2e-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "agents", "blocked-prober.yaml"), BlockProbe);
        await using var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddCapabilityModule<ProbeModule>(), dataDir);
        await gateway.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TestTimeouts.Call);
        var token = await gateway.CreateAgentAsync("prober");
        var blockedToken = await gateway.CreateAgentAsync("blocked-prober");
        var definitions = new ProbeModule().LoadDefinitions();
        Assert.NotEmpty(definitions);
        string[] calls = [.. definitions.SelectMany(d => new[] { "--call", d.ToolName, ArgumentsFor(d).ToJsonString() })];
        var url = gateway.McpHttp.ToString();

        // act
        var session = await NodeClients.RunAsync(token, ["--transport", "http", "--url", url, "--list", .. calls]);
        var blocked = await NodeClients.RunAsync(blockedToken, ["--transport", "http", "--url", url, "--list", .. calls]);

        // assert: listed with its tier, run, audited
        Assert.True(session["connected"]!.GetValue<bool>(), session.ToJsonString());
        var tools = session["tools"]!.AsArray();
        var results = session["results"]!.AsArray();
        var audit = new AuditReader(Path.Combine(gateway.DataDir, "audit"));
        for (var i = 0; i < definitions.Length; i++)
        {
            var d = definitions[i];
            var tool = tools.SingleOrDefault(t => t!["name"]!.GetValue<string>() == d.ToolName)
                ?? throw new Xunit.Sdk.XunitException($"{d.ToolName} is not listed: {session.ToJsonString()}");
            Assert.Equal(d.DefaultTier.ToWire(), tool["tier"]!.GetValue<string>());
            Assert.False(results[i]!["isError"]!.GetValue<bool>(), results[i]!.ToJsonString());
            var entries = (await audit.QueryAsync(new AuditQuery { Agent = "prober", Capability = d.Name.Value }, TestContext.Current.CancellationToken))
                .Entries.Select(e => e.Entry).ToList();
            Assert.Contains(entries, e => e.Status == AuditStatus.Success);
        }
        var echo = results.Single(r => r!["name"]!.GetValue<string>() == "probe__echo")!;
        Assert.Equal("probe text", echo["body"]!["text"]!.GetValue<string>());

        // assert: hidden from and refused to the agent whose policy blocks the module
        Assert.True(blocked["connected"]!.GetValue<bool>(), blocked.ToJsonString());
        var blockedTools = blocked["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("system__time", blockedTools);
        var blockedResults = blocked["results"]!.AsArray();
        for (var i = 0; i < definitions.Length; i++)
        {
            Assert.DoesNotContain(definitions[i].ToolName, blockedTools);
            Assert.True(blockedResults[i]!["isError"]!.GetValue<bool>(), blockedResults[i]!.ToJsonString());
            Assert.Equal("PolicyDenied", blockedResults[i]!["body"]!["error"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Should_refuse_to_start_when_a_definition_has_no_handler()
    {
        // act
        var e = await Assert.ThrowsAsync<CapabilityModuleException>(() =>
            TestGateway.StartCustomizedAsync(b => b.Services.AddCapabilityModule<UnboundModule>()));

        // assert
        Assert.Contains("unbound.orphan", e.Message);
        Assert.Contains("'unbound'", e.Message);
    }

    [Fact]
    public async Task Should_refuse_to_start_when_a_handler_has_no_definition()
    {
        // act
        var e = await Assert.ThrowsAsync<CapabilityModuleException>(() =>
            TestGateway.StartCustomizedAsync(b => b.Services.AddCapabilityModule<StrayHandlerModule>()));

        // assert
        Assert.Contains("stray.only", e.Message);
        Assert.Contains("'stray'", e.Message);
    }
}
