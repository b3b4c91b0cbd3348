using System.Text.Json.Nodes;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.State;

/// <summary>One real gateway shared by the state end-to-end specs (each spec uses its own agents and keys).</summary>
public sealed class StateGateway : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// The <c>state.*</c> families through a real gateway and the Node MCP SDK: what an agent writes, reads and is refused,
/// and <c>state.shared.watch</c> notifications reaching the watching agent and no other.
/// </summary>
public sealed class StateEndToEndSpecs(StateGateway fixture) : IClassFixture<StateGateway>
{
    private const string StateChanged = "notifications/kruxos/state_changed";

    private static string Id() => Guid.NewGuid().ToString("N")[..8];

    private static JsonNode Body(JsonObject run, int i)
    {
        var r = run["results"]![i]!;
        Assert.False(r["isError"]!.GetValue<bool>(), $"call {i}: {r.ToJsonString()}");
        return r["body"]!;
    }

    private static JsonNode Error(JsonObject run, int i)
    {
        var r = run["results"]![i]!;
        Assert.True(r["isError"]!.GetValue<bool>(), $"call {i} should have failed: {r.ToJsonString()}");
        return r["body"]!;
    }

    [Fact]
    public async Task Should_keep_session_state_per_session_and_end_it_with_the_session()
    {
        // arrange
        var token = await fixture.Gateway.CreateAgentAsync("session-" + Id());
        var url = fixture.Gateway.McpHttp.ToString();

        // act: one session sets, reads, lists, deletes and clears; a second session of the same agent sees none of it
        var first = await NodeClients.RunAsync(token, "--transport", "http", "--url", url,
            "--call", "state__session__set", """{"key":"plan","value":{"step":1,"todo":["a","b"]}}""",
            "--call", "state__session__set", """{"key":"plan","value":{"step":2}}""",
            "--call", "state__session__get", """{"key":"plan"}""",
            "--call", "state__session__set", """{"key":"note","value":"x"}""",
            "--call", "state__session__list", """{}""",
            "--call", "state__session__delete", """{"key":"note"}""",
            "--call", "state__session__clear", """{}""",
            "--call", "state__session__get", """{"key":"plan"}""",
            "--call", "state__session__set", """{"key":"","value":1}""",
            "--call", "state__session__set", """{"key":"kept","value":true}""");
        var second = await NodeClients.RunAsync(token, "--transport", "ws", "--url", fixture.Gateway.McpWs.ToString(),
            "--call", "state__session__get", """{"key":"kept"}""");

        // assert
        Assert.Null(first["error"]);
        Assert.False(Body(first, 0)["overwritten"]!.GetValue<bool>());
        Assert.Equal(1, Body(first, 1)["previous_value"]!["step"]!.GetValue<int>());
        Assert.Equal(2, Body(first, 2)["value"]!["step"]!.GetValue<int>());
        Assert.Equal(["note", "plan"], Body(first, 4)["keys"]!.AsArray().Select(k => k!.GetValue<string>()));
        Assert.True(Body(first, 5)["deleted"]!.GetValue<bool>());
        Assert.Equal(1, Body(first, 6)["removed_count"]!.GetValue<int>());
        Assert.False(Body(first, 7)["found"]!.GetValue<bool>());
        Assert.Equal("InvalidInput", Error(first, 8)["error"]!.GetValue<string>());
        Assert.False(Body(second, 0)["found"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Should_version_persistent_state_per_agent()
    {
        // arrange
        var id = Id();
        var owner = await fixture.Gateway.CreateAgentAsync("keeper-" + id);
        var other = await fixture.Gateway.CreateAgentAsync("snoop-" + id);
        var url = fixture.Gateway.McpHttp.ToString();

        // act
        var run = await NodeClients.RunAsync(owner, "--transport", "http", "--url", url,
            "--call", "state__persistent__set", """{"key":"notes/a","value":{"text":"one"}}""",
            "--call", "state__persistent__set", """{"key":"notes/a","value":{"text":"two"}}""",
            "--call", "state__persistent__set", """{"key":"notes/b","value":[1,2,3]}""",
            "--call", "state__persistent__get", """{"key":"notes/a"}""",
            "--call", "state__persistent__get", """{"key":"notes/a","version":1}""",
            "--call", "state__persistent__history", """{"key":"notes/a"}""",
            "--call", "state__persistent__query", """{"prefix":"notes/"}""",
            "--call", "state__persistent__list", """{}""",
            "--call", "state__persistent__delete", """{"key":"notes/b"}""",
            "--call", "state__persistent__delete", """{"key":"notes/b"}""",
            "--call", "state__persistent__list", """{}""",
            "--call", "agent__session", """{}""");
        var snoop = await NodeClients.RunAsync(other, "--transport", "http", "--url", url,
            "--call", "state__persistent__get", """{"key":"notes/a"}""",
            "--call", "state__persistent__list", """{}""");

        // assert
        Assert.Null(run["error"]);
        Assert.Equal((1, 0), (Body(run, 0)["version"]!.GetValue<int>(), Body(run, 0)["previous_version"]!.GetValue<int>()));
        Assert.Equal((2, 1), (Body(run, 1)["version"]!.GetValue<int>(), Body(run, 1)["previous_version"]!.GetValue<int>()));
        Assert.Equal("two", Body(run, 3)["value"]!["text"]!.GetValue<string>());
        Assert.Equal("one", Body(run, 4)["value"]!["text"]!.GetValue<string>());
        Assert.Equal([2, 1], Body(run, 5)["versions"]!.AsArray().Select(v => v!["version"]!.GetValue<int>()));
        Assert.Equal(2, Body(run, 6)["count"]!.GetValue<int>());
        var list = Body(run, 7);
        Assert.Equal(2, list["count"]!.GetValue<int>());
        Assert.Equal(list["entries"]!.AsArray().Sum(e => e!["size_bytes"]!.GetValue<long>()), list["total_size_bytes"]!.GetValue<long>());
        Assert.True(Body(run, 8)["deleted"]!.GetValue<bool>());
        Assert.Equal("KeyNotFound", Error(run, 9)["error"]!.GetValue<string>());
        // agent.session reports the real quota use: what the listing charges
        var quota = Body(run, 11)["state_quota"]!;
        Assert.Equal(Body(run, 10)["total_size_bytes"]!.GetValue<long>(), quota["used_bytes"]!.GetValue<long>());
        Assert.True(quota["used_bytes"]!.GetValue<long>() > 0);
        Assert.Equal(100L * 1024 * 1024, quota["limit_bytes"]!.GetValue<long>());
        // another agent reaches only its own (empty) state
        Assert.False(Body(snoop, 0)["found"]!.GetValue<bool>());
        Assert.Equal(0, Body(snoop, 1)["count"]!.GetValue<int>());
    }

    [Fact]
    public async Task Should_lock_shared_state_optimistically_across_agents()
    {
        // arrange
        var id = Id();
        var a = await fixture.Gateway.CreateAgentAsync("alpha-" + id);
        var b = await fixture.Gateway.CreateAgentAsync("beta-" + id);
        var url = fixture.Gateway.McpHttp.ToString();
        var key = $"board/{id}";

        // act: alpha creates; beta updates with the version it read; alpha's stale write conflicts
        var first = await NodeClients.RunAsync(a, "--transport", "http", "--url", url,
            "--call", "state__shared__set", $$"""{"key":"{{key}}","value":{"v":1},"expected_version":0}""",
            "--call", "state__shared__set", $$"""{"key":"{{key}}","value":{"v":1},"expected_version":0}""");
        var second = await NodeClients.RunAsync(b, "--transport", "http", "--url", url,
            "--call", "state__shared__get", $$"""{"key":"{{key}}"}""",
            "--call", "state__shared__set", $$"""{"key":"{{key}}","value":{"v":2},"expected_version":1}""",
            "--call", "state__shared__list", $$"""{"prefix":"board/{{id}}"}""");
        var third = await NodeClients.RunAsync(a, "--transport", "http", "--url", url,
            "--call", "state__shared__set", $$"""{"key":"{{key}}","value":{"v":3},"expected_version":1}""",
            "--call", "state__shared__delete", $$"""{"key":"{{key}}"}""",
            "--call", "state__shared__get", $$"""{"key":"{{key}}"}""",
            "--call", "state__shared__set", $$"""{"key":"{{key}}","value":{"v":4},"expected_version":0}""");

        // assert
        Assert.Equal(1, Body(first, 0)["version"]!.GetValue<int>());
        var exists = Error(first, 1);
        Assert.Equal("VersionConflict", exists["error"]!.GetValue<string>());
        var read = Body(second, 0);
        Assert.Equal((1, "alpha-" + id), (read["version"]!.GetValue<int>(), read["owner_agent"]!.GetValue<string>()));
        Assert.Equal(2, Body(second, 1)["version"]!.GetValue<int>());
        var entry = Assert.Single(Body(second, 2)["entries"]!.AsArray())!;
        Assert.Equal(("beta-" + id, 2), (entry["owner_agent"]!.GetValue<string>(), entry["version"]!.GetValue<int>()));
        var conflict = Error(third, 0);
        Assert.Equal("VersionConflict", conflict["error"]!.GetValue<string>());
        Assert.Contains(conflict["recovery"]!.AsArray(), r => r!["action"]!.GetValue<string>() == "re_read");
        Assert.True(Body(third, 1)["deleted"]!.GetValue<bool>());
        Assert.False(Body(third, 2)["found"]!.GetValue<bool>());
        // a re-created key continues after its last version: a writer holding version 1 or 2 can never hit it
        Assert.Equal(3, Body(third, 3)["version"]!.GetValue<int>());
    }

    [Fact]
    public async Task Should_notify_the_watching_agent_and_no_other_agent()
    {
        // arrange
        var id = Id();
        var watcherToken = await fixture.Gateway.CreateAgentAsync("watcher-" + id);
        var bystanderToken = await fixture.Gateway.CreateAgentAsync("bystander-" + id);
        var writerToken = await fixture.Gateway.CreateAgentAsync("writer-" + id);
        var signals = Directory.CreateTempSubdirectory("kruxos-state-watch-").FullName;
        var watcherReady = Path.Combine(signals, "watcher-ready");
        var bystanderReady = Path.Combine(signals, "bystander-ready");
        var release = Path.Combine(signals, "release");
        try
        {
            // The watcher (HTTP) watches watched-{id}/; the bystander (WebSocket) watches its own prefix and writes there
            // (its own notification proves its channel works), then both stay connected until released.
            var watcher = NodeClients.RunAsync(watcherToken, "--transport", "http", "--url", fixture.Gateway.McpHttp.ToString(),
                "--notifications", StateChanged,
                "--call", "state__shared__watch", $$"""{"prefix":"watched-{{id}}/"}""",
                "--ready-file", watcherReady, "--until-notifications", "2", "--max-wait", "60000");
            var bystander = NodeClients.RunAsync(bystanderToken, "--transport", "ws", "--url", fixture.Gateway.McpWs.ToString(),
                "--notifications", StateChanged,
                "--call", "state__shared__watch", $$"""{"prefix":"own-{{id}}/"}""",
                "--call", "state__shared__set", $$"""{"key":"own-{{id}}/x","value":1,"expected_version":0}""",
                "--ready-file", bystanderReady, "--until-file", release, "--until-notifications", "1", "--max-wait", "90000");
            await WaitForAsync(() => (File.Exists(watcherReady) || watcher.IsCompleted) && (File.Exists(bystanderReady) || bystander.IsCompleted));

            // act: a third agent sets and deletes a watched key
            var writer = await NodeClients.RunAsync(writerToken, "--transport", "http", "--url", fixture.Gateway.McpHttp.ToString(),
                "--call", "state__shared__set", $$"""{"key":"watched-{{id}}/job","value":{"secret":"not in the event"},"expected_version":0}""",
                "--call", "state__shared__delete", $$"""{"key":"watched-{{id}}/job"}""");
            var watched = await watcher;
            await File.WriteAllTextAsync(release, "", TestContext.Current.CancellationToken);
            var other = await bystander;

            // assert: the watcher got set then deleted, with its subscription id and no value
            Assert.Null(writer["error"]);
            Assert.Null(watched["error"]);
            var subscription = Body(watched, 0)["subscription_id"]!.GetValue<string>();
            Assert.StartsWith("sub-", subscription, StringComparison.Ordinal);
            var received = watched["notifications"]!.AsArray();
            Assert.Equal(2, received.Count);
            Assert.Equal(["set", "deleted"], received.Select(n => n!["change"]!.GetValue<string>()));
            Assert.All(received, n =>
            {
                Assert.Equal(subscription, n!["subscription_id"]!.GetValue<string>());
                Assert.Equal($"watched-{id}/job", n["key"]!.GetValue<string>());
                Assert.Equal(1, n["version"]!.GetValue<int>());
                Assert.Equal("writer-" + id, n["owner_agent"]!.GetValue<string>());
                Assert.DoesNotContain("secret", n.ToJsonString(), StringComparison.Ordinal);
            });
            // the bystander saw its own key and nothing of the watched prefix
            Assert.Null(other["error"]);
            var seen = other["notifications"]!.AsArray();
            Assert.Contains(seen, n => n!["key"]!.GetValue<string>() == $"own-{id}/x");
            Assert.DoesNotContain(seen, n => n!["key"]!.GetValue<string>().StartsWith("watched-", StringComparison.Ordinal));
        }
        finally
        {
            File.WriteAllText(release, "");
            Directory.Delete(signals, recursive: true);
        }
    }

    [Fact]
    public async Task Should_end_a_watch_with_the_session_that_set_it_up()
    {
        // arrange: the agent watches in one session, which then ends; a later session of the same agent stays connected
        var id = Id();
        var agentToken = await fixture.Gateway.CreateAgentAsync("leaver-" + id);
        var writerToken = await fixture.Gateway.CreateAgentAsync("poster-" + id);
        var prefix = $"ended-{id}/";
        var signals = Directory.CreateTempSubdirectory("kruxos-state-unwatch-").FullName;
        var laterReady = Path.Combine(signals, "later-ready");
        var release = Path.Combine(signals, "release");
        try
        {
            var gone = await NodeClients.RunAsync(agentToken, "--transport", "ws", "--url", fixture.Gateway.McpWs.ToString(),
                "--call", "state__shared__watch", $$"""{"prefix":"{{prefix}}"}""");
            Assert.False(gone["results"]![0]!["isError"]!.GetValue<bool>(), gone.ToJsonString());
            var later = NodeClients.RunAsync(agentToken, "--transport", "http", "--url", fixture.Gateway.McpHttp.ToString(),
                "--notifications", StateChanged, "--ready-file", laterReady, "--until-file", release, "--max-wait", "90000");
            await WaitForAsync(() => File.Exists(laterReady) || later.IsCompleted);

            // act: another agent watches the same prefix (so delivery is observable) and writes into it
            var writer = await NodeClients.RunAsync(writerToken, "--transport", "http", "--url", fixture.Gateway.McpHttp.ToString(),
                "--notifications", StateChanged,
                "--call", "state__shared__watch", $$"""{"prefix":"{{prefix}}"}""",
                "--call", "state__shared__set", $$"""{"key":"{{prefix}}x","value":1,"expected_version":0}""",
                "--until-notifications", "1", "--max-wait", "60000");
            await File.WriteAllTextAsync(release, "", TestContext.Current.CancellationToken);
            var laterResult = await later;

            // assert: the change was published (the writer's own watch saw it), but the ended session's watch is gone
            Assert.Single(writer["notifications"]!.AsArray());
            Assert.Null(laterResult["error"]);
            Assert.Empty(laterResult["notifications"]!.AsArray());
        }
        finally
        {
            File.WriteAllText(release, "");
            Directory.Delete(signals, recursive: true);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.True(condition(), "the clients did not get ready");
    }
}
