using KruxOS.LoadTest.Cli;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class LoopbackGuardSpecs
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.4.5.6")]
    [InlineData("::1")]
    [InlineData("[::1]")]
    [InlineData("localhost")]
    [InlineData("LocalHost")]
    public void Should_accept_host_when_it_is_loopback(string host) =>
        Assert.True(LoopbackGuard.IsLoopback(host));

    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("192.168.1.20")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("example.com")]
    [InlineData("127.0.0.1.nip.io")]
    [InlineData("localhost.example.com")]
    [InlineData("")]
    [InlineData(null)]
    public void Should_refuse_host_when_it_is_not_loopback(string? host) =>
        Assert.False(LoopbackGuard.IsLoopback(host));

    [Theory]
    [InlineData("ws://10.1.2.3:7700/mcp")]
    [InlineData("http://example.com/mcp")]
    [InlineData("http://[2001:db8::1]:80/mcp")]
    public void Should_throw_when_a_uri_leaves_loopback(string uri) =>
        Assert.Throws<LoopbackOnlyException>(() => LoopbackGuard.Require(new Uri(uri)));

    [Fact]
    public void Should_return_uri_when_it_is_loopback()
    {
        // arrange
        var uri = new Uri("ws://[::1]:7700/mcp");
        // act / assert
        Assert.Same(uri, LoopbackGuard.Require(uri));
    }

    [Fact]
    public void Should_refuse_the_command_line_when_host_is_not_loopback() =>
        Assert.Throws<LoopbackOnlyException>(() => DriverOptions.Parse(["--host", "203.0.113.7"]));
}
