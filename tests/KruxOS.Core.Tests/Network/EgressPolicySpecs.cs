using System.Collections.Immutable;
using System.Net;
using KruxOS.Core.Network;
using Xunit;

namespace KruxOS.Core.Tests.Network;

/// <summary>
/// The egress decision (ADR 0034), table-driven: URL parsing, name checks before resolution, address checks after
/// it (server-side request forgery), layering and the address to connect to.
/// </summary>
public sealed class EgressPolicySpecs
{
    /// <summary>A layer from entries: <c>d:</c> for allowed_domains, <c>a:</c> for allowed_addresses.</summary>
    internal static NetworkAllowlist Layer(string source, params string[] entries)
    {
        var domains = ImmutableArray.CreateBuilder<DomainRule>();
        var addresses = ImmutableArray.CreateBuilder<AddressRule>();
        foreach (var e in entries)
        {
            if (e.StartsWith("d:", StringComparison.Ordinal))
            {
                Assert.True(DomainRule.TryParse(e[2..], out var d, out var error), error);
                domains.Add(d);
            }
            else
            {
                Assert.True(AddressRule.TryParse(e[2..], out var a, out var error), error);
                addresses.Add(a);
            }
        }
        return new NetworkAllowlist(source, domains.ToImmutable(), addresses.ToImmutable());
    }

    internal static EgressAllowlist Allow(params NetworkAllowlist[] layers) => new([.. layers]);

    private static IPAddress[] Ips(string csv) => csv.Length == 0 ? [] : [.. csv.Split(',').Select(IPAddress.Parse)];

    // The allowlist most cases use: an org layer with public APIs and two explicit internal rules.
    private static readonly EgressAllowlist Org = Allow(Layer("org.yaml",
        "d:api.example.com", "d:*.cdn.example.net", "d:files.example.org:8443", "d:ports.example.org:8000-8100", "d:any-port.example.org:*",
        "d:internal.example.com", "d:metadata.google.internal",
        "a:10.1.0.0/16", "a:127.0.0.1:9000", "a:[::1]:9001", "a:169.254.169.254:80", "a:93.184.216.34", "a:0.0.0.0/0:7777"));

    [Theory]
    [InlineData("")]
    [InlineData("not a url")]
    [InlineData("/relative/path")]
    [InlineData("ftp://api.example.com/")]
    [InlineData("file:///etc/passwd")]
    [InlineData("gopher://api.example.com/")]
    [InlineData("javascript:alert(1)")]
    [InlineData("https://user:pass@api.example.com/")]
    [InlineData("https://api.example.com@evil.example/")]
    [InlineData("https://api.example.com:0/")]
    [InlineData("https://api.example.com:99999/")]
    [InlineData("https://api.example.com/a b")]
    [InlineData("https://api.example.com/\n")]
    [InlineData("http://127.1/")]
    [InlineData("http://[fe80::1%25eth0]/")]
    [InlineData("http://exa mple.com/")]
    public void Should_refuse_urls_that_are_not_plain_http_or_https(string url)
    {
        var d = EgressPolicy.Decide(url, Ips("93.184.216.34"), Org);
        Assert.False(d.Allowed);
        if (url == "http://127.1/")
        {
            // System.Uri reads 127.1 as 127.0.0.1: an address URL, refused by the address check instead.
            Assert.Equal(EgressRefusal.DomainNotAllowed, d.Refusal);
            return;
        }
        Assert.Equal(EgressRefusal.InvalidUrl, d.Refusal);
        Assert.Equal("InvalidUrl", d.ToError().ErrorType);
    }

    [Theory]
    // exact name, scheme default ports
    [InlineData("https://api.example.com/v1", "93.184.216.34", true)]
    [InlineData("http://api.example.com/v1", "93.184.216.34", true)]
    [InlineData("https://API.Example.COM./v1", "93.184.216.34", true)]
    [InlineData("https://api.example.com:8443/", "93.184.216.34", false)]
    [InlineData("http://api.example.com:443/", "93.184.216.34", false)]
    [InlineData("https://x.api.example.com/", "93.184.216.34", false)]
    [InlineData("https://example.com/", "93.184.216.34", false)]
    [InlineData("https://api.example.com.evil.net/", "93.184.216.34", false)]
    // suffix
    [InlineData("https://img.cdn.example.net/a.png", "151.101.1.1", true)]
    [InlineData("https://a.b.cdn.example.net/", "151.101.1.1", true)]
    [InlineData("https://cdn.example.net/", "151.101.1.1", false)]
    // explicit ports, ranges, any port
    [InlineData("https://files.example.org:8443/x", "151.101.1.2", true)]
    [InlineData("https://files.example.org/x", "151.101.1.2", false)]
    [InlineData("http://ports.example.org:8050/", "151.101.1.3", true)]
    [InlineData("http://ports.example.org:8101/", "151.101.1.3", false)]
    [InlineData("http://any-port.example.org:31337/", "151.101.1.4", true)]
    // not listed at all
    [InlineData("https://evil.example/", "93.184.216.34", false)]
    public void Should_decide_names_and_ports(string url, string resolved, bool allowed)
    {
        var d = EgressPolicy.Decide(url, Ips(resolved), Org);
        Assert.True(allowed == d.Allowed, d.Reason);
        if (allowed) Assert.Equal(IPAddress.Parse(resolved), d.ConnectTo!.Address);
        else Assert.Equal("DomainNotAllowed", d.ToError().ErrorType);
    }

    [Theory]
    // an allowed name that resolves to a special address is refused (DNS rebinding, internal names)
    [InlineData("https://api.example.com/", "127.0.0.1", false, "loopback")]
    [InlineData("https://api.example.com/", "::1", false, "loopback")]
    [InlineData("https://api.example.com/", "::ffff:127.0.0.1", false, "loopback")]
    [InlineData("https://api.example.com/", "0.0.0.0", false, "unspecified")]
    [InlineData("https://api.example.com/", "10.0.0.1", false, "private")]
    [InlineData("https://api.example.com/", "192.168.1.10", false, "private")]
    [InlineData("https://api.example.com/", "172.20.0.1", false, "private")]
    [InlineData("https://api.example.com/", "fd00::1", false, "private")]
    [InlineData("https://api.example.com/", "169.254.10.10", false, "link-local")]
    [InlineData("https://api.example.com/", "fe80::1", false, "link-local")]
    [InlineData("https://api.example.com/", "100.64.1.1", false, "carrier-grade NAT")]
    [InlineData("https://api.example.com/", "169.254.169.254", false, "cloud metadata")]
    [InlineData("https://api.example.com/", "fd00:ec2::254", false, "cloud metadata")]
    [InlineData("https://api.example.com/", "::ffff:169.254.169.254", false, "cloud metadata")]
    [InlineData("https://api.example.com/", "224.0.0.1", false, "multicast")]
    [InlineData("https://api.example.com/", "255.255.255.255", false, "broadcast")]
    [InlineData("https://api.example.com/", "64:ff9b::7f00:1", false, "loopback")]
    [InlineData("https://api.example.com/", "192.0.2.1", false, "reserved")]
    // a mixed answer is refused whole
    [InlineData("https://api.example.com/", "93.184.216.34,127.0.0.1", false, "loopback")]
    [InlineData("https://api.example.com/", "127.0.0.1,93.184.216.34", false, "loopback")]
    // an explicit rule opens its own block, at its ports
    [InlineData("https://internal.example.com/", "10.1.2.3", true, "")]
    [InlineData("https://internal.example.com/", "10.2.0.1", false, "private")]
    [InlineData("https://internal.example.com/", "::ffff:10.1.2.3", true, "")]
    [InlineData("http://internal.example.com:9000/", "127.0.0.1", false, "")] // the name rule has no port 9000
    // the rule's block, at the scheme's default port
    [InlineData("http://internal.example.com/", "10.1.9.9", true, "")]
    public void Should_refuse_special_addresses_unless_a_rule_opens_them(string url, string resolved, bool allowed, string words)
    {
        var d = EgressPolicy.Decide(url, Ips(resolved), Org);
        Assert.True(allowed == d.Allowed, d.Reason);
        if (!allowed) Assert.Contains(words, d.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:9000/", true)]
    [InlineData("http://127.0.0.1:9001/", false)]
    [InlineData("http://127.0.0.2:9000/", false)]
    [InlineData("http://[::1]:9001/", true)]
    [InlineData("http://[::ffff:127.0.0.1]:9000/", true)]
    [InlineData("http://0x7f000001:9000/", true)]            // System.Uri reads it as 127.0.0.1; the rule names it
    [InlineData("http://2130706433:9001/", false)]
    [InlineData("http://10.1.255.254/", true)]
    [InlineData("http://10.2.0.1/", false)]
    [InlineData("http://169.254.169.254/latest/meta-data/", true)]  // named exactly
    [InlineData("http://169.254.169.253/", false)]
    [InlineData("https://93.184.216.34/", true)]
    [InlineData("https://93.184.216.35/", false)]               // public, but an address URL needs a rule
    [InlineData("http://93.184.216.35:7777/", true)]            // 0.0.0.0/0:7777 opens public addresses on 7777
    [InlineData("http://10.1.2.3:7777/", false)]                // ... and no private one (10.1.0.0/16 has no port 7777)
    [InlineData("http://192.168.0.1:7777/", false)]
    [InlineData("http://[fd00:ec2::254]/", false)]
    public void Should_decide_address_urls_by_address_rules_alone(string url, bool allowed)
    {
        var d = EgressPolicy.Decide(url, Ips("8.8.8.8"), Org);
        Assert.True(allowed == d.Allowed, d.Reason);
        if (allowed) Assert.Equal(d.Target!.Literal!.IsIPv4MappedToIPv6 ? d.Target.Literal.MapToIPv4() : d.Target.Literal, d.ConnectTo!.Address);
    }

    [Fact]
    public void Should_open_a_metadata_address_only_with_a_rule_naming_it_exactly()
    {
        var broad = Allow(Layer("org.yaml", "d:api.example.com", "a:169.254.0.0/16"));
        Assert.True(EgressPolicy.Decide("http://api.example.com/", Ips("169.254.10.10"), broad).Allowed);
        Assert.False(EgressPolicy.Decide("http://api.example.com/", Ips("169.254.169.254"), broad).Allowed);
        var exact = Allow(Layer("org.yaml", "d:api.example.com", "a:169.254.169.254"));
        Assert.True(EgressPolicy.Decide("http://api.example.com/", Ips("169.254.169.254"), exact).Allowed);
    }

    [Fact]
    public void Should_refuse_metadata_names_unless_listed_by_their_exact_name()
    {
        var wildcard = Allow(Layer("org.yaml", "d:*", "d:*.internal", "a:169.254.169.254"));
        var d = EgressPolicy.Decide("http://metadata.google.internal/computeMetadata/v1/", Ips("169.254.169.254"), wildcard);
        Assert.False(d.Allowed);
        Assert.Contains("cloud metadata", d.Reason, StringComparison.Ordinal);
        // Listed exactly (Org) and its address named exactly (on port 80): allowed.
        Assert.True(EgressPolicy.Decide("http://metadata.google.internal/", Ips("169.254.169.254"), Org).Allowed);
        Assert.False(EgressPolicy.Decide("https://metadata.google.internal/", Ips("169.254.169.254"), Org).Allowed);
    }

    [Fact]
    public void Should_deny_everything_when_no_layer_declares_a_network_section()
    {
        var d = EgressPolicy.Decide("https://api.example.com/", Ips("93.184.216.34"), EgressAllowlist.None);
        Assert.False(d.Allowed);
        Assert.Contains("deny by default", d.Reason, StringComparison.Ordinal);
        var empty = Allow(Layer("agents/bot.yaml"));
        Assert.False(EgressPolicy.Decide("https://api.example.com/", Ips("93.184.216.34"), empty).Allowed);
    }

    [Fact]
    public void Should_require_every_declaring_layer_to_allow_the_destination()
    {
        var org = Layer("org.yaml", "d:*.example.com", "a:10.0.0.0/8");
        var agent = Layer("agents/bot.yaml", "d:api.example.com");
        var both = Allow(org, agent);
        Assert.True(EgressPolicy.Decide("https://api.example.com/", Ips("93.184.216.34"), both).Allowed);
        var other = EgressPolicy.Decide("https://www.example.com/", Ips("93.184.216.34"), both);
        Assert.False(other.Allowed);
        Assert.Contains("agents/bot.yaml", other.Reason, StringComparison.Ordinal);
        // The org rule opens 10/8, but the agent layer has no address rule: most restrictive wins.
        var inside = EgressPolicy.Decide("https://api.example.com/", Ips("10.0.0.5"), both);
        Assert.False(inside.Allowed);
        Assert.Contains("agents/bot.yaml", inside.Reason, StringComparison.Ordinal);
        // An agent layer cannot widen the org's list.
        var wide = Allow(Layer("org.yaml", "d:api.example.com"), Layer("agents/bot.yaml", "d:*"));
        Assert.False(EgressPolicy.Decide("https://evil.example/", Ips("93.184.216.34"), wide).Allowed);
    }

    [Fact]
    public void Should_check_the_name_before_resolution_and_return_no_address_for_a_name()
    {
        Assert.True(EgressPolicy.TryParseTarget("https://api.example.com/x", out var target, out _));
        var byName = EgressPolicy.CheckName(target, Org);
        Assert.True(byName.Allowed);
        Assert.Null(byName.ConnectTo);
        Assert.False(byName.IsFinal);
        Assert.True(EgressPolicy.TryParseTarget("https://evil.example/", out var evil, out _));
        Assert.False(EgressPolicy.CheckName(evil, Org).Allowed);
        Assert.True(EgressPolicy.CheckName(evil, Org).IsFinal);
    }

    [Fact]
    public void Should_connect_to_the_first_checked_address_and_report_an_empty_resolution_as_no_address()
    {
        var d = EgressPolicy.Decide("https://api.example.com:443/", Ips("2606:4700::1,93.184.216.34"), Org);
        Assert.True(d.Allowed, d.Reason);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2606:4700::1"), 443), d.ConnectTo);
        Assert.Equal("api.example.com", d.Target!.Host);
        var none = EgressPolicy.Decide("https://api.example.com/", [], Org);
        Assert.Equal(EgressRefusal.NoAddress, none.Refusal);
        Assert.Equal("RequestFailed", none.ToError().ErrorType);
    }

    [Fact]
    public void Should_ignore_the_resolver_for_a_url_that_names_an_address()
    {
        // A hostile resolver answer cannot change the decision for an address URL.
        var d = EgressPolicy.Decide("http://127.0.0.1:9000/", Ips("93.184.216.34"), Org);
        Assert.True(d.Allowed);
        Assert.Equal(IPAddress.Loopback, d.ConnectTo!.Address);
    }

    [Theory]
    [InlineData("api.example.com", "api.example.com", "")]
    [InlineData("API.example.com:443", "api.example.com", ":443")]
    [InlineData("*.example.com:8000-8100", "*.example.com", ":8000-8100")]
    [InlineData("*:*", "*", ":*")]
    public void Should_parse_domain_rules(string text, string host, string ports)
    {
        Assert.True(DomainRule.TryParse(text, out var rule, out var error), error);
        Assert.Equal(host, rule.Host.ToString());
        Assert.Equal(ports, rule.Ports.ToString());
    }

    [Theory]
    [InlineData("https://api.example.com")]
    [InlineData("api.example.com/path")]
    [InlineData("10.0.0.1")]
    [InlineData("[::1]:80")]
    [InlineData("api.example.com:0")]
    [InlineData("api.example.com:65536")]
    [InlineData("api.example.com:90-80")]
    [InlineData("api.example.com:http")]
    [InlineData("*.")]
    [InlineData("")]
    public void Should_refuse_malformed_domain_rules(string text) => Assert.False(DomainRule.TryParse(text, out _, out _));

    [Theory]
    [InlineData("10.0.0.5", "10.0.0.5")]
    [InlineData("10.0.0.0/8", "10.0.0.0/8")]
    [InlineData("10.0.0.0/8:443", "10.0.0.0/8:443")]
    [InlineData("::1", "::1")]
    [InlineData("[::1]:8080", "[::1]:8080")]
    [InlineData("[fd00::/8]:*", "[fd00::/8]:*")]
    [InlineData("0.0.0.0/0:7777", "0.0.0.0/0:7777")]
    public void Should_parse_address_rules(string text, string printed)
    {
        Assert.True(AddressRule.TryParse(text, out var rule, out var error), error);
        Assert.Equal(printed, rule.ToString());
    }

    [Theory]
    [InlineData("10.0.0.1/8")]        // host bits set
    [InlineData("10.0.0.0/33")]
    [InlineData("::ffff:10.0.0.1")]   // write the IPv4 form
    [InlineData("fe80::1%eth0")]
    [InlineData("127.1")]
    [InlineData("example.com")]
    [InlineData("10.0.0.0/8:0")]
    [InlineData("[::1")]
    [InlineData("")]
    public void Should_refuse_malformed_address_rules(string text) => Assert.False(AddressRule.TryParse(text, out _, out _));
}
