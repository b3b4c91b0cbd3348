using KruxOS.Core.Network;
using Xunit;
using static KruxOS.Core.Tests.Network.EgressPolicySpecs;

namespace KruxOS.Core.Tests.Network;

/// <summary>
/// The check before a name lookup (<c>network.dns_lookup</c>): the name must be allowed by a domain rule of every
/// declaring layer, whatever the ports; metadata names only by an exact rule; nothing declared allows nothing.
/// </summary>
public sealed class LookupCheckSpecs
{
    [Theory]
    [InlineData("api.example.com", true)]
    [InlineData("ci.example.com", true)]            // a rule with a port still allows the lookup
    [InlineData("deep.sub.example.org", true)]
    [InlineData("example.org", false)]              // *.example.org does not cover the suffix itself
    [InlineData("evil.example", false)]
    [InlineData("metadata.google.internal", false)] // a wildcard never opens a metadata name
    public void Should_allow_a_lookup_only_for_a_name_every_declaring_layer_allows(string host, bool allowed)
    {
        var org = Layer("org.yaml", "d:api.example.com", "d:ci.example.com:8443", "d:*.example.org", "d:*.internal");
        var agent = Layer("agents/bot.yaml", "d:*");

        var refusal = EgressPolicy.CheckLookup(host, Allow(org, agent));

        Assert.Equal(allowed, refusal is null);
    }

    [Fact]
    public void Should_refuse_every_lookup_when_no_layer_declares_a_network_section_or_one_layer_refuses()
    {
        Assert.Contains("deny by default", EgressPolicy.CheckLookup("api.example.com", EgressAllowlist.None));
        var refusal = EgressPolicy.CheckLookup("api.example.com", Allow(Layer("org.yaml", "d:*"), Layer("agents/bot.yaml", "d:other.example.com")));
        Assert.Contains("agents/bot.yaml", refusal);
    }

    [Fact]
    public void Should_allow_a_metadata_name_only_by_its_exact_rule()
    {
        Assert.Null(EgressPolicy.CheckLookup("metadata.google.internal", Allow(Layer("org.yaml", "d:metadata.google.internal"))));
    }
}
