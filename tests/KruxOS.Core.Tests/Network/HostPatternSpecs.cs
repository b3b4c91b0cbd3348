using KruxOS.Core.Network;
using Xunit;

namespace KruxOS.Core.Tests.Network;

/// <summary>Host names and patterns as allowlists compare them.</summary>
public sealed class HostPatternSpecs
{
    [Theory]
    [InlineData("Example.COM", "example.com", HostKind.Dns)]
    [InlineData("example.com.", "example.com", HostKind.Dns)]
    [InlineData("bücher.de", "xn--bcher-kva.de", HostKind.Dns)]
    [InlineData("a_b.example.com", "a_b.example.com", HostKind.Dns)]
    [InlineData("10.0.0.1", "10.0.0.1", HostKind.IPv4)]
    [InlineData("[::1]", "::1", HostKind.IPv6)]
    [InlineData("::FFFF:127.0.0.1", "::ffff:127.0.0.1", HostKind.IPv6)]
    [InlineData("2001:DB8:0:0::1", "2001:db8::1", HostKind.IPv6)]
    public void Should_normalise_hosts(string host, string expected, HostKind kind)
    {
        Assert.True(HostNames.TryNormalize(host, out var normalized, out var k, out var error), error);
        Assert.Equal(expected, normalized);
        Assert.Equal(kind, k);
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.1")]            // inet_aton reads it as 127.0.0.1
    [InlineData("0x7f.1")]
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("010.0.0.1")]         // octal in some parsers
    [InlineData("1.2.3.256")]
    [InlineData("a..b")]
    [InlineData("-a.example.com")]
    [InlineData("a b.com")]
    [InlineData("a\u0000b.com")]
    [InlineData("exa$mple.com")]
    [InlineData("[::1")]
    [InlineData("fe80::1%eth0")]
    public void Should_refuse_ambiguous_or_malformed_hosts(string host) =>
        Assert.False(HostNames.TryNormalize(host, out _, out _, out _));

    [Theory]
    [InlineData("api.example.com", "api.example.com", true)]
    [InlineData("api.example.com", "API.Example.com", true)]
    [InlineData("api.example.com", "x.api.example.com", false)]
    [InlineData("*.example.com", "api.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "evilexample.com", false)]
    [InlineData("*.example.com", "example.com.evil.net", false)]
    [InlineData("*", "anything.example", true)]
    [InlineData("10.0.0.5", "10.0.0.5", true)]
    [InlineData("*.example.com", "10.0.0.5", false)]
    public void Should_match_exact_suffix_and_any(string pattern, string host, bool matches)
    {
        var p = HostPattern.Parse(pattern);
        Assert.True(HostNames.TryNormalize(host, out var normalized, out var kind, out var error), error);
        Assert.Equal(matches, p.Matches(normalized, kind));
    }

    [Theory]
    [InlineData("*.")]
    [InlineData("*.*.example.com")]
    [InlineData("api.*.com")]
    [InlineData("*example.com")]
    [InlineData("*.10.0.0.1")]
    public void Should_refuse_other_wildcards(string pattern) => Assert.False(HostPattern.TryParse(pattern, out _, out _));

    [Fact]
    public void Should_print_patterns_as_written_in_policy_files()
    {
        Assert.Equal("*.example.com", HostPattern.Parse("*.Example.COM").ToString());
        Assert.Equal("*", HostPattern.Parse("*").ToString());
        Assert.Equal("xn--bcher-kva.de", HostPattern.Parse("bücher.de").ToString());
    }
}
