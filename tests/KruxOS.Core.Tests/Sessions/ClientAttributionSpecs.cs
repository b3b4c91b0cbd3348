using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Core.Tests.Sessions;

/// <summary>The X-KruxOS-Client header rule and clientInfo sanitizing.</summary>
public sealed class ClientAttributionSpecs
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("   ", null)]
    [InlineData("claude-code", "claude-code")]
    [InlineData(" Codex ", "codex")]
    [InlineData("my-cli_2.0", "my-cli_2.0")]
    public void Should_accept_absent_or_short_tokens(string? header, string? expected)
    {
        Assert.True(ClientAttribution.TryParseHeader(header, out var cli, out _));
        Assert.Equal(expected, cli);
    }

    [Theory]
    [InlineData("claude code")]
    [InlineData("-leading-dash")]
    [InlineData("x<script>")]
    [InlineData("käse")]
    [InlineData("a23456789012345678901234567890123")]
    public void Should_refuse_anything_else_with_a_reason(string header)
    {
        Assert.False(ClientAttribution.TryParseHeader(header, out var cli, out var reason));
        Assert.Null(cli);
        Assert.Contains(ClientAttribution.Header, reason);
    }

    [Fact]
    public void Should_sanitize_clientInfo_and_prefer_the_cli_as_the_initiating_client()
    {
        var c = ClientAttribution.FromInitialize("claude\u0007-code\n" + new string('x', 300), "2.1\r\n", "claude-code");
        Assert.Equal(ClientAttribution.MaxInfoLength, c.Name.Length);
        Assert.DoesNotContain('\n', c.Name);
        Assert.StartsWith("claude-code", c.Name);
        Assert.Equal("2.1", c.Version);
        Assert.Equal("claude-code", c.Initiating);
        Assert.Equal("unknown", ClientAttribution.FromInitialize(" ", null, null).Initiating);
    }
}
