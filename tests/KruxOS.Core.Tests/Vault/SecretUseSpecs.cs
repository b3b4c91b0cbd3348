using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using Xunit;
using static KruxOS.Core.Tests.Vault.VaultTestData;
using static KruxOS.Core.Vault.VaultCommands;

namespace KruxOS.Core.Tests.Vault;

/// <summary>"Use, never read": the decision, and that every refusal concerning the secret looks the same to the agent.</summary>
public sealed class SecretUseSpecs
{
    private static readonly CapabilityName Credentialed = CapabilityName.Parse("network.credentialed_request");

    private static readonly VaultState State = Build();

    private static VaultState Build()
    {
        var s = Initialized();
        s = Run(s, Add("stripe", ["network.credentialed_request"], ["api.stripe.com"]));
        s = Run(s, Add("wide", ["network.*"], ["*.example.com"]));
        s = Run(s, Add("anyhost", ["*"], ["*"]));
        s = Run(s, Add("nocaps", [], ["api.stripe.com"]));
        s = Run(s, Add("nohosts", ["network.credentialed_request"], []));
        s = Run(s, Add("email-only", ["email.*"], ["api.stripe.com"]));
        s = Run(s, Add("revoked", ["network.credentialed_request"], ["api.stripe.com"]));
        s = Run(s, new RevokeSecret(SecretName.Parse("revoked"), "rotated out", T0));
        s = Run(s, Add("ip", ["network.credentialed_request"], ["10.0.0.5"]));
        return s;
    }

    private static SecretDestination To(string host, bool egress = true)
    {
        Assert.True(HostNames.TryNormalize(host, out var h, out var kind, out var error), error);
        return new SecretDestination(h, kind, egress, egress ? "allowed by org.yaml" : "not in network.allowed_domains of org.yaml");
    }

    private static SecretUseDecision Use(string name, string host = "api.stripe.com", bool egress = true, bool unlocked = true, string capability = "network.credentialed_request") =>
        SecretUse.Decide(State, unlocked, new SecretUseRequest(name, CapabilityName.Parse(capability), To(host, egress)));

    [Theory]
    [InlineData("stripe", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.Granted)]
    [InlineData("stripe", "API.STRIPE.COM", "network.credentialed_request", SecretUseOutcome.Granted)]
    [InlineData("stripe", "evil.example", "network.credentialed_request", SecretUseOutcome.HostNotAllowed)]
    [InlineData("stripe", "api.stripe.com.evil.example", "network.credentialed_request", SecretUseOutcome.HostNotAllowed)]
    [InlineData("stripe", "api.stripe.com", "network.http_request", SecretUseOutcome.CapabilityNotAllowed)]
    [InlineData("wide", "a.b.example.com", "network.http_request", SecretUseOutcome.Granted)]
    [InlineData("wide", "example.com", "network.http_request", SecretUseOutcome.HostNotAllowed)]
    [InlineData("wide", "a.example.com", "email.send", SecretUseOutcome.CapabilityNotAllowed)]
    [InlineData("anyhost", "anything.example", "email.send", SecretUseOutcome.Granted)]
    [InlineData("nocaps", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.NoCapabilitiesListed)]
    [InlineData("nohosts", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.NoHostsListed)]
    [InlineData("email-only", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.CapabilityNotAllowed)]
    [InlineData("revoked", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.Revoked)]
    [InlineData("absent", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.Absent)]
    [InlineData("Stripe", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.Absent)]
    [InlineData("../stripe", "api.stripe.com", "network.credentialed_request", SecretUseOutcome.Absent)]
    [InlineData("ip", "10.0.0.5", "network.credentialed_request", SecretUseOutcome.Granted)]
    [InlineData("ip", "10.0.0.6", "network.credentialed_request", SecretUseOutcome.HostNotAllowed)]
    public void Should_decide_by_capability_and_host(string name, string host, string capability, SecretUseOutcome expected)
    {
        var d = Use(name, host, capability: capability);
        Assert.Equal(expected, d.Outcome);
        Assert.Equal(expected == SecretUseOutcome.Granted, d.Granted);
        Assert.Equal(expected == SecretUseOutcome.Granted, d.Record is not null);
        Assert.Equal(expected == SecretUseOutcome.Granted, d.AgentError is null);
    }

    [Fact]
    public void Should_check_only_capabilities_for_a_use_that_sends_the_value_nowhere()
    {
        var d = SecretUse.Decide(State, true, new SecretUseRequest("nohosts", Credentialed, null));
        Assert.True(d.Granted);
    }

    // Adversarial: an agent probes names and capabilities to learn which secrets exist. Every refusal that concerns
    // the secret must give it byte-identical errors; only the audit reason differs.
    [Fact]
    public void Should_give_the_agent_the_same_error_for_absent_revoked_and_denied_secrets()
    {
        string AgentView(SecretUseDecision d, string name) =>
            JsonSerializer.Serialize(d.AgentError!, CoreJson.Options).Replace(name, "<name>", StringComparison.Ordinal);

        var probes = new (string Name, string Host, string Capability)[]
        {
            ("absent", "api.stripe.com", "network.credentialed_request"),
            ("revoked", "api.stripe.com", "network.credentialed_request"),
            ("nocaps", "api.stripe.com", "network.credentialed_request"),
            ("nohosts", "api.stripe.com", "network.credentialed_request"),
            ("email-only", "api.stripe.com", "network.credentialed_request"),
            ("stripe", "other.example", "network.credentialed_request"),
            ("stripe", "api.stripe.com", "network.http_request"),
        };
        var views = probes.Select(p => (Decision: Use(p.Name, p.Host, capability: p.Capability), p.Name)).ToList();
        Assert.All(views, v => Assert.False(v.Decision.Granted));
        Assert.Single(views.Select(v => AgentView(v.Decision, v.Name)).Distinct());
        Assert.Equal("SecretNotFound", views[0].Decision.AgentError!.ErrorType);
        // ... while the audit tells them apart.
        Assert.Equal(views.Count, views.Select(v => v.Decision.Outcome.ToWire() + v.Decision.Reason).Distinct().Count());
    }

    // The egress verdict and the lock come first, so they cannot be combined with the secret checks into an oracle:
    // for a refused destination or a locked vault, the answer is the same for every name.
    [Fact]
    public void Should_answer_egress_refusals_and_a_locked_vault_the_same_for_every_name()
    {
        foreach (var name in new[] { "stripe", "absent", "revoked", "nocaps" })
        {
            var egress = Use(name, "api.stripe.com", egress: false);
            Assert.Equal(SecretUseOutcome.EgressDenied, egress.Outcome);
            Assert.Equal("HostNotAllowed", egress.AgentError!.ErrorType);
            var locked = Use(name, unlocked: false);
            Assert.Equal(SecretUseOutcome.VaultLocked, locked.Outcome);
            Assert.Equal("VaultLocked", locked.AgentError!.ErrorType);
        }
        var uninitialised = SecretUse.Decide(VaultState.Empty, true, new SecretUseRequest("stripe", Credentialed, To("api.stripe.com")));
        Assert.Equal(SecretUseOutcome.VaultLocked, uninitialised.Outcome);
    }

    [Fact]
    public void Should_build_the_destination_from_an_egress_decision()
    {
        var allowlist = new EgressAllowlist([new NetworkAllowlist("org.yaml", [DomainRule.TryParse("api.stripe.com", out var r, out _) ? r : null!], [])]);
        var egress = EgressPolicy.Decide("https://API.stripe.com/v1/charges", [System.Net.IPAddress.Parse("93.184.216.34")], allowlist);
        var destination = SecretDestination.From(egress);
        Assert.Equal("api.stripe.com", destination.Host);
        Assert.True(destination.EgressAllowed);
        Assert.True(SecretUse.Decide(State, true, new SecretUseRequest("stripe", Credentialed, destination)).Granted);
        var invalid = EgressPolicy.Decide("ftp://x/", [], allowlist);
        Assert.Throws<ArgumentException>(() => SecretDestination.From(invalid));
    }
}
