using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Policy;
using KruxOS.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>
/// Issue 14, item 1, end to end as an agent would try it over MCP: git.init, filesystem.append to the
/// repository's own configuration, git.status. The payload would create a marker file; the call is refused
/// with the offending key named, and /health reports the Landlock state the running worker measured.
/// </summary>
public sealed class WorkerAttackSpecs
{
    private const string Policy = "rules:\n  - capability: \"git.*\"\n    tier: autonomous\n  - capability: \"filesystem.*\"\n    tier: autonomous\n";

    private static async Task<JsonObject> CallAsync(McpClient client, string tool, object args)
    {
        var arguments = System.Text.Json.JsonSerializer.SerializeToElement(args).EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        var result = await client.CallToolAsync(tool, arguments, cancellationToken: TestContext.Current.CancellationToken);
        var body = Assert.IsType<JsonObject>(JsonNode.Parse(Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text));
        body["__isError"] = result.IsError == true;
        return body;
    }

    [Fact]
    public async Task Should_refuse_git_on_a_repository_whose_config_names_a_program_and_run_nothing()
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");
        const string Agent = "fsmonitor-attacker";
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string> { [$"agents/{Agent}.yaml"] = Policy });
        var token = await gateway.CreateAgentAsync(Agent);
        var workspace = gateway.Services.GetRequiredService<SandboxHost>().WorkspaceOf(Core.Agents.AgentName.Parse(Agent));
        await using var client = await gateway.ConnectAsync(token);

        Assert.False((await CallAsync(client, "git__init", new { path = "repo" }))["__isError"]!.GetValue<bool>());
        Assert.False((await CallAsync(client, "filesystem__append", new { path = "repo/.git/config", content = "[core]\n\tfsmonitor = \"touch /workspace/PWNED; false\"\n" }))["__isError"]!.GetValue<bool>());
        var status = await CallAsync(client, "git__status", new { path = "repo" });

        Assert.False(File.Exists(Path.Combine(workspace, "PWNED")), "core.fsmonitor ran in the worker");
        Assert.True(status["__isError"]!.GetValue<bool>(), status.ToJsonString());
        Assert.Equal("UnsafeRepositoryConfig", status["error"]!.GetValue<string>());
        Assert.Contains("core.fsmonitor", status.ToJsonString(), StringComparison.Ordinal);

        using var http = new HttpClient();
        var health = await http.GetStringAsync($"http://127.0.0.1:{gateway.HealthPort}/health", TestContext.Current.CancellationToken);
        Assert.Contains(NativeLandlockAbi() > 0 ? "landlock: applied in 1 of 1 running workers" : "landlock: not applied", health, StringComparison.Ordinal);
    }

    private static long NativeLandlockAbi() => KruxOS.Sandbox.Health.LandlockReport.Abi();
}
