using KruxOS.Testing;
using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.Cli;

/// <summary>The real <c>kruxos</c> program against a real gateway's control socket.</summary>
public sealed class CliSpecs : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Should_manage_an_agents_whole_lifecycle()
    {
        // create (positional name), shown once
        var created = await ProcessRunner.Kruxos(_gateway, "agent", "create", "lifecycle", "--purpose", "cli spec");
        Assert.Equal(0, created.ExitCode);
        Assert.Contains("will not be shown again", created.StdOut);
        var token1 = created.StdOut.Split('\n').Single(l => l.StartsWith("Token:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Matches("^[0-9a-f]{64}$", token1);

        // list and show never print tokens
        var list = await ProcessRunner.Kruxos(_gateway, "agent", "list", "--json");
        var agents = JsonNode.Parse(list.StdOut)!["agents"]!.AsArray();
        Assert.Contains(agents, a => a!["name"]!.GetValue<string>() == "lifecycle" && a["purpose"]!.GetValue<string>() == "cli spec");
        Assert.DoesNotContain(token1, list.StdOut);
        var show = await ProcessRunner.Kruxos(_gateway, "agent", "show", "lifecycle");
        Assert.Contains("/workspace", show.StdOut);
        Assert.DoesNotContain(token1, show.StdOut);

        // rotate issues a different token
        var rotated = JsonNode.Parse((await ProcessRunner.Kruxos(_gateway, "agent", "rotate", "lifecycle", "--json")).StdOut)!;
        Assert.NotEqual(token1, rotated["token"]!.GetValue<string>());

        // revoke, then revoke again is refused with exit 1
        Assert.Equal(0, (await ProcessRunner.Kruxos(_gateway, "agent", "revoke", "lifecycle")).ExitCode);
        var again = await ProcessRunner.Kruxos(_gateway, "agent", "revoke", "lifecycle");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already revoked", again.StdErr);
        var revokedRow = JsonNode.Parse((await ProcessRunner.Kruxos(_gateway, "agent", "list", "--json")).StdOut)!["agents"]!.AsArray()
            .Single(a => a!["name"]!.GetValue<string>() == "lifecycle");
        Assert.Equal("revoked", revokedRow!["status"]!.GetValue<string>());

        // restore issues yet another token
        var restored = JsonNode.Parse((await ProcessRunner.Kruxos(_gateway, "agent", "restore", "lifecycle", "--json")).StdOut)!;
        Assert.Matches("^[0-9a-f]{64}$", restored["token"]!.GetValue<string>());
        Assert.Equal("idle", restored["status"]!.GetValue<string>());

        // kill works on an agent without sessions and reports zero
        var kill = await ProcessRunner.Kruxos(_gateway, "kill", "lifecycle");
        Assert.Equal(0, kill.ExitCode);
        Assert.Contains("Terminated 0 session(s)", kill.StdOut);
    }

    [Fact]
    public async Task Should_read_and_write_an_agents_state_and_the_shared_state_as_the_operator()
    {
        // arrange
        await _gateway.CreateAgentAsync("stateful");

        // act: persistent state of the agent
        var set1 = await ProcessRunner.Kruxos(_gateway, "state", "set", "stateful", "plan", """{"step":1}""");
        var set2 = await ProcessRunner.Kruxos(_gateway, "state", "set", "stateful", "plan", "plain words");
        var get = await ProcessRunner.Kruxos(_gateway, "state", "get", "stateful", "plan", "--json");
        var old = await ProcessRunner.Kruxos(_gateway, "state", "get", "stateful", "plan", "--version", "1", "--json");
        var list = await ProcessRunner.Kruxos(_gateway, "state", "list", "stateful");
        var quota = await ProcessRunner.Kruxos(_gateway, "state", "quota", "stateful");
        var unknown = await ProcessRunner.Kruxos(_gateway, "state", "list", "ghost");
        // shared state, with its optimistic lock
        var created = await ProcessRunner.Kruxos(_gateway, "state", "shared", "set", "team/status", "\"green\"", "--expected-version", "0");
        var stale = await ProcessRunner.Kruxos(_gateway, "state", "shared", "set", "team/status", "\"red\"", "--expected-version", "0");
        var shared = await ProcessRunner.Kruxos(_gateway, "state", "shared", "get", "team/status", "--json");
        var sharedList = await ProcessRunner.Kruxos(_gateway, "state", "shared", "list", "--json");
        var deleted = await ProcessRunner.Kruxos(_gateway, "state", "delete", "stateful", "plan");
        var gone = await ProcessRunner.Kruxos(_gateway, "state", "get", "stateful", "plan");

        // assert
        Assert.Contains("Set version 1 (previous 0).", set1.StdOut);
        Assert.Contains("Set version 2 (previous 1).", set2.StdOut);
        Assert.Equal("plain words", JsonNode.Parse(get.StdOut)!["value"]!.GetValue<string>());
        Assert.Equal(1, JsonNode.Parse(old.StdOut)!["value"]!["step"]!.GetValue<int>());
        Assert.Contains("plan  v2", list.StdOut);
        Assert.Matches(@"^Used: \d+\.\d MB / 100\.0 MB \(\d+\.\d%\), Keys: 1\n$", quota.StdOut);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("not found", unknown.StdErr);
        Assert.Equal(0, created.ExitCode);
        Assert.Equal(1, stale.ExitCode);
        Assert.Contains("VersionConflict", stale.StdErr);
        Assert.Equal("green", JsonNode.Parse(shared.StdOut)!["value"]!.GetValue<string>());
        Assert.Equal("user:cli:root", JsonNode.Parse(shared.StdOut)!["owner_agent"]!.GetValue<string>());
        Assert.Contains(JsonNode.Parse(sharedList.StdOut)!["entries"]!.AsArray(), e => e!["key"]!.GetValue<string>() == "team/status");
        Assert.Equal(0, deleted.ExitCode);
        Assert.Contains("Not found.", gone.StdOut);
    }

    [Theory]
    [InlineData(new[] { "agent", "create", "default" }, 1, "reserved")]
    [InlineData(new[] { "agent", "create" }, 2, "give the agent's name")]
    [InlineData(new[] { "agent", "show", "ghost" }, 1, "not found")]
    [InlineData(new[] { "agent", "frobnicate" }, 2, "")]
    [InlineData(new[] { "user-token", "revoke", "no-such-id" }, 1, "not found")]
    public async Task Should_exit_with_a_clear_error_on_bad_requests(string[] args, int exit, string message)
    {
        var r = await ProcessRunner.Kruxos(_gateway, args);
        Assert.Equal(exit, r.ExitCode);
        Assert.Contains(message, r.StdErr);
    }

    [Fact]
    public async Task Should_create_list_and_revoke_user_tokens_showing_the_token_once()
    {
        var created = JsonNode.Parse((await ProcessRunner.Kruxos(_gateway, "user-token", "create", "--label", "laptop", "--json")).StdOut)!;
        var token = created["token"]!.GetValue<string>();
        Assert.StartsWith("krx_user_", token);
        var list = await ProcessRunner.Kruxos(_gateway, "user-token", "list");
        Assert.Contains("laptop", list.StdOut);
        Assert.DoesNotContain(token, list.StdOut);
        Assert.Equal(0, (await ProcessRunner.Kruxos(_gateway, "user-token", "revoke", created["id"]!.GetValue<string>())).ExitCode);
        Assert.Contains("revoked", (await ProcessRunner.Kruxos(_gateway, "user-token", "list")).StdOut);
    }

    [Fact]
    public async Task Should_report_status_and_pass_verify()
    {
        var status = await ProcessRunner.Kruxos(_gateway, "status");
        Assert.Equal(0, status.ExitCode);
        Assert.Contains($"port {_gateway.GatewayPort}", status.StdOut);
        var json = JsonNode.Parse((await ProcessRunner.Kruxos(_gateway, "status", "--json")).StdOut)!;
        Assert.Equal(_gateway.HealthPort, json["health_port"]!.GetValue<int>());
        var verify = await ProcessRunner.Kruxos(_gateway, "verify");
        Assert.Equal(0, verify.ExitCode);
        Assert.Contains("PASS  capabilities", verify.StdOut);
        Assert.Matches(@"\d+ capabilities across 14 categories", verify.StdOut);
        Assert.DoesNotContain("FAIL", verify.StdOut);
    }

    [Fact]
    public async Task Should_stream_supervision_events_with_watch()
    {
        var token = await _gateway.CreateAgentAsync("watched");
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(ProcessRunner.CliDll);
        psi.ArgumentList.Add("watch");
        psi.ArgumentList.Add("--agent");
        psi.ArgumentList.Add("watched");
        psi.Environment["KRUXOS_CONTROL_SOCKET"] = _gateway.ControlSocket;
        using var watch = System.Diagnostics.Process.Start(psi)!;
        try
        {
            // the stream is live once the CLI is connected; calls made after that are seen
            string? line = null;
            var calls = Task.Run(async () =>
            {
                while (!cts.IsCancellationRequested)
                {
                    await NodeClients.RunAsync(token, "--transport", "http", "--url", _gateway.McpHttp.ToString(), "--call", "system__time");
                    await Task.Delay(500, cts.Token);
                }
            }, cts.Token);
            while ((line = await watch.StandardOutput.ReadLineAsync(cts.Token)) is not null)
                if (line.Contains("capability_invoked")) break;
            Assert.NotNull(line);
            var e = JsonNode.Parse(line!)!;
            Assert.Equal("watched", e["agent"]!.GetValue<string>());
            Assert.Equal("system.time", e["data"]!["capability"]!.GetValue<string>());
        }
        finally
        {
            cts.Cancel();
            watch.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Should_exit_3_when_the_gateway_is_unreachable()
    {
        var r = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "status"],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = Path.Combine(Path.GetTempPath(), "no-such-kruxos.sock") });
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("is the gateway running", r.StdErr);
    }
}
