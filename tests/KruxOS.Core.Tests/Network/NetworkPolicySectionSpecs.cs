using System.Net;
using KruxOS.Core.Network;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Network;

/// <summary>The <c>network</c> section of policy files: parsing, errors with lines, and the per-principal layers.</summary>
public sealed class NetworkPolicySectionSpecs
{
    private static readonly IPAddress[] Public = [IPAddress.Parse("93.184.216.34")];

    [Fact]
    public void Should_compile_domains_and_addresses_into_the_files_layer()
    {
        var set = Compile(("org.yaml", """
            network:
              allowed_domains:
                - api.example.com
                - "*.example.net:8443"
              allowed_addresses:
                - 10.0.0.0/8
                - "[::1]:9000"
            """));
        var network = set.Org!.Network!;
        Assert.Equal("org.yaml", network.Source);
        Assert.Equal(["api.example.com", "*.example.net:8443"], network.Domains.Select(d => d.ToString()));
        Assert.Equal(["10.0.0.0/8", "[::1]:9000"], network.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void Should_report_every_bad_entry_with_its_line()
    {
        var result = TryCompile(("agents/bot.yaml", """
            network:
              allowed_domains:
                - https://api.example.com
                - 10.0.0.1
              allowed_addresses:
                - 10.0.0.1/8
                - example.com
              allowed_ips: []
            """));
        Assert.False(result.Succeeded);
        var lines = result.Errors.Select(e => e.Location.Line).Order().ToArray();
        Assert.Equal([3, 4, 6, 7, 8], lines);
        Assert.Contains(result.Errors, e => e.Code == DiagnosticCodes.UnknownKey && e.Message.Contains("allowed_ips", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Message.Contains("did you mean 10.0.0.0/8", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_refuse_a_network_section_that_is_not_a_mapping_or_lists_that_are_not_lists()
    {
        Assert.False(TryCompile(("org.yaml", "network: [api.example.com]\n")).Succeeded);
        Assert.False(TryCompile(("org.yaml", "network:\n  allowed_domains: api.example.com\n")).Succeeded);
    }

    [Fact]
    public void Should_give_a_principal_the_layers_of_system_org_and_its_own_file()
    {
        var set = Compile(
            ("system.yaml", "network:\n  allowed_domains: ['*.example.com', '*.example.org']\n"),
            ("org.yaml", "network:\n  allowed_domains: ['*.example.com']\n"),
            ("agents/bot.yaml", "network:\n  allowed_domains: [api.example.com]\n"),
            ("agents/other.yaml", "name: other\n"),
            ("user.yaml", "network:\n  allowed_domains: [www.example.com]\n"));
        Assert.Equal(["system.yaml", "org.yaml", "agents/bot.yaml"], set.NetworkFor(Bot).Layers.Select(l => l.Source));
        Assert.Equal(["system.yaml", "org.yaml"], set.NetworkFor(Other).Layers.Select(l => l.Source));
        Assert.Equal(["system.yaml", "org.yaml", "user.yaml"], set.NetworkFor(Operator).Layers.Select(l => l.Source));

        Assert.True(EgressPolicy.Decide("https://api.example.com/", Public, set.NetworkFor(Bot)).Allowed);
        Assert.False(EgressPolicy.Decide("https://www.example.com/", Public, set.NetworkFor(Bot)).Allowed);
        Assert.True(EgressPolicy.Decide("https://www.example.com/", Public, set.NetworkFor(Other)).Allowed);
        Assert.False(EgressPolicy.Decide("https://www.example.org/", Public, set.NetworkFor(Other)).Allowed);
        Assert.True(EgressPolicy.Decide("https://www.example.com/", Public, set.NetworkFor(Operator)).Allowed);
    }

    [Fact]
    public void Should_deny_all_egress_when_no_file_declares_network_and_when_a_declaring_file_is_empty()
    {
        var none = Compile(("org.yaml", "defaults: { tier: notify }\n"));
        Assert.Same(EgressAllowlist.None, none.NetworkFor(Bot));
        Assert.False(EgressPolicy.Decide("https://api.example.com/", Public, none.NetworkFor(Bot)).Allowed);

        var emptyAgent = Compile(("org.yaml", "network:\n  allowed_domains: ['*']\n"), ("agents/bot.yaml", "network: {}\n"));
        Assert.False(EgressPolicy.Decide("https://api.example.com/", Public, emptyAgent.NetworkFor(Bot)).Allowed);
        Assert.True(EgressPolicy.Decide("https://api.example.com/", Public, emptyAgent.NetworkFor(Other)).Allowed);
    }
}
