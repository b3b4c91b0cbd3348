using System.Text.Json.Nodes;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>
/// filesystem.watch events reach the watching agent's MCP clients as <c>notifications/kruxos/file_changed</c>
/// (docs/protocol.md), through the real gateway and the real sandbox, driven by the Node MCP SDK.
/// </summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", Root = true)]
public sealed class WatchNotificationSpecs
{
    private const string Method = "notifications/kruxos/file_changed";

    [Fact]
    public async Task Should_notify_the_watching_agents_session_and_no_other_agent()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var id = Guid.NewGuid().ToString("N")[..8];
        var watcherToken = await gateway.CreateAgentAsync("watcher-" + id);
        var otherToken = await gateway.CreateAgentAsync("other-" + id);
        var signals = Directory.CreateTempSubdirectory("kruxos-notify-").FullName;
        var otherReady = Path.Combine(signals, "other-ready");
        var release = Path.Combine(signals, "release");
        try
        {
            // The other agent connects over WebSocket, watches its own workspace, writes into it (so its own
            // notifications prove delivery over WebSocket) and stays connected until released.
            var other = NodeClients.RunAsync(otherToken, "--transport", "ws", "--url", gateway.McpWs.ToString(), "--notifications", Method,
                "--call", "filesystem__watch", """{"path":".","recursive":true}""",
                "--call", "filesystem__write", """{"path":"own.txt","content":"mine"}""",
                "--ready-file", otherReady, "--until-file", release, "--until-notifications", "1", "--max-wait", "90000");
            await WaitForAsync(() => File.Exists(otherReady) || other.IsCompleted);

            // act: the watcher (Streamable HTTP) watches a directory, then writes into it.
            var watcher = await NodeClients.RunAsync(watcherToken, "--transport", "http", "--url", gateway.McpHttp.ToString(), "--notifications", Method,
                "--call", "filesystem__write", """{"path":"seen/a.txt","content":"0","create_parents":true}""",
                "--call", "filesystem__watch", """{"path":"seen"}""",
                "--call", "filesystem__write", """{"path":"seen/b.txt","content":"1"}""",
                "--until-notifications", "1", "--max-wait", "30000");
            await File.WriteAllTextAsync(release, "", TestContext.Current.CancellationToken);
            var otherResult = await other;

            // assert
            Assert.Null(watcher["error"]);
            var results = watcher["results"]!.AsArray();
            Assert.All(results, r => Assert.False(r!["isError"]!.GetValue<bool>(), r.ToJsonString()));
            var watchId = results[1]!["body"]!["watch_id"]!.GetValue<string>();
            var received = watcher["notifications"]!.AsArray();
            Assert.NotEmpty(received);
            Assert.DoesNotContain(received, n => n!["path"]!.GetValue<string>().Contains(".kruxos-", StringComparison.Ordinal));
            var forB = received.Where(n => n!["path"]!.GetValue<string>() == "/workspace/seen/b.txt").ToList();
            Assert.True(forB.Count > 0, watcher.ToJsonString());
            Assert.All(forB, n =>
            {
                Assert.Equal(watchId, n!["watch_id"]!.GetValue<string>());
                // filesystem.write is atomic (temp file + rename); the watcher sees one create of the new file.
                Assert.Equal("create", n["event_type"]!.GetValue<string>());
                Assert.True(DateTimeOffset.TryParse(n["timestamp"]!.GetValue<string>(), out _));
            });

            Assert.Null(otherResult["error"]);
            Assert.False(otherResult["results"]![0]!["isError"]!.GetValue<bool>(), otherResult.ToJsonString());
            var otherWatch = otherResult["results"]![0]!["body"]!["watch_id"]!.GetValue<string>();
            var otherReceived = otherResult["notifications"]!.AsArray();
            Assert.Contains(otherReceived, n => n!["path"]!.GetValue<string>() == "/workspace/own.txt");
            Assert.All(otherReceived, n => Assert.Equal(otherWatch, n!["watch_id"]!.GetValue<string>()));
            Assert.DoesNotContain(otherReceived, n => n!["path"]!.GetValue<string>().Contains("seen", StringComparison.Ordinal));
        }
        finally
        {
            File.WriteAllText(release, "");
            Directory.Delete(signals, recursive: true);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.True(condition(), "the other agent's client did not get ready");
    }
}
