using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Testing;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>
/// Adversarial, through the real gateway and the agent's kernel sandbox: a path rule on a subtree used to be decided
/// only on the directory a walk was given, so a search, content search, directory copy or multi-file edit of the
/// parent reached the blocked subtree, and a move of the parent carried it away. Now every entry a walk reaches is
/// decided as if the call had named it (ADR 0028): read-only walks leave blocked entries out (totals included), walks
/// that write (a directory move included) are refused naming the blocked entry before anything is written or moved,
/// and watches do not report blocked entries. A delete never reaches below its path.
/// </summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", Root = true)]
public sealed class WalkPolicySpecs
{
    private const string Policy = """
        rules:
          - capability: "filesystem.*"
            conditions: { path_prefix: /workspace/proj/secret }
            tier: blocked
            reason: secrets stay in the vault
          - capability: filesystem.copy
            conditions: { argument: source, path_prefix: /workspace/proj/secret }
            tier: blocked
            reason: secrets are not copied
          - capability: filesystem.copy
            conditions: { argument: destination, path_prefix: /workspace/drop/secret }
            tier: blocked
            reason: nothing is dropped into the vault
          - capability: filesystem.move
            conditions: { argument: source, path_prefix: /workspace/proj/secret }
            tier: blocked
            reason: secrets are not moved
          - capability: filesystem.move
            conditions: { argument: destination, path_prefix: /workspace/drop/secret }
            tier: blocked
            reason: nothing is moved into the vault
          - capability: filesystem.delete
            tier: autonomous
            reason: the agent tidies its own workspace
        """;

    private static readonly string Secret = "TOPSECRET" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<(TestGateway Gateway, string Agent, string Token, McpClient Client)> StartAsync()
    {
        var agent = "walk-" + Guid.NewGuid().ToString("N")[..8];
        var gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-walk-", agent, Policy));
        var token = await gateway.CreateAgentAsync(agent);
        var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = gateway.McpHttp,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }), cancellationToken: TestContext.Current.CancellationToken);
        return (gateway, agent, token, client);
    }

    private static async Task<string> CallAsync(McpClient client, string tool, object arguments)
    {
        var args = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(arguments));
        var result = await client.CallToolAsync(tool, args, cancellationToken: TestContext.Current.CancellationToken);
        return ((TextContentBlock)result.Content[0]).Text;
    }

    // The agent plants its tree with its own shell: path rules are no confinement for process.run (docs/security.md).
    private static async Task ShellAsync(McpClient client, string script)
    {
        var text = await CallAsync(client, "process__run", new { command = "sh", args = new[] { "-c", script } });
        Assert.Contains("\"exit_code\":0", text.Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Walks_of_a_parent_directory_never_reach_a_blocked_subtree()
    {
        // arrange
        var (gateway, agent, _, client) = await StartAsync();
        await using var _g = gateway;
        await using var _c = client;
        await ShellAsync(client, $"mkdir -p proj/secret/deeper payload/secret && echo {Secret} > proj/secret/s.txt && echo {Secret} > proj/secret/deeper/d.txt "
            + $"&& echo 'public {Secret[..9]}' > proj/readme.txt && echo '# notes' > proj/notes.md && echo planted > payload/secret/p.txt");
        var workspace = Path.Combine(gateway.DataDir, "workspace", agent);

        // act + assert: a file search of the parent lists no blocked entry
        var search = await CallAsync(client, "filesystem__search", new { path = "proj", pattern = "**" });
        Assert.DoesNotContain("secret", search);
        Assert.Contains("/workspace/proj/readme.txt", search);
        Assert.Equal(2, JsonNode.Parse(search)!["total_matches"]!.GetValue<int>());

        // a content search neither returns the secret nor counts it (no oracle through totals)
        var content = await CallAsync(client, "filesystem__search_content", new { path = "proj", pattern = Secret });
        Assert.DoesNotContain(Secret, content);
        Assert.Equal(0, JsonNode.Parse(content)!["total_matches"]!.GetValue<int>());
        var total = await CallAsync(client, "filesystem__search_content", new { path = "/workspace", pattern = "TOPSECRET", total_only = true });
        Assert.Equal(1, JsonNode.Parse(total)!["total"]!.GetValue<int>());

        // a directory copy whose source holds the blocked subtree is refused, naming it, and writes nothing
        var copy = JsonNode.Parse(await CallAsync(client, "filesystem__copy", new { source = "proj", destination = "leak" }))!;
        Assert.True(copy["error"]?.GetValue<string>() == "PolicyDenied", copy.ToJsonString());
        Assert.StartsWith("/workspace/proj/secret", copy["context"]!["path"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(workspace, "leak")));

        // a directory copy that would write into a blocked subtree is refused the same way
        var drop = JsonNode.Parse(await CallAsync(client, "filesystem__copy", new { source = "payload", destination = "drop" }))!;
        Assert.True(drop["error"]?.GetValue<string>() == "PolicyDenied", drop.ToJsonString());
        Assert.StartsWith("/workspace/drop/secret", drop["context"]!["path"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(workspace, "drop")));

        // a multi-file edit whose glob selects a blocked file is refused before any file is written
        var edit = JsonNode.Parse(await CallAsync(client, "filesystem__edit", new { path = "proj", include_glob = "**/*.txt", pattern = "TOPSECRET", replace = "gone", replace_all = true }))!;
        Assert.True(edit["error"]?.GetValue<string>() == "PolicyDenied", edit.ToJsonString());
        Assert.StartsWith("/workspace/proj/secret/", edit["context"]!["path"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(Secret, await File.ReadAllTextAsync(Path.Combine(workspace, "proj", "secret", "s.txt"), TestContext.Current.CancellationToken));
        Assert.Contains("public TOPSECRET", await File.ReadAllTextAsync(Path.Combine(workspace, "proj", "readme.txt"), TestContext.Current.CancellationToken));

        // walks that stay clear of the blocked subtree still work: an edit whose glob selects only allowed files,
        // and a copy of a directory without blocked entries
        var notes = JsonNode.Parse(await CallAsync(client, "filesystem__edit", new { path = "proj", include_glob = "**/*.md", pattern = "notes", replace = "minutes" }))!;
        Assert.True(notes["error"] is null, notes.ToJsonString());
        Assert.Equal("# minutes\n", await File.ReadAllTextAsync(Path.Combine(workspace, "proj", "notes.md"), TestContext.Current.CancellationToken));
        await ShellAsync(client, "mkdir -p clean/sub && echo ok > clean/sub/f.txt");
        var clean = JsonNode.Parse(await CallAsync(client, "filesystem__copy", new { source = "clean", destination = "clean2" }))!;
        Assert.True(clean["error"] is null, clean.ToJsonString());
        Assert.True(File.Exists(Path.Combine(workspace, "clean2", "sub", "f.txt")));
    }

    [Fact]
    public async Task Moves_and_deletes_of_a_parent_directory_never_carry_away_or_destroy_a_blocked_subtree()
    {
        // arrange
        var (gateway, agent, _, client) = await StartAsync();
        await using var _g = gateway;
        await using var _c = client;
        await ShellAsync(client, $"mkdir -p proj/secret/deeper payload/secret clean/sub empty && echo {Secret} > proj/secret/s.txt "
            + $"&& echo {Secret} > proj/secret/deeper/d.txt && echo public > proj/readme.txt && echo planted > payload/secret/p.txt && echo ok > clean/sub/f.txt");
        var workspace = Path.Combine(gateway.DataDir, "workspace", agent);
        var secretFile = Path.Combine(workspace, "proj", "secret", "s.txt");

        // act + assert: a move of the parent would rename every secret entry; it is refused, naming one, and moves nothing
        var move = JsonNode.Parse(await CallAsync(client, "filesystem__move", new { source = "proj", destination = "stolen" }))!;
        Assert.True(move["error"]?.GetValue<string>() == "PolicyDenied", move.ToJsonString());
        Assert.StartsWith("/workspace/proj/secret", move["context"]!["path"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("source", move["context"]!["argument"]!.GetValue<string>());
        Assert.Equal(Secret + "\n", await File.ReadAllTextAsync(secretFile, TestContext.Current.CancellationToken));
        Assert.False(Directory.Exists(Path.Combine(workspace, "stolen")));

        // a move whose entries would land in a blocked subtree on the destination side is refused the same way
        var drop = JsonNode.Parse(await CallAsync(client, "filesystem__move", new { source = "payload", destination = "drop" }))!;
        Assert.True(drop["error"]?.GetValue<string>() == "PolicyDenied", drop.ToJsonString());
        Assert.StartsWith("/workspace/drop/secret", drop["context"]!["path"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("destination", drop["context"]!["argument"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(workspace, "payload", "secret", "p.txt")));
        Assert.False(Directory.Exists(Path.Combine(workspace, "drop")));

        // a delete of the parent removes only an empty directory: the secret subtree stays
        var delete = JsonNode.Parse(await CallAsync(client, "filesystem__delete", new { path = "proj" }))!;
        Assert.True(delete["error"]?.GetValue<string>() == "DirectoryNotEmpty", delete.ToJsonString());
        Assert.Equal(Secret + "\n", await File.ReadAllTextAsync(secretFile, TestContext.Current.CancellationToken));

        // moves and deletes clear of the blocked subtree still work: a clean tree, a single file, an empty directory
        var clean = JsonNode.Parse(await CallAsync(client, "filesystem__move", new { source = "clean", destination = "clean2" }))!;
        Assert.True(clean["error"] is null, clean.ToJsonString());
        Assert.True(File.Exists(Path.Combine(workspace, "clean2", "sub", "f.txt")));
        Assert.False(Directory.Exists(Path.Combine(workspace, "clean")));
        var file = JsonNode.Parse(await CallAsync(client, "filesystem__move", new { source = "proj/readme.txt", destination = "readme.txt" }))!;
        Assert.True(file["error"] is null, file.ToJsonString());
        Assert.True(File.Exists(Path.Combine(workspace, "readme.txt")));
        var emptied = JsonNode.Parse(await CallAsync(client, "filesystem__delete", new { path = "empty" }))!;
        Assert.True(emptied["error"] is null, emptied.ToJsonString());
        Assert.False(Directory.Exists(Path.Combine(workspace, "empty")));
    }

    [Fact]
    public async Task A_watch_of_a_parent_directory_does_not_report_changes_in_a_blocked_subtree()
    {
        // arrange
        var (gateway, _, token, client) = await StartAsync();
        await using var _g = gateway;
        await using (client) await ShellAsync(client, "mkdir -p proj/secret");

        // act: watch the parent, change the blocked subtree first, then an allowed file
        var watcher = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(), "--notifications", "notifications/kruxos/file_changed",
            "--call", "filesystem__watch", """{"path":"proj","recursive":true}""",
            "--call", "process__run", """{"command":"sh","args":["-c","echo hidden > proj/secret/new.txt && sleep 1 && echo shown > proj/visible.txt"]}""",
            "--until-notifications", "1", "--max-wait", "30000");

        // assert
        Assert.Null(watcher["error"]);
        var received = watcher["notifications"]!.AsArray();
        Assert.Contains(received, n => n!["path"]!.GetValue<string>() == "/workspace/proj/visible.txt");
        Assert.DoesNotContain(received, n => n!["path"]!.GetValue<string>().StartsWith("/workspace/proj/secret", StringComparison.Ordinal));
    }
}
