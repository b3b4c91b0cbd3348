using KruxOS.Testing;
using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// The official Node MCP SDK against a real gateway over real sockets: a token made by
/// <c>kruxos agent create</c>, tool listing, <c>system.time</c>, and revocation.
/// </summary>
public sealed class NodeSdkEndToEndSpecs
{
    [Theory]
    [InlineData("ws")]
    [InlineData("http")]
    public async Task Should_list_tools_and_call_system_time_with_a_token_from_the_cli_then_refuse_it_once_revoked(string transport)
    {
        // arrange: the token comes from the real CLI over the control socket
        await using var gateway = await TestGateway.StartAsync();
        var created = await ProcessRunner.Kruxos(gateway, "agent", "create", "--name", "e2e-agent", "--purpose", "end to end", "--json");
        Assert.Equal(0, created.ExitCode);
        var token = JsonNode.Parse(created.StdOut)!["token"]!.GetValue<string>();
        var url = transport == "ws" ? gateway.McpWs.ToString() : gateway.McpHttp.ToString();

        // act
        var session = await NodeClients.RunAsync(token, "--transport", transport, "--url", url, "--list",
            "--call", "system__time", """{"timezone":"Europe/Berlin"}""", "--call", "agent.whoami");

        // assert
        Assert.True(session["connected"]!.GetValue<bool>(), session.ToJsonString());
        Assert.Null(session["error"]);
        Assert.Equal("kruxos-gateway", session["server"]!["name"]!.GetValue<string>());
        var tools = session["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("system__time", tools);
        Assert.Contains("agent__whoami", tools);
        string TierOf(string tool) => session["tools"]!.AsArray().Single(t => t!["name"]!.GetValue<string>() == tool)!["tier"]!.GetValue<string>();
        Assert.Equal("autonomous", TierOf("system__time"));
        Assert.Equal("notify", TierOf("filesystem__write"));
        Assert.All(session["tools"]!.AsArray(), t => Assert.NotEqual("blocked", t!["tier"]!.GetValue<string>()));
        // each description ends with the tier the client also sees in _meta (ADR 0003)
        Assert.All(session["tools"]!.AsArray(), t =>
            Assert.EndsWith($"[policy tier: {t!["tier"]!.GetValue<string>()}]", t["description"]!.GetValue<string>(), StringComparison.Ordinal));
        Assert.EndsWith("[policy tier: notify]", session["tools"]!.AsArray().Single(t => t!["name"]!.GetValue<string>() == "filesystem__write")!["description"]!.GetValue<string>());
        var time = session["results"]![0]!;
        Assert.False(time["isError"]!.GetValue<bool>(), time.ToJsonString());
        Assert.Equal("Europe/Berlin", time["body"]!["timezone"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(time["body"]!["utc"]!.GetValue<string>()) > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Equal("e2e-agent", session["results"]![1]!["body"]!["agent_name"]!.GetValue<string>());

        // act: revoke with the CLI
        Assert.Equal(0, (await ProcessRunner.Kruxos(gateway, "agent", "revoke", "e2e-agent")).ExitCode);
        var refused = await NodeClients.RunAsync(token, "--transport", transport, "--url", url, "--list");

        // assert
        Assert.False(refused["connected"]!.GetValue<bool>(), refused.ToJsonString());
        Assert.NotNull(refused["error"]);
        if (transport == "http") Assert.Contains("auth.agent_revoked", refused["error"]!.GetValue<string>());
        else Assert.Contains("401", refused["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_report_structured_errors_as_tool_results_over_mcp()
    {
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("err-agent");
        var session = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(),
            "--call", "system__time", """{"timezone":"Mars/Olympus"}""", "--call", "system__time", """{"tz":"UTC"}""", "--call", "nope__nothing");
        var results = session["results"]!.AsArray();
        Assert.Equal("InvalidTimezone", results[0]!["body"]!["error"]!.GetValue<string>());
        Assert.True(results[0]!["isError"]!.GetValue<bool>());
        Assert.Equal("InvalidInput", results[1]!["body"]!["error"]!.GetValue<string>());
        Assert.Equal("tz", results[1]!["body"]!["context"]!["field"]!.GetValue<string>());
        Assert.NotEmpty(results[1]!["body"]!["recovery"]!.AsArray());
        Assert.Equal("CapabilityNotFound", results[2]!["body"]!["error"]!.GetValue<string>());
    }
}
