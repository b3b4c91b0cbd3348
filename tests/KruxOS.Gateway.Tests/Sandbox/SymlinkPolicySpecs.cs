using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Testing;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>
/// Adversarial, through the real gateway and the agent's kernel sandbox: path rules used to be decided on the path as
/// written, while the sandbox opened wherever symbolic links led. An agent blocked from <c>/workspace/secret</c> made a
/// link to it under an allowed name and read (or wrote) through the link. Now the sandbox resolves the paths first, the
/// policy decides on the real ones, and the call runs on exactly those: a link that changes after the decision is not
/// followed (ADR 0023).
/// </summary>
public sealed class SymlinkPolicySpecs
{
    private const string Policy = """
        rules:
          - capability: "filesystem.*"
            conditions: { path_prefix: /workspace/secret }
            tier: blocked
            reason: secrets stay in the vault
          - capability: filesystem.read
            conditions: { path_prefix: /workspace/held }
            tier: approval_required
            reason: a human looks first
        """;

    private static readonly string Secret = "TOPSECRET-" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<(TestGateway Gateway, string Agent, McpClient Client)> StartAsync()
    {
        var agent = "sym-" + Guid.NewGuid().ToString("N")[..8];
        var gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-symlink-", agent, Policy));
        var token = await gateway.CreateAgentAsync(agent);
        var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = gateway.McpHttp,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }), cancellationToken: TestContext.Current.CancellationToken);
        return (gateway, agent, client);
    }

    private static void RequireSandbox() =>
        Assert.SkipUnless(Environment.IsPrivilegedProcess && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");

    private static async Task<string> CallAsync(McpClient client, string tool, object arguments)
    {
        var args = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(arguments));
        var result = await client.CallToolAsync(tool, args, cancellationToken: TestContext.Current.CancellationToken);
        return ((TextContentBlock)result.Content[0]).Text;
    }

    private static async Task ShellAsync(McpClient client, string script)
    {
        var text = await CallAsync(client, "process__run", new { command = "sh", args = new[] { "-c", script } });
        Assert.Contains("\"exit_code\":0", text.Replace(" ", "", StringComparison.Ordinal));
    }

    private static async Task<IReadOnlyList<AuditEntry>> EntriesAsync(TestGateway gateway, string agent, string capability) =>
        [.. (await new AuditReader(Path.Combine(gateway.DataDir, "audit")).QueryAsync(
                new AuditQuery { Agent = agent, Capability = capability, Ascending = true }, TestContext.Current.CancellationToken))
            .Entries.Select(e => e.Entry).Where(e => e.Kind == AuditEntryKind.Call)];

    [Fact]
    public async Task Should_refuse_reading_a_blocked_file_through_a_symlink_from_an_allowed_name_and_report_the_real_path()
    {
        RequireSandbox();
        // arrange: the attack of the issue
        var (gateway, agent, client) = await StartAsync();
        await using var _ = gateway;
        await using var __ = client;
        await ShellAsync(client, $"mkdir -p secret && echo {Secret} > secret/s.txt && ln -s secret notsecret");

        // act
        var read = await CallAsync(client, "filesystem__read", new { path = "notsecret/s.txt" });
        var direct = await CallAsync(client, "filesystem__read", new { path = "secret/s.txt" });

        // assert: refused like the direct read, naming the path it would really have opened; nothing of the file leaks
        Assert.DoesNotContain(Secret, read);
        var error = JsonNode.Parse(read)!;
        Assert.True(error["error"]?.GetValue<string>() == "PolicyDenied", read);
        Assert.Equal("/workspace/secret/s.txt", error["context"]!["resolved_paths"]!["path"]!.GetValue<string>());
        Assert.Equal("PolicyDenied", JsonNode.Parse(direct)!["error"]!.GetValue<string>());
        // the audit records the real path the decision was made on
        var entries = await EntriesAsync(gateway, agent, "filesystem.read");
        Assert.All(entries, e => Assert.Equal(AuditStatus.Denied, e.Status));
        Assert.All(entries, e => Assert.Equal("/workspace/secret/s.txt", e.Inputs.GetProperty("path").GetString()));
        // an allowed read through a link still works, and reports where it read
        await ShellAsync(client, "mkdir -p public && echo hello > public/p.txt && ln -s public pub");
        var allowed = JsonNode.Parse(await CallAsync(client, "filesystem__read", new { path = "pub/p.txt" }))!;
        Assert.Equal("/workspace/public/p.txt", allowed["path"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_refuse_writing_through_a_symlinked_directory_into_a_blocked_prefix()
    {
        RequireSandbox();
        // arrange
        var (gateway, agent, client) = await StartAsync();
        await using var _ = gateway;
        await using var __ = client;
        await ShellAsync(client, "mkdir -p secret && ln -s secret drop");

        // act: a new file, a file created with its parents, and an append, each through the linked directory
        var write = await CallAsync(client, "filesystem__write", new { path = "drop/planted.txt", content = "x" });
        var nested = await CallAsync(client, "filesystem__write", new { path = "drop/deeper/planted.txt", content = "x", create_parents = true });
        var append = await CallAsync(client, "filesystem__append", new { path = "drop/log.txt", content = "x" });

        // assert
        foreach (var answer in new[] { write, nested, append })
            Assert.True(JsonNode.Parse(answer)!["error"]?.GetValue<string>() == "PolicyDenied", answer);
        var secretDir = Path.Combine(gateway.DataDir, "workspace", agent, "secret");
        Assert.Empty(Directory.EnumerateFileSystemEntries(secretDir));
    }

    [Fact]
    public async Task Should_fail_closed_when_a_symlink_is_swapped_in_after_the_decision()
    {
        RequireSandbox();
        // arrange: a read that needs approval, asked through a link to an allowed directory
        var (gateway, agent, client) = await StartAsync();
        await using var _ = gateway;
        await using var __ = client;
        await ShellAsync(client, $"mkdir -p held secret && echo harmless > held/f.txt && echo {Secret} > secret/f.txt && ln -s held via");
        var held = CallAsync(client, "filesystem__read", new { path = "via/f.txt" });
        JsonNode? pending = null;
        var deadline = DateTime.UtcNow + TestTimeouts.Call;
        while (pending is null && DateTime.UtcNow < deadline)
        {
            pending = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray().FirstOrDefault();
            if (pending is null) await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.True(pending is not null, "the read was not held for approval: it was decided on the path as written");
        // the approver sees the path the call will really open
        Assert.Equal("/workspace/held/f.txt", pending!["arguments"]!["path"]!.GetValue<string>());

        // act: while the call waits, the agent swaps the decided directory for a link to the blocked one; then it is approved
        await ShellAsync(client, "mv held held.orig && ln -s secret held");
        await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = pending["id"]!.GetValue<string>(), ["reason"] = "ok" });
        var answer = await held.WaitAsync(TestTimeouts.Process, TestContext.Current.CancellationToken);

        // assert: the link is not followed; the call fails closed, and nothing of the secret leaks
        Assert.DoesNotContain(Secret, answer);
        var error = JsonNode.Parse(answer)!;
        Assert.Equal("PathOutOfScope", error["error"]!.GetValue<string>());
        Assert.Contains("/workspace/secret/f.txt", error["message"]!.GetValue<string>());
    }
}
