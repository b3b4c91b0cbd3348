using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.State;

/// <summary>
/// <c>state.snapshot.*</c> through a real gateway and the Node MCP SDK: what a snapshot holds, what it never holds (text
/// an agent or the operator wrote, tokens, state keys and values), and that <c>snapshot_id</c> never reaches a file
/// other than a kept snapshot.
/// </summary>
public sealed class SnapshotEndToEndSpecs(StateGateway fixture) : IClassFixture<StateGateway>
{
    private static string Id() => Guid.NewGuid().ToString("N")[..8];

    private string SnapshotDir => Path.Combine(fixture.Gateway.DataDir, "state", "snapshots");

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
    public async Task Should_create_list_and_load_snapshots_of_the_whole_system()
    {
        // arrange
        var name = "snap-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);
        var url = fixture.Gateway.McpHttp.ToString();

        // act
        var run = await NodeClients.RunAsync(token, "--transport", "http", "--url", url,
            "--call", "state__persistent__set", """{"key":"k","value":{"n":1}}""",
            "--call", "state__snapshot__create", "{}",
            "--call", "state__snapshot__create", "{}",
            "--call", "state__snapshot__list", "{}");
        Assert.Null(run["error"]);
        var second = Body(run, 2)["snapshot_id"]!.GetValue<string>();
        var load = await NodeClients.RunAsync(token, "--transport", "http", "--url", url,
            "--call", "state__snapshot__load", new JsonObject { ["snapshot_id"] = second }.ToJsonString());

        // assert: ids are distinct, the list is newest first, the document describes this gateway and this agent
        var first = Body(run, 1)["snapshot_id"]!.GetValue<string>();
        Assert.StartsWith("snap-", first);
        Assert.NotEqual(first, second);
        var listed = Body(run, 3)["snapshots"]!.AsArray().Select(s => s!["snapshot_id"]!.GetValue<string>()).ToList();
        Assert.Equal(Body(run, 3)["count"]!.GetValue<int>(), listed.Count);
        Assert.True(listed.IndexOf(second) < listed.IndexOf(first), string.Join(",", listed));
        var doc = Body(load, 0)["snapshot"]!;
        Assert.Equal(second, doc["snapshot_id"]!.GetValue<string>());
        Assert.Equal(Body(run, 2)["size_bytes"]!.GetValue<long>(), new FileInfo(Path.Combine(SnapshotDir, second + ".json")).Length);
        var agent = doc["agents"]!.AsArray().Single(a => a!["name"]!.GetValue<string>() == name)!;
        Assert.Equal("active", agent["status"]!.GetValue<string>());
        Assert.Contains(doc["state"]!["persistent"]!.AsArray(), s => s!["agent"]!.GetValue<string>() == name && s["keys"]!.GetValue<int>() == 1);
        Assert.False(string.IsNullOrEmpty(doc["health"]!["overall_status"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Should_never_put_text_an_agent_or_the_operator_wrote_or_a_token_into_a_snapshot()
    {
        // arrange: a purpose, a state key and value, a shared key and an alert message, each carrying a marker
        var marker = "MARKER" + Id();
        var name = "leak-" + Id();
        var token = (await fixture.Gateway.ControlAsync(ControlProtocol.Methods.AgentCreate,
            new JsonObject { ["name"] = name, ["purpose"] = "purpose " + marker }))["token"]!.GetValue<string>();
        var url = fixture.Gateway.McpHttp.ToString();

        // act
        var run = await NodeClients.RunAsync(token, "--transport", "http", "--url", url,
            "--call", "state__persistent__set", new JsonObject { ["key"] = "p-" + marker, ["value"] = marker }.ToJsonString(),
            "--call", "state__shared__set", new JsonObject { ["key"] = "s-" + marker, ["value"] = marker, ["expected_version"] = 0 }.ToJsonString(),
            "--call", "alerts__send", new JsonObject { ["message"] = "alert " + marker, ["severity"] = "info" }.ToJsonString(),
            "--call", "state__snapshot__create", "{}");
        Assert.Null(run["error"]);
        var id = Body(run, 3)["snapshot_id"]!.GetValue<string>();
        var bytes = await File.ReadAllTextAsync(Path.Combine(SnapshotDir, id + ".json"));

        // assert
        Assert.DoesNotContain(marker, bytes, StringComparison.Ordinal);
        Assert.DoesNotContain(token, bytes, StringComparison.Ordinal);
        Assert.Contains(name, bytes, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_a_snapshot_id_that_names_any_other_file()
    {
        // arrange: a marker file outside the snapshot directory, and inside it a link and a stray file with snapshot-like names
        var token = await fixture.Gateway.CreateAgentAsync("trav-" + Id());
        var url = fixture.Gateway.McpHttp.ToString();
        var seed = await NodeClients.RunAsync(token, "--transport", "http", "--url", url, "--call", "state__snapshot__create", "{}");
        Assert.Null(seed["error"]);
        var outside = Path.Combine(fixture.Gateway.DataDir, "outside-" + Id());
        Directory.CreateDirectory(outside);
        var secret = Path.Combine(outside, "secret.json");
        await File.WriteAllTextAsync(secret, """{"secret":"SECRETMARKER"}""");
        File.CreateSymbolicLink(Path.Combine(SnapshotDir, "snap-20000101T000000.json"), secret);
        await File.WriteAllTextAsync(Path.Combine(SnapshotDir, "snap-20000101T000001.json.bak"), """{"secret":"SECRETMARKER"}""");
        var relative = Path.GetRelativePath(SnapshotDir, Path.Combine(outside, "secret"));

        // act
        var run = await NodeClients.RunAsync(token, "--transport", "http", "--url", url,
            "--call", "state__snapshot__load", new JsonObject { ["snapshot_id"] = relative }.ToJsonString(),
            "--call", "state__snapshot__load", new JsonObject { ["snapshot_id"] = "snap-20000101T000000/../" + relative }.ToJsonString(),
            "--call", "state__snapshot__load", new JsonObject { ["snapshot_id"] = secret[..^".json".Length] }.ToJsonString(),
            "--call", "state__snapshot__load", """{"snapshot_id":"snap-20000101T000000"}""",
            "--call", "state__snapshot__load", """{"snapshot_id":"snap-20000101T000001.json"}""",
            "--call", "state__snapshot__load", """{"snapshot_id":"snap-19990101T000000"}""",
            "--call", "state__snapshot__list", "{}");

        // assert: malformed ids are InvalidInput, the link is not a snapshot, nothing of the marker file comes back
        Assert.Null(run["error"]);
        Assert.Equal("InvalidInput", Error(run, 0)["error"]!.GetValue<string>());
        Assert.Equal("InvalidInput", Error(run, 1)["error"]!.GetValue<string>());
        Assert.Equal("InvalidInput", Error(run, 2)["error"]!.GetValue<string>());
        Assert.Equal("SnapshotNotFound", Error(run, 3)["error"]!.GetValue<string>());
        Assert.Equal("InvalidInput", Error(run, 4)["error"]!.GetValue<string>());
        Assert.Equal("SnapshotNotFound", Error(run, 5)["error"]!.GetValue<string>());
        var listed = Body(run, 6)["snapshots"]!.AsArray().Select(s => s!["snapshot_id"]!.GetValue<string>()).ToList();
        Assert.DoesNotContain("snap-20000101T000000", listed);
        Assert.DoesNotContain("SECRETMARKER", run.ToJsonString(), StringComparison.Ordinal);
    }
}
