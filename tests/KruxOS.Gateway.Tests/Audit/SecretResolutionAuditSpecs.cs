using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Control;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using KruxOS.Gateway.Control;
using KruxOS.Testing;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>
/// A secret is never used unaudited (ADR 0037): an <see cref="ISecretAccess"/> resolution whose <c>secrets.use</c> entry
/// the audit writer refuses is refused, with <c>ServiceUnavailable</c> for the agent and no value handed out.
/// </summary>
public sealed class SecretResolutionAuditSpecs(HaltableAuditGateway fixture) : IClassFixture<HaltableAuditGateway>
{
    private static readonly CapabilityName Credentialed = CapabilityName.Parse("network.credentialed_request");

    private TestGateway Gateway => fixture.Gateway;
    private IServiceProvider Services => Gateway.Services;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Id() => Guid.NewGuid().ToString("N")[..8];

    private async Task<JsonNode> Control(string method, JsonObject p)
    {
        var line = await Services.GetRequiredService<ControlCommands>().ExecuteAsync(null, method, p, Ct);
        return JsonNode.Parse(line)!;
    }

    [Fact]
    public async Task Should_refuse_a_secret_resolution_whose_audit_entry_cannot_be_written_and_hand_out_no_value()
    {
        // arrange: a secret for one host, and an agent to make the writer halt
        var token = await Gateway.CreateAgentAsync("resolver-" + Id());
        var name = "res-" + Id();
        Assert.True((await Control(ControlProtocol.Methods.VaultAdd, new JsonObject
            { ["name"] = name, ["type"] = "api_key", ["allowed_capabilities"] = "network.credentialed_request", ["allowed_hosts"] = "api.example.com", ["value"] = "sk_resolve_" + Id() }))["ok"]!.GetValue<bool>());
        var secrets = Services.GetRequiredService<ISecretAccess>();
        var use = new SecretUseContext(AgentName.Parse("alice"), "s-audit", new SecretUseRequest(name, Credentialed, new SecretDestination("api.example.com", HostKind.Dns, true, "allowed")));
        using (var granted = await secrets.ResolveAsync(use, Ct)) Assert.True(granted.Granted, "the control resolution should be granted");

        // act
        SecretResolution? refused = null;
        await fixture.WhileAuditRefusesAsync(token, async () => refused = await secrets.ResolveAsync(use, Ct));

        // assert: not granted, and the agent's error says the audit is unavailable
        using (refused)
        {
            Assert.NotNull(refused);
            Assert.False(refused!.Granted);
            Assert.Null(refused.Value);
            Assert.Equal("ServiceUnavailable", refused.Decision.AgentError!.ErrorType);
        }
    }
}
