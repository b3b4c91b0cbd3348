using KruxOS.Gateway.Endpoints;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>WebSocket upgrades from browser pages: only loopback, the bind address and configured origins (no DNS rebinding).</summary>
public sealed class OriginSpecs
{
    [Fact]
    public async Task Should_refuse_a_dns_rebinding_page_whose_host_and_origin_agree()
    {
        // arrange: a page on evil.example whose name now resolves to this gateway: Host and Origin match each other
        await using var gateway = await TestGateway.StartAsync(null, "--Gateway:AllowedOrigins:0", "https://dashboard.example");
        var token = await gateway.CreateAgentAsync("origin-agent");
        Dictionary<string, string> Headers(string? host, string origin)
        {
            var h = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}", ["Origin"] = origin };
            if (host is not null) h["Host"] = host;
            return h;
        }

        // act
        await using var rebound = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp", Headers("evil.example:7700", "http://evil.example:7700"));
        await using var crossSite = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp", Headers(null, "http://evil.example:7700"));
        await using var loopback = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp", Headers(null, "http://localhost:5173"));
        await using var configured = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp", Headers(null, "https://dashboard.example"));

        // assert: the rebound name is refused before anything else looks at the request (Host filter, ADR 0022); a page
        // that connects to 127.0.0.1 directly is refused by its Origin
        Assert.Equal(421, rebound.Answer.Status);
        Assert.Equal("request.host_not_allowed", rebound.Answer.Json["error_type"]!.GetValue<string>());
        Assert.Equal(403, crossSite.Answer.Status);
        Assert.Equal("auth.origin_refused", crossSite.Answer.Json["error_type"]!.GetValue<string>());
        Assert.Equal(101, loopback.Answer.Status);
        Assert.Equal(101, configured.Answer.Status);
    }

    [Theory]
    [InlineData(null, "127.0.0.1", true)]
    [InlineData("", "127.0.0.1", true)]
    [InlineData("http://127.0.0.1:7700", "127.0.0.1", true)]
    [InlineData("http://localhost:3000", "0.0.0.0", true)]
    [InlineData("http://[::1]:7700", "0.0.0.0", true)]
    [InlineData("http://192.168.1.20:7700", "192.168.1.20", true)]
    [InlineData("http://192.168.1.20:7700", "0.0.0.0", false)]
    [InlineData("http://192.168.1.21:7700", "192.168.1.20", false)]
    [InlineData("http://evil.example:7700", "0.0.0.0", false)]
    [InlineData("http://localhost.evil.example", "127.0.0.1", false)]
    [InlineData("null", "127.0.0.1", false)]
    [InlineData("file:///home/x/page.html", "127.0.0.1", false)]
    [InlineData("https://dashboard.example", "0.0.0.0", true)]
    [InlineData("https://dashboard.example/", "0.0.0.0", true)]
    [InlineData("http://dashboard.example", "0.0.0.0", false)]
    [InlineData("https://dashboard.example:8443", "0.0.0.0", false)]
    public void Should_allow_only_loopback_the_bind_address_and_configured_origins(string? origin, string bind, bool allowed) =>
        Assert.Equal(allowed, WebSocketOrigins.Allows(origin, bind, ["https://dashboard.example/"]));
}
