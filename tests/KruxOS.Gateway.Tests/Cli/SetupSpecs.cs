using System.Text.Json.Nodes;
using KruxOS.Cli;
using KruxOS.Cli.Setup;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Cli;

/// <summary>
/// <c>kruxos setup</c> as an operator runs it (ADR 0026): the page's default agent, the seed configs' user tokens, the
/// user on the auth socket (kept across restarts, in force at once) and that user's client configs, written as that
/// user. A second run changes nothing.
/// </summary>
[RequiresSystemPackages("setpriv:util-linux", Root = true)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SetupSpecs : IAsyncLifetime
{
    private const uint Nobody = 65534;
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("kruxos-setup-");
    private TestGateway _gateway = null!;

    /// <summary>nobody's home for this test (theirs: owned by them, 0700).</summary>
    private string Home => Path.Combine(_root.FullName, "home");

    /// <summary>The auth socket, in a directory every uid may traverse (as the appliance's /run/kruxos).</summary>
    private string AuthSocket => Path.Combine(_root.FullName, "run", "auth.sock");

    public async ValueTask InitializeAsync()
    {
        File.SetUnixFileMode(_root.FullName, (UnixFileMode)Convert.ToInt32("755", 8));
        Directory.CreateDirectory(Path.GetDirectoryName(AuthSocket)!, (UnixFileMode)Convert.ToInt32("711", 8));
        Directory.CreateDirectory(Home, (UnixFileMode)Convert.ToInt32("700", 8));
        if (Environment.IsPrivilegedProcess) await ProcessRunner.RunAsync("chown", [$"{Nobody}:{Nobody}", Home]);
        _gateway = await TestGateway.StartAsync(Path.Combine(_root.FullName, "data"), "--auth-socket", AuthSocket);
    }

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _root.Delete(recursive: true);
    }

    private static void RequireRoot() =>
        Assert.SkipUnless(Environment.IsPrivilegedProcess && File.Exists("/usr/bin/setpriv"), "setup acts for another user: needs root and setpriv (util-linux)");

    private Task<ProcessResult> Setup(params string[] extra) =>
        ProcessRunner.Kruxos(_gateway, ["setup", "--non-interactive", "--user", "65534", "--home", Home, "--write-configs", .. extra]);

    // The seed config's server entry run as nobody, the way Claude Code would start it.
    private async Task<ProcessResult> BridgeAsNobodyAsync()
    {
        var server = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(Home, ".claude.json"), TestContext.Current.CancellationToken))!["mcpServers"]!["kruxos-gateway"]!;
        var env = server["env"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>());
        env["HOME"] = Home;
        env["DOTNET_CLI_HOME"] = Home;
        return await ProcessRunner.RunAsync("setpriv",
            ["--reuid", $"{Nobody}", "--regid", $"{Nobody}", "--clear-groups", server["command"]!.GetValue<string>(), .. server["args"]!.AsArray().Select(a => a!.GetValue<string>())],
            env, stdin: """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"setup-test","version":"1"}}}""" + "\n");
    }

    private static uint OwnerOf(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit(10_000);
        return uint.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Should_set_up_the_page_for_a_user_and_change_nothing_on_a_second_run()
    {
        RequireRoot();

        // act
        var first = await Setup();

        // assert: every step, and no token on standard output (not a terminal; ADR 0014)
        Assert.True(first.ExitCode == 0, first.StdOut + first.StdErr);
        Assert.Contains("org policy template 'team-moderate' in force", first.StdOut, StringComparison.Ordinal);
        Assert.Contains("created agent 'default-agent'", first.StdOut, StringComparison.Ordinal);
        Assert.Contains("created 'claude-code'; created 'primary'", first.StdOut, StringComparison.Ordinal);
        Assert.Contains($"(uid {Nobody}) may now mint credentials on {AuthSocket}", first.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("krx_user_", first.StdOut + first.StdErr, StringComparison.Ordinal);

        // the credentials are in owner-only files of that user, in their home
        var mcpJson = Path.Combine(Home, ".kruxos", "default-agent.mcp.json");
        var userTokens = Path.Combine(Home, ".kruxos", "user-tokens.json");
        foreach (var file in new[] { mcpJson, userTokens })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.Equal(Nobody, OwnerOf(file));
        }
        var agentEnv = JsonNode.Parse(await File.ReadAllTextAsync(mcpJson, TestContext.Current.CancellationToken))!["mcpServers"]!["kruxos"]!["env"]!;
        Assert.Equal($"wss://127.0.0.1:{_gateway.GatewayPort}/mcp", agentEnv["KRUXOS_ENDPOINT"]!.GetValue<string>());
        Assert.Equal("default-agent", agentEnv["KRUXOS_AGENT_NAME"]!.GetValue<string>());
        var tokens = JsonNode.Parse(await File.ReadAllTextAsync(userTokens, TestContext.Current.CancellationToken))!;
        Assert.StartsWith("krx_user_", tokens["claude-code"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.StartsWith("krx_user_", tokens["primary"]!.GetValue<string>(), StringComparison.Ordinal);

        // the client configs are that user's files and point at this gateway
        foreach (var f in new[] { ".claude.json", ".claude/settings.json", ".codex/config.toml", ".codex/hooks.json" })
            Assert.Equal(Nobody, OwnerOf(Path.Combine(Home, f)));
        // and they work for that user: the bridge mints over the auth socket and connects over wss://
        var bridge = await BridgeAsNobodyAsync();
        Assert.True(bridge.ExitCode == 0, bridge.StdErr);
        Assert.Contains("\"serverInfo\"", bridge.StdOut, StringComparison.Ordinal);

        // act: again
        var stamps = Directory.GetFiles(Home, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var second = await Setup();

        // assert: everything exists, nothing is issued, rotated or rewritten
        Assert.True(second.ExitCode == 0, second.StdOut + second.StdErr);
        Assert.Contains("is in force; left as it is", second.StdOut, StringComparison.Ordinal);
        Assert.Contains("agent 'default-agent' exists", second.StdOut, StringComparison.Ordinal);
        Assert.Contains("'claude-code' exists", second.StdOut, StringComparison.Ordinal);
        Assert.Contains("may already mint credentials", second.StdOut, StringComparison.Ordinal);
        Assert.Contains("already point at this gateway", second.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("Issued credentials", second.StdOut, StringComparison.Ordinal);
        Assert.Equal(stamps, Directory.GetFiles(Home, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc));
        Assert.Equal(2, (await _gateway.ControlAsync(ControlProtocol.Methods.UserTokenList))["tokens"]!.AsArray().Count);
    }

    [Fact]
    public async Task Should_keep_an_auth_socket_grant_across_a_restart_and_take_a_revoke_at_once()
    {
        RequireRoot();
        await Setup();
        Assert.Equal(0, (await BridgeAsNobodyAsync()).ExitCode);

        // a restart keeps the grant (it lives in the data directory)
        _gateway = await _gateway.RestartAsync();
        Assert.Equal([Nobody], (await _gateway.ControlAsync(ControlProtocol.Methods.AuthSocketList))["granted"]!.AsArray().Select(u => u!.GetValue<uint>()));
        Assert.Equal(0, (await BridgeAsNobodyAsync()).ExitCode);

        // a revoke takes effect for the next connection, without a restart
        var revoke = await ProcessRunner.Kruxos(_gateway, "auth-socket", "revoke", "65534");
        Assert.True(revoke.ExitCode == 0, revoke.StdErr);
        var refused = await BridgeAsNobodyAsync();
        Assert.Equal(5, refused.ExitCode); // credential source unavailable
        // no uid is granted any more, so the socket is back to 0600: the kernel refuses the connection itself
        Assert.Contains("this user may not open it", refused.StdErr, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(AuthSocket));
    }

    [Fact]
    public async Task Should_not_let_a_link_the_user_planted_in_their_home_make_root_write_elsewhere()
    {
        RequireRoot();
        // arrange: nobody points ~/.claude at a root-owned directory they cannot write (as they could at /etc/…)
        var target = Directory.CreateDirectory(Path.Combine(_root.FullName, "root-owned")).FullName;
        File.SetUnixFileMode(target, (UnixFileMode)Convert.ToInt32("755", 8));
        var link = await ProcessRunner.RunAsync("setpriv", ["--reuid", $"{Nobody}", "--regid", $"{Nobody}", "--clear-groups", "ln", "-s", target, Path.Combine(Home, ".claude")]);
        Assert.True(link.ExitCode == 0, link.StdErr);

        // act: root runs setup for nobody
        var r = await Setup();

        // assert: nothing appeared in the root-owned directory; the configs step says it could not write
        Assert.Empty(Directory.GetFileSystemEntries(target));
        Assert.Contains("client configs", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("FAILED", r.StdErr, StringComparison.Ordinal);
        Assert.Equal(1, r.ExitCode);
    }

    [Fact]
    public async Task Should_ask_on_a_terminal_and_print_what_it_issued_there()
    {
        // arrange: root at the gateway's console, no desktop user; answers typed: a template, then no requirements layer
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var console = new SetupConsole(new StringReader("enterprise-restrictive\nn\n"), InIsTerminal: true, OutIsTerminal: true);

        // act
        var code = await CliApp.RunAsync(["setup", "--no-user"], stdout, stderr, new ControlClient(_gateway.ControlSocket), TestContext.Current.CancellationToken, console);

        // assert
        Assert.True(code == 0, stdout + "\n" + stderr);
        var text = stdout.ToString();
        Assert.Contains("Org policy template (personal-permissive, team-moderate, enterprise-restrictive) [team-moderate]", text, StringComparison.Ordinal);
        Assert.Equal("enterprise-restrictive", (await _gateway.ControlAsync(ControlProtocol.Methods.PolicyShow))["template"]!.GetValue<string>());
        Assert.Matches("agent default-agent: [0-9a-f]{64}", text);
        Assert.Matches("user token 'claude-code': krx_user_", text);
        Assert.Contains(".mcp.json for Claude Code (option B)", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Home, ".kruxos")));
    }

    [Fact]
    public async Task Should_refuse_to_guess_when_standard_input_is_not_a_terminal()
    {
        var r = await ProcessRunner.Kruxos(_gateway, "setup");
        Assert.Equal(CliApp.Usage, r.ExitCode);
        Assert.Contains("--non-interactive", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain((await _gateway.ControlAsync(ControlProtocol.Methods.AgentList))["agents"]!.AsArray(), a => a!["name"]!.GetValue<string>() == SetupPlan.DefaultAgent);
    }
}
