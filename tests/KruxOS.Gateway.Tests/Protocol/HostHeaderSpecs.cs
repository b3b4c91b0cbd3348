using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>
/// DNS rebinding (issue 14, item 10): a web page whose own name now resolves to 127.0.0.1 reaches the loopback
/// listeners with <c>Host: its-own-name</c>. Every listener answers only the names it serves — raw HTTP requests carry
/// the foreign Host exactly as a browser under rebinding would, including a valid credential (a page can get none, but
/// the refusal must not depend on that).
/// </summary>
public sealed class HostHeaderSpecs
{
    private const string Evil = "rebind.evil.example";

    private static void AssertMisdirected(RawHttpAnswer answer, string what)
    {
        Assert.True(answer.Status == 421, $"{what}: expected 421, got {answer.Status}: {answer.Body}");
        Assert.Equal("request.host_not_allowed", answer.Json["error_type"]!.GetValue<string>());
        Assert.Equal(Evil, answer.Json["context"]!["host"]!.GetValue<string>());
        Assert.DoesNotContain("\"services\"", answer.Body); // nothing of /health leaks
    }

    [Fact]
    public async Task Should_refuse_a_foreign_host_on_the_health_user_api_and_gateway_listeners_and_serve_loopback_names()
    {
        await using var gateway = await TestGateway.StartAsync();
        var agent = await gateway.CreateAgentAsync("builder");
        var user = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "laptop" }))["token"]!.GetValue<string>();

        // act: the rebinding page's requests
        var health = await RawHttp.GetAsync(gateway.HealthPort, "/health", $"{Evil}:{gateway.HealthPort}");
        var ready = await RawHttp.GetAsync(gateway.HealthPort, "/health/ready", $"{Evil}:{gateway.HealthPort}");
        var whoami = await RawHttp.GetAsync(gateway.UserApiPort, "/api/user/whoami", $"{Evil}:{gateway.UserApiPort}", $"Authorization: Bearer {user}");
        var rpcBody = """{"jsonrpc":"2.0","id":1,"method":"capabilities.list"}""";
        var rpc = await RawHttp.SendAsync(gateway.GatewayPort,
            $"POST /rpc HTTP/1.1\r\nHost: {Evil}:{gateway.GatewayPort}\r\nAuthorization: Bearer {agent}\r\nContent-Type: application/json\r\nContent-Length: {rpcBody.Length}\r\nConnection: close\r\n\r\n{rpcBody}");
        await using var upgrade = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp",
            new Dictionary<string, string> { ["Host"] = $"{Evil}:{gateway.GatewayPort}", ["Authorization"] = $"Bearer {agent}" });

        // assert: nothing answered for the foreign name
        AssertMisdirected(health, "health");
        AssertMisdirected(ready, "health/ready");
        AssertMisdirected(whoami, "User API");
        AssertMisdirected(rpc, "/rpc");
        AssertMisdirected(upgrade.Answer, "WebSocket upgrade");

        // and the names local clients use still work on every listener
        foreach (var host in new[] { $"127.0.0.1:{gateway.HealthPort}", $"localhost:{gateway.HealthPort}", $"[::1]:{gateway.HealthPort}", "LOCALHOST.", "127.0.0.2" })
            Assert.Equal(200, (await RawHttp.GetAsync(gateway.HealthPort, "/health/ready", host)).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(gateway.UserApiPort, "/api/user/whoami", $"localhost:{gateway.UserApiPort}", $"Authorization: Bearer {user}")).Status);
        Assert.Equal(200, (await RawHttp.SendAsync(gateway.GatewayPort,
            $"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{gateway.GatewayPort}\r\nAuthorization: Bearer {agent}\r\nContent-Type: application/json\r\nContent-Length: {rpcBody.Length}\r\nConnection: close\r\n\r\n{rpcBody}")).Status);
    }

    [Fact]
    public async Task Should_refuse_a_request_without_host_with_a_structured_400()
    {
        await using var gateway = await TestGateway.StartAsync();

        // HTTP/1.0 lets a request omit Host; HTTP/1.1 requires it (Kestrel refuses that one itself)
        var none10 = await RawHttp.SendAsync(gateway.HealthPort, "GET /health HTTP/1.0\r\n\r\n");
        var none11 = await RawHttp.SendAsync(gateway.HealthPort, "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");

        Assert.True(none10.Status == 400, $"{none10.Status}: {none10.Body}");
        Assert.Equal("request.host_missing", none10.Json["error_type"]!.GetValue<string>());
        Assert.Equal(400, none11.Status);
        Assert.DoesNotContain("\"services\"", none11.Body);
    }

    [Fact]
    public async Task Should_serve_a_name_the_operator_allows()
    {
        await using var gateway = await TestGateway.StartAsync(null, "--Gateway:AllowedHosts:0", "kruxos.example.org");

        Assert.Equal(200, (await RawHttp.GetAsync(gateway.HealthPort, "/health/ready", "kruxos.example.org:7704")).Status);
        Assert.Equal(421, (await RawHttp.GetAsync(gateway.HealthPort, "/health/ready", "kruxos.example.org.evil.example")).Status);
    }

    [Theory]
    // loopback listeners: loopback names and addresses, and the allowed names only
    [InlineData(Listener.Health, "localhost", "127.0.0.1", true)]
    [InlineData(Listener.Health, "127.0.0.1", "0.0.0.0", true)]
    [InlineData(Listener.Health, "127.1.2.3", "127.0.0.1", true)]
    [InlineData(Listener.Health, "[::1]", "127.0.0.1", true)]
    [InlineData(Listener.Health, "::ffff:127.0.0.1", "127.0.0.1", true)]
    [InlineData(Listener.Health, "kruxos.example.org", "127.0.0.1", true)]
    [InlineData(Listener.Health, "KRUXOS.example.org.", "127.0.0.1", true)]
    [InlineData(Listener.Health, "evil.example", "127.0.0.1", false)]
    [InlineData(Listener.Health, "localhost.evil.example", "127.0.0.1", false)]
    [InlineData(Listener.Health, "sub.localhost", "127.0.0.1", false)]
    [InlineData(Listener.UserApi, "192.168.1.20", "192.168.1.20", false)]
    [InlineData(Listener.UserApi, "gw-host", "0.0.0.0", false)]
    [InlineData(Listener.UserApi, "", "127.0.0.1", false)]
    // gateway listener: also its bind address; bound to every interface also any address and the machine's name
    [InlineData(Listener.Gateway, "127.0.0.1", "127.0.0.1", true)]
    [InlineData(Listener.Gateway, "192.168.1.20", "192.168.1.20", true)]
    [InlineData(Listener.Gateway, "192.168.1.21", "192.168.1.20", false)]
    [InlineData(Listener.Gateway, "10.0.0.7", "0.0.0.0", true)]
    [InlineData(Listener.Gateway, "[fd00::7]", "::", true)]
    [InlineData(Listener.Gateway, "gw-host", "0.0.0.0", true)]
    [InlineData(Listener.Gateway, "gw-host", "192.168.1.20", true)]
    [InlineData(Listener.Gateway, "gw-host", "127.0.0.1", false)]
    [InlineData(Listener.Gateway, "evil.example", "0.0.0.0", false)]
    [InlineData(Listener.Gateway, "kruxos.example.org", "0.0.0.0", true)]
    public void Should_decide_each_listeners_names(Listener listener, string host, string bind, bool allowed) =>
        Assert.Equal(allowed, HostFilter.Check(listener, host, bind, ["kruxos.example.org"], "gw-host") == HostVerdict.Allowed);

    [Theory]
    [InlineData("kruxos.example.org", true)]
    [InlineData("10.0.0.7", true)]
    [InlineData("::1", true)]
    [InlineData("*", false)]
    [InlineData("*.example.org", false)]
    [InlineData("https://kruxos.example.org", false)]
    [InlineData("kruxos.example.org:7700", false)]
    [InlineData("", false)]
    public void Should_accept_only_plain_names_and_addresses_as_allowed_hosts(string entry, bool ok) =>
        Assert.Equal(ok, HostFilter.ValidateEntry(entry) is null);
}
