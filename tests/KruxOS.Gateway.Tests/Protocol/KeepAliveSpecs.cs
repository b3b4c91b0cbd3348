using System.Diagnostics;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>
/// WebSocket keepalive: the gateway pings every <c>Gateway:KeepAliveInterval</c> and drops a peer that sends
/// no pong within <c>Gateway:KeepAliveTimeout</c> (30 s / 10 s by default; short here).
/// </summary>
public sealed class KeepAliveSpecs
{
    [Fact]
    public async Task Should_ping_and_drop_a_peer_that_never_answers_but_keep_one_that_does()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync(null, "--Gateway:KeepAliveInterval", "00:00:01", "--Gateway:KeepAliveTimeout", "00:00:01");
        var token = await gateway.CreateAgentAsync("keepalive");

        // act: a raw upgrade that reads frames but never answers a ping, and a real client (which answers pings)
        await using var silent = await RawUpgrade.SendAsync(gateway.GatewayPort, "/mcp", new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" });
        Assert.Equal(101, silent.Answer.Status);
        await using var live = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await live.InitializeAsync();
        var clock = Stopwatch.StartNew();
        var silentClosed = silent.ReadUntilClosedAsync(TestTimeouts.Call);
        // the real client keeps reading, as MCP clients do (a WebSocket answers pings while it reads)
        var id = 0;
        while (!silentClosed.IsCompleted || clock.Elapsed < TimeSpan.FromSeconds(4))
        {
            Assert.NotNull((await live.RequestAsync(++id, "ping"))["result"]);
            await Task.Delay(200);
        }
        var frames = await silentClosed;

        // assert: pinged (opcode 9), then dropped within a few intervals, not at the read deadline
        Assert.Contains(0x9, frames);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12), $"the silent peer was kept for {clock.Elapsed}");
        // the answering client outlived it by several ping intervals and still works
        var list = await live.RequestAsync(++id, "tools/list");
        Assert.NotNull(list["result"]);
    }
}
