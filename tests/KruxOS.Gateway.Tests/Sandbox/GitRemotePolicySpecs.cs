using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Policy;
using KruxOS.Sandbox;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>
/// git.clone / pull / push against remotes the agent's policy allows (git.remotes, ADR 0012), through the whole
/// gateway: a bare repository in the workspace (file://) and a real git daemon on loopback (git://, via the relay).
/// </summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", "git:git", Root = true)]
public sealed class GitRemotePolicySpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static string AgentPolicy(params string[] remotes) =>
        "rules:\n  - capability: \"git.*\"\n    tier: autonomous\n  - capability: \"filesystem.*\"\n    tier: autonomous\n"
        + "git:\n  remotes:\n" + string.Concat(remotes.Select(r => $"    - \"{r}\"\n"));

    private static async Task<JsonObject> CallAsync(McpClient client, string tool, object args)
    {
        var arguments = System.Text.Json.JsonSerializer.SerializeToElement(args).EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        var result = await client.CallToolAsync(tool, arguments, cancellationToken: TestContext.Current.CancellationToken);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        var body = Assert.IsType<JsonObject>(JsonNode.Parse(text));
        body["__isError"] = result.IsError == true;
        return body;
    }

    private static async Task<JsonObject> OkAsync(McpClient client, string tool, object args)
    {
        var body = await CallAsync(client, tool, args);
        Assert.False(body["__isError"]!.GetValue<bool>(), $"{tool}: {body.ToJsonString()}");
        return body;
    }

    [Fact]
    public async Task Should_clone_push_and_pull_only_the_remotes_the_policy_allows_and_follow_policy_changes()
    {
        // arrange: a git daemon with two repositories; the agent's policy allows one of them and a bare repo in its workspace
        await using var daemon = await GitDaemon.StartAsync("shared.git", "secret.git");
        var agent = "gitbot";
        var shared = daemon.Url("shared.git");
        var secret = daemon.Url("secret.git");
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string>
        {
            [$"agents/{agent}.yaml"] = AgentPolicy("file:///workspace/remote.git", shared),
        });
        var token = await gateway.CreateAgentAsync(agent);
        var sandbox = gateway.Services.GetRequiredService<SandboxHost>();
        var workspace = sandbox.WorkspaceOf(Core.Agents.AgentName.Parse(agent));
        GitDaemon.Run(workspace, "init", "--bare", "-q", "-b", "main", "remote.git");
        Chown(Path.Combine(workspace, "remote.git"), sandbox.HostUidFor(Core.Agents.AgentName.Parse(agent)));
        await using var client = await gateway.ConnectAsync(token);

        // act + assert: file:// bare repository in the workspace
        await OkAsync(client, "git__clone", new { url = "file:///workspace/remote.git", path = "local" });
        await OkAsync(client, "filesystem__write", new { path = "local/a.txt", content = "a\n" });
        await OkAsync(client, "git__commit", new { path = "local", message = "a" });
        var pushed = await OkAsync(client, "git__push", new { path = "local", branch = "main" });
        Assert.Equal(pushed["head_commit"]!.GetValue<string>(), GitDaemon.Run(workspace, "--git-dir=remote.git", "rev-parse", "main").Trim());

        // git:// daemon on loopback, through the relay
        await OkAsync(client, "git__clone", new { url = shared, path = "d1" });
        await OkAsync(client, "filesystem__write", new { path = "d1/b.txt", content = "b\n" });
        await OkAsync(client, "git__commit", new { path = "d1", message = "b" });
        var pushedNet = await OkAsync(client, "git__push", new { path = "d1", branch = "main" });
        Assert.Equal(pushedNet["head_commit"]!.GetValue<string>(), GitDaemon.Run(daemon.Root, "--git-dir=shared.git", "rev-parse", "main").Trim());
        await OkAsync(client, "git__clone", new { url = shared, path = "d2" });
        await OkAsync(client, "filesystem__write", new { path = "d1/c.txt", content = "c\n" });
        await OkAsync(client, "git__commit", new { path = "d1", message = "c" });
        await OkAsync(client, "git__push", new { path = "d1" });
        Assert.Equal(1, (await OkAsync(client, "git__pull", new { path = "d2" }))["new_commits"]!.GetValue<int>());

        // a remote the policy does not list is refused before the sandbox runs, and audited as denied
        var refused = await CallAsync(client, "git__clone", new { url = secret, path = "s" });
        Assert.True(refused["__isError"]!.GetValue<bool>());
        Assert.Equal("PolicyDenied", refused["error"]!.GetValue<string>());
        Assert.Contains("system:git_remote_not_allowed", refused.ToJsonString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(workspace, "s")));
        Assert.Contains(await AuditAsync(gateway), e => e["capability"]?.GetValue<string>() == "git.clone"
            && e["result"]?["status"]?.GetValue<string>() == "denied");

        // a policy change takes effect on the next call: secret allowed, shared no longer
        var revision = gateway.Policies.Status.Revision;
        gateway.WritePolicy($"agents/{agent}.yaml", AgentPolicy("file:///workspace/remote.git", secret));
        await WaitForAsync(() => gateway.Policies.Status.Revision != revision);
        await OkAsync(client, "git__clone", new { url = secret, path = "s" });
        var pull = await CallAsync(client, "git__pull", new { path = "d2" });
        Assert.Equal("RemoteNotAllowed", pull["error"]!.GetValue<string>());
        var again = await CallAsync(client, "git__clone", new { url = shared, path = "d3" });
        Assert.Equal("PolicyDenied", again["error"]!.GetValue<string>());
    }

    private static async Task<List<JsonObject>> AuditAsync(PolicyGateway gateway)
    {
        var userToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "ops" }))["token"]!.GetValue<string>();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.UserApiPort}") };
        http.DefaultRequestHeaders.Authorization = new("Bearer", userToken);
        var deadline = DateTimeOffset.UtcNow + Wait;
        while (true)
        {
            using var response = await http.GetAsync("/api/audit?limit=200", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var entries = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["entries"]!.AsArray().Select(e => e!.AsObject()).ToList();
            if (entries.Any(e => e["capability"]?.GetValue<string>() == "git.clone" && e["result"]?["status"]?.GetValue<string>() == "denied") || DateTimeOffset.UtcNow > deadline)
                return entries;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.True(condition(), "the policy change was not picked up");
    }

    private static void Chown(string path, uint uid)
    {
        var psi = new ProcessStartInfo("chown") { RedirectStandardError = true };
        foreach (var a in new[] { "-R", $"{uid}:{uid}", path }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
