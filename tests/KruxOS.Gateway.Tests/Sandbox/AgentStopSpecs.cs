using System.Diagnostics;
using System.Globalization;
using KruxOS.Core.Agents;
using KruxOS.Sandbox;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>
/// Revoking or killing an agent stops everything it runs (docs/security.md, "Stopping an agent"): the attack is an
/// agent that leaves a background loop behind over MCP and expects it to outlive its revocation (it used to run
/// until its 3,600 s timeout).
/// </summary>
public sealed class AgentStopSpecs
{
    private const string Loop = """{"command":"sh","args":["-c","while :; do date +%s%N >> beat.log; sleep 0.1; done"],"background":true,"timeout":3600}""";

    [Theory]
    [InlineData("revoke")]
    [InlineData("kill")]
    public async Task A_background_loop_stops_when_the_operator_revokes_or_kills_the_agent(string how)
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");
        // arrange: the agent starts a writer loop in the background through the real gateway and sandbox
        await using var gateway = await TestGateway.StartAsync();
        var agent = "looper-" + Guid.NewGuid().ToString("N")[..6];
        var token = await gateway.CreateAgentAsync(agent);
        var started = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(), "--call", "process__run", Loop);
        Assert.Null(started["error"]);
        Assert.False(started["results"]![0]!["isError"]!.GetValue<bool>(), started.ToJsonString());
        var host = gateway.Services.GetRequiredService<SandboxHost>();
        var uid = host.HostUidFor(AgentName.Parse(agent));
        var beat = Path.Combine(gateway.DataDir, "workspace", agent, "beat.log");
        Assert.True(await Eventually(() => File.Exists(beat) && new FileInfo(beat).Length > 100), "the loop never wrote");
        Assert.NotEmpty(SandboxLeftovers.ProcessesOf(uid));

        // act: the operator's CLI, over the control socket
        var cli = how == "revoke"
            ? await ProcessRunner.Kruxos(gateway, "agent", "revoke", agent)
            : await ProcessRunner.Kruxos(gateway, "kill", agent);

        // assert: nothing with the agent's uid is left, its cgroup subtree is gone, and the file stops growing
        Assert.True(cli.ExitCode == 0, cli.StdErr);
        Assert.True(await Eventually(() => SandboxLeftovers.ProcessesOf(uid).Count == 0), "still running: " + string.Join(",", SandboxLeftovers.ProcessesOf(uid)));
        Assert.False(SandboxLeftovers.CgroupExists(host.CgroupPathOf(AgentName.Parse(agent))));
        var size = new FileInfo(beat).Length;
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        Assert.Equal(size, new FileInfo(beat).Length);

        if (how == "kill")
        {
            // kill keeps the token: the agent may work again, in a fresh sandbox
            Assert.Contains("stopped", cli.StdOut, StringComparison.Ordinal);
            var again = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(), "--call", "process__run", """{"command":"true"}""");
            Assert.False(again["results"]![0]!["isError"]!.GetValue<bool>(), again.ToJsonString());
        }
        else
        {
            // a revoked agent's sandbox stays held on this node (and its token is refused at the edge anyway)
            var r = await host.ExecuteAsync(new SandboxRequest(AgentName.Parse(agent), Core.Capabilities.CapabilityName.Parse("process.run"),
                System.Text.Json.JsonDocument.Parse("""{"command":"true"}""").RootElement), TestContext.Current.CancellationToken);
            Assert.Equal("SandboxUnavailable", r.Error?.ErrorType);
            Assert.Empty(SandboxLeftovers.ProcessesOf(uid));
        }
    }

    private static async Task<bool> Eventually(Func<bool> condition)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (condition()) return true;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return condition();
    }

}
