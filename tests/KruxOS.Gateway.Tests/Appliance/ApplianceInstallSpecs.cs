using KruxOS.Testing;
using System.Diagnostics;
using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.Appliance;

/// <summary>
/// Installs the appliance into a temporary root and runs the installed programs from there, as the unit would (no
/// systemd here: the runtime directory it makes is made by hand, the installed configuration is used, only the ports
/// are moved): a healthy gateway serving TLS with its generated CA and refusing plain text on its 0.0.0.0 bind; the
/// installed CLI, bridge and hook working for root and, after <c>kruxos setup</c>, for the configured user.
/// </summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", "git:git", Root = true)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApplianceInstallSpecs
{
    [Fact]
    public async Task Should_install_into_a_root_and_start_the_installed_gateway_from_there()
    {
        var root = Directory.CreateTempSubdirectory("kruxos-root-").FullName;
        // A real root directory is world-traversable; the sandbox refuses data directories behind a 0700 parent.
        File.SetUnixFileMode(root, (UnixFileMode)Convert.ToInt32("755", 8));
        var repo = Path.GetDirectoryName(NodeClients.Directory)!;
        Process? gateway = null;
        try
        {
            // act: install
            var install = await ProcessRunner.RunAsync("bash", [Path.Combine(repo, "..", "appliance", "install.sh"), "--root", root, "--configuration", "Debug", "--no-restore"],
                timeout: TimeSpan.FromMinutes(8));
            Assert.True(install.ExitCode == 0, install.StdErr + install.StdOut);

            // assert: the layout
            foreach (var path in new[] { "opt/kruxos/bin/kruxos-gateway", "opt/kruxos/bin/kruxos", "opt/kruxos/lib/gateway/kruxos-gateway.dll",
                         "opt/kruxos/lib/cli/kruxos.dll", "opt/kruxos/bin/mcp-bridge", "opt/kruxos/lib/mcp-bridge/mcp-bridge.dll",
                         "opt/kruxos/bin/cli-hook", "opt/kruxos/lib/cli-hook/cli-hook.dll", "etc/kruxos/gateway.json", "etc/systemd/system/kruxos-gateway.service",
                         "etc/systemd/system/kruxos-backup.service", "etc/systemd/system/kruxos-backup.timer" })
                Assert.True(File.Exists(Path.Combine(root, path)), $"missing {path}");
            Assert.True(Directory.Exists(Path.Combine(root, "data/kruxos")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(root, "data/kruxos")));
            var unit = await File.ReadAllTextAsync(Path.Combine(root, "etc/systemd/system/kruxos-gateway.service"));
            Assert.Contains("ExecStart=/opt/kruxos/bin/kruxos-gateway", unit);
            Assert.Contains("KRUXOS_DATA_DIR=/data/kruxos", unit);
            // The nightly backup: a oneshot asking the running gateway for a full backup, at 02:00 UTC, caught up after downtime.
            Assert.Contains("ExecStart=/opt/kruxos/bin/kruxos backup create", await File.ReadAllTextAsync(Path.Combine(root, "etc/systemd/system/kruxos-backup.service")));
            var timer = await File.ReadAllTextAsync(Path.Combine(root, "etc/systemd/system/kruxos-backup.timer"));
            Assert.Contains("OnCalendar=*-*-* 02:00:00 UTC", timer);
            Assert.Contains("Persistent=true", timer);

            // arrange: the installed configuration, relocated into the root as an operator of a relocated install would
            // (data directory and sockets under the root); the programs find it through their launchers
            var config = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(root, "etc/kruxos/gateway.json")))!;
            Assert.Equal("/run/kruxos/control.sock", config["Gateway"]!["ControlSocket"]!.GetValue<string>());
            config["KruxOS"]!["DataDir"] = Path.Combine(root, "data/kruxos");
            config["Gateway"]!["ControlSocket"] = Path.Combine(root, "run/kruxos/control.sock");
            config["Gateway"]!["AuthSocket"] = Path.Combine(root, "run/kruxos/auth.sock");
            await File.WriteAllTextAsync(Path.Combine(root, "etc/kruxos/gateway.json"), config.ToJsonString());

            // arrange: what systemd's RuntimeDirectory=kruxos / RuntimeDirectoryMode=0711 makes before ExecStart
            Directory.CreateDirectory(Path.Combine(root, "run/kruxos"), (UnixFileMode)Convert.ToInt32("711", 8));
            File.SetUnixFileMode(Path.Combine(root, "run/kruxos"), (UnixFileMode)Convert.ToInt32("711", 8));

            // act: start the installed gateway from the root with no KRUXOS_ environment and no --config: the installed
            // configuration's bind (0.0.0.0), only the ports moved
            var (g, u, h) = (TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort());
            var psi = new ProcessStartInfo(Path.Combine(root, "opt/kruxos/bin/kruxos-gateway"))
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            ProcessRunner.ScrubEnvironment(psi);
            foreach (var a in new[] { "--gateway-port", $"{g}", "--user-api-port", $"{u}", "--health-port", $"{h}", "--dashboard-port", "0" })
                psi.ArgumentList.Add(a);
            gateway = Process.Start(psi)!;
            var stdout = new System.Text.StringBuilder();
            gateway.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
            gateway.BeginOutputReadLine();
            gateway.BeginErrorReadLine();

            // act: the installed CLI, also with no KRUXOS_ environment (ProcessRunner scrubs inherited ones)
            var kruxos = Path.Combine(root, "opt/kruxos/bin/kruxos");
            var env = new Dictionary<string, string>();
            ProcessResult status = new(-1, "", "");
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TestTimeouts.Process)
            {
                status = await ProcessRunner.RunAsync(kruxos, ["status", "--json"], env);
                // ready once the first-start bootstrap has created the admin agent
                if (status.ExitCode == 0 && JsonNode.Parse(status.StdOut)!["agents"]!["total"]!.GetValue<int>() == 1) break;
                await Task.Delay(500);
            }

            // assert: the installed CLI talks to the installed gateway, which bootstrapped its admin agent
            Assert.True(status.ExitCode == 0, status.StdErr);
            var json = JsonNode.Parse(status.StdOut)!;
            Assert.Equal(g, json["gateway"]!["port"]!.GetValue<int>());
            Assert.Equal(Path.Combine(root, "data/kruxos"), json["data_dir"]!.GetValue<string>());
            Assert.Equal(1, json["agents"]!["total"]!.GetValue<int>());
            Assert.True(File.Exists(Path.Combine(root, "data/kruxos/kruxos.db")));
            // the gateway left systemd's runtime directory as it was
            Assert.Equal((UnixFileMode)Convert.ToInt32("711", 8), File.GetUnixFileMode(Path.Combine(root, "run/kruxos")));
            lock (stdout) Assert.Contains("created agent 'admin'", stdout.ToString());
            using var http = new HttpClient();
            Assert.True((await http.GetAsync($"http://127.0.0.1:{h}/health/ready")).IsSuccessStatusCode);
            // ready is not yet healthy: areas still recovering (the proxy's write index, the vault) say so for a moment
            var health = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{h}/health"))!;
            for (var healthyBy = DateTime.UtcNow + TimeSpan.FromSeconds(60); health["status"]!.GetValue<string>() != "healthy" && DateTime.UtcNow < healthyBy;)
            {
                await Task.Delay(250);
                health = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{h}/health"))!;
            }
            Assert.True(health["status"]!.GetValue<string>() == "healthy", health.ToJsonString());

            // assert: TLS with the CA it generated (published for local clients), and no plain text on the 0.0.0.0 bind
            var ca = Path.Combine(root, "run/kruxos/ca.crt");
            using (var https = TestTls.HttpClientTrusting(TestTls.Load(ca)))
                Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await https.PostAsync($"https://127.0.0.1:{g}/rpc", new StringContent("{}"))).StatusCode);
            var plain = await http.PostAsync($"http://127.0.0.1:{g}/rpc", new StringContent("{}"));
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, plain.StatusCode);
            Assert.Contains("serves TLS only", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // assert: stdout is not a terminal (as under systemd, where it is the journal): the token is not printed,
            // it is in an owner-only .mcp.json in the data directory whose path is printed (ADR 0014)
            var snippetFile = Path.Combine(root, "data/kruxos/admin.mcp.json");
            lock (stdout) Assert.Contains(snippetFile, stdout.ToString());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(snippetFile));
            var server = JsonNode.Parse(await File.ReadAllTextAsync(snippetFile))!["mcpServers"]!["kruxos"]!;
            var adminToken = server["env"]!["KRUXOS_AGENT_TOKEN"]!.GetValue<string>();
            Assert.Matches("^[0-9a-f]{64}$", adminToken);
            lock (stdout) Assert.DoesNotContain(adminToken, stdout.ToString());
            // the snippet names the bridge of this install
            Assert.Equal(Path.Combine(root, "opt/kruxos/bin/mcp-bridge"), server["command"]!.GetValue<string>());

            // act: the installed mcp-bridge, started exactly as the .mcp.json says, answers initialize
            var bridge = await ProcessRunner.RunAsync(server["command"]!.GetValue<string>(), server["args"]!.AsArray().Select(a => a!.GetValue<string>()),
                server["env"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>()),
                stdin: """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"install-test","version":"1"}}}""" + "\n");
            Assert.True(bridge.ExitCode == 0, bridge.StdErr);
            Assert.Equal("kruxos-gateway", JsonNode.Parse(bridge.StdOut.Trim())!["result"]!["serverInfo"]!["name"]!.GetValue<string>());

            // act: the installed cli-hook decides a Claude Code Read through the installed gateway's User API
            const string readEvent = """{"session_id":"s1","cwd":"/home/dev/proj","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"/home/dev/proj/README.md"},"tool_use_id":"toolu_1"}""";
            var created = await ProcessRunner.RunAsync(kruxos, ["user-token", "create", "laptop", "--json"], env);
            Assert.True(created.ExitCode == 0, created.StdErr);
            var userToken = JsonNode.Parse(created.StdOut)!["token"]!.GetValue<string>();
            var hook = Path.Combine(root, "opt/kruxos/bin/cli-hook");
            string[] hookArgs = ["--cli", "claude-code", "--gateway", $"http://127.0.0.1:{u}"];
            var decided = await ProcessRunner.RunAsync(hook, hookArgs, new Dictionary<string, string> { ["KRUXOS_USER_TOKEN"] = userToken }, stdin: readEvent);
            // without a token the hook mints a credential for the client's seed label over the installed gateway's auth socket
            Assert.Equal(0, (await ProcessRunner.RunAsync(kruxos, ["user-token", "create", "claude-code"], env)).ExitCode);
            var authSocket = Path.Combine(root, "run/kruxos/auth.sock");
            var tokenless = await ProcessRunner.RunAsync(hook, [.. hookArgs, "--auth-socket", authSocket], stdin: readEvent);
            // for a label nobody has it exits 4, which the launcher turns into the clients' blocking exit 2
            var unknownLabel = await ProcessRunner.RunAsync(hook, [.. hookArgs, "--auth-socket", authSocket, "--label", "nobody"], stdin: readEvent);

            // assert: filesystem.read is autonomous by definition
            Assert.True(decided.ExitCode == 0, decided.StdErr);
            Assert.Equal("allow", JsonNode.Parse(decided.StdOut)!["hookSpecificOutput"]!["permissionDecision"]!.GetValue<string>());
            Assert.True(tokenless.ExitCode == 0, tokenless.StdErr);
            Assert.Equal("allow", JsonNode.Parse(tokenless.StdOut)!["hookSpecificOutput"]!["permissionDecision"]!.GetValue<string>());
            Assert.Equal(2, unknownLabel.ExitCode);
            Assert.Contains("kruxos user-token create nobody", unknownLabel.StdErr);
            Assert.Contains("exited with code 4", unknownLabel.StdErr);

            await SetUpTheConfiguredUserAsync(root, kruxos, g);
        }
        finally
        {
            if (gateway is { HasExited: false })
            {
                gateway.Kill(entireProcessTree: true);
                // exit only: a sandbox worker that outlives the kill must not hold the spec on its output pipes
                gateway.WaitForExit(TimeSpan.FromSeconds(30));
            }
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private const uint User = 65534;

    // `kruxos setup` for the desktop user (here uid 65534 with a home of its own), then the page's programs as root and as that user.
    private static async Task SetUpTheConfiguredUserAsync(string root, string kruxos, int gatewayPort)
    {
        var home = Path.Combine(root, "home/desktop");
        Directory.CreateDirectory(home, (UnixFileMode)Convert.ToInt32("700", 8));
        Assert.Equal(0, (await ProcessRunner.RunAsync("chown", [$"{User}:{User}", home])).ExitCode);

        // act: the installed CLI, as root, as install.sh runs it
        var setup = await ProcessRunner.RunAsync(kruxos, ["setup", "--non-interactive", "--user", $"{User}", "--home", home, "--write-configs"]);
        Assert.True(setup.ExitCode == 0, setup.StdOut + setup.StdErr);
        Assert.Contains("created agent 'default-agent'", setup.StdOut, StringComparison.Ordinal);
        Assert.Contains($"(uid {User}) may now mint credentials on {Path.Combine(root, "run/kruxos/auth.sock")}", setup.StdOut, StringComparison.Ordinal);

        // assert: the page's troubleshooting command, word for word, with the installed bridge as root — no CA setting
        var agent = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(home, ".kruxos/default-agent.mcp.json")))!["mcpServers"]!["kruxos"]!;
        var token = agent["env"]!["KRUXOS_AGENT_TOKEN"]!.GetValue<string>();
        var bridge = Path.Combine(root, "opt/kruxos/bin/mcp-bridge");
        Assert.Equal(bridge, agent["command"]!.GetValue<string>());
        var page = await ProcessRunner.RunAsync(bridge, [], new Dictionary<string, string>
        {
            ["KRUXOS_ENDPOINT"] = $"wss://localhost:{gatewayPort}", ["KRUXOS_AGENT_NAME"] = "default-agent", ["KRUXOS_AGENT_TOKEN"] = token,
        }, stdin: Initialize);
        Assert.True(page.ExitCode == 0, page.StdErr);
        Assert.Contains("\"serverInfo\"", page.StdOut, StringComparison.Ordinal);

        // assert: as the configured user — option B as setup wrote it, the seeded Claude Code server (user mode, minting
        // over the auth socket), and the seeded cli-hook
        var optionB = await AsUserAsync(home, agent["command"]!.GetValue<string>(), [], Env(agent["env"]!), Initialize);
        Assert.True(optionB.ExitCode == 0, optionB.StdErr);
        var server = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(home, ".claude.json")))!["mcpServers"]!["kruxos-gateway"]!;
        var seeded = await AsUserAsync(home, server["command"]!.GetValue<string>(), [.. server["args"]!.AsArray().Select(a => a!.GetValue<string>())],
            Env(server["env"]!), Initialize);
        Assert.True(seeded.ExitCode == 0, seeded.StdErr);
        Assert.Contains("\"serverInfo\"", seeded.StdOut, StringComparison.Ordinal);
        var hookCommand = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(home, ".claude/settings.json")))!["hooks"]!["PreToolUse"]![0]!["hooks"]![0]!["command"]!.GetValue<string>().Split(' ');
        // no token in the user's environment: the seeded hook mints its credential over the installed auth socket
        const string readEvent = """{"session_id":"s2","cwd":"/home/dev/proj","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"/home/dev/proj/README.md"},"tool_use_id":"toolu_2"}""";
        var hook = await AsUserAsync(home, hookCommand[0], hookCommand[1..], new Dictionary<string, string>(), readEvent);
        Assert.True(hook.ExitCode == 0, hook.StdErr);
        Assert.Equal("allow", JsonNode.Parse(hook.StdOut)!["hookSpecificOutput"]!["permissionDecision"]!.GetValue<string>());

        // act + assert: setup again changes nothing
        var again = await ProcessRunner.RunAsync(kruxos, ["setup", "--non-interactive", "--user", $"{User}", "--home", home, "--write-configs"]);
        Assert.True(again.ExitCode == 0, again.StdOut + again.StdErr);
        Assert.Contains("agent 'default-agent' exists", again.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("Issued credentials", again.StdOut, StringComparison.Ordinal);
    }

    private const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"install-test","version":"1"}}}""" + "\n";

    private static Dictionary<string, string> Env(JsonNode env) => env.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>());

    private static Task<ProcessResult> AsUserAsync(string home, string program, string[] args, Dictionary<string, string> env, string stdin)
    {
        env["HOME"] = home;
        env["DOTNET_CLI_HOME"] = home;
        return ProcessRunner.RunAsync("setpriv", ["--reuid", $"{User}", "--regid", $"{User}", "--clear-groups", program, .. args], env, stdin: stdin);
    }
}
