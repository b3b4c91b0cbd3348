using System.Text.Json.Nodes;
using KruxOS.Cli;
using Tomlyn;
using Tomlyn.Model;
using Xunit;

namespace KruxOS.Gateway.Tests.Cli;

/// <summary><c>kruxos cli-config generate</c>: deterministic output, careful merges, backups, idempotence, refusals.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CliConfigSpecs : IDisposable
{
    private readonly DirectoryInfo _home = Directory.CreateTempSubdirectory("kruxos-home-");

    public void Dispose() => _home.Delete(recursive: true);

    private string P(string relative) => Path.Combine(_home.FullName, relative);

    // No gateway: a control socket that does not exist and no published endpoint file, so the appliance defaults apply.
    private async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var nowhere = Path.Combine(_home.FullName, "no-gateway", "control.sock");
        var code = await CliApp.RunAsync(args, stdout, stderr, new ControlClient(nowhere), TestContext.Current.CancellationToken);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string[] Backups() => Directory.GetFiles(_home.FullName, "*.bak-*", SearchOption.AllDirectories);

    [Fact]
    public async Task Should_print_every_path_and_the_same_content_on_every_run_without_writing()
    {
        var first = await Run("cli-config", "generate", "--home", _home.FullName);
        var second = await Run("cli-config", "generate", "--home", _home.FullName);
        Assert.Equal(0, first.Code);
        Assert.Equal(first.Out, second.Out);
        foreach (var f in new[] { ".claude.json", ".claude/settings.json", ".codex/config.toml", ".codex/hooks.json" })
            Assert.Contains($"# {P(f)}\n", first.Out, StringComparison.Ordinal);
        Assert.Contains("\"--cli=claude-code\"", first.Out, StringComparison.Ordinal);
        Assert.Contains("wss://127.0.0.1:7700/", first.Out, StringComparison.Ordinal);
        Assert.Contains("no running gateway was found", first.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("KRUXOS_USER_TOKEN", first.Out, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_home.FullName));

        var claudeOnly = await Run("cli-config", "generate", "--home", _home.FullName, "--claude");
        Assert.DoesNotContain(".codex", claudeOnly.Out, StringComparison.Ordinal);
        var codexOnly = await Run("cli-config", "generate", "--home", _home.FullName, "--codex");
        Assert.DoesNotContain(".claude", codexOnly.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(".codex/config.toml")]
    [InlineData(".claude.json")]
    public async Task Should_refuse_a_user_config_nested_200000_levels_deep_with_a_clear_error_and_write_nothing(string file)
    {
        // arrange: a config nested far past any parser's limit
        Directory.CreateDirectory(Path.GetDirectoryName(P(file))!);
        var deep = file.EndsWith(".toml", StringComparison.Ordinal)
            ? "a = " + new string('[', 200_000) + new string(']', 200_000) + "\n"
            : "{\"a\":" + new string('[', 200_000) + new string(']', 200_000) + "}";
        await File.WriteAllTextAsync(P(file), deep, TestContext.Current.CancellationToken);

        // act
        var run = await Run("cli-config", "generate", "--write", "--home", _home.FullName);

        // assert: refused (exit 1) naming the file; nothing written, no backups
        Assert.Equal(CliApp.Refused, run.Code);
        Assert.Contains(P(file), run.Err, StringComparison.Ordinal);
        Assert.Contains("left alone", run.Err, StringComparison.Ordinal);
        Assert.Equal(deep, await File.ReadAllTextAsync(P(file), TestContext.Current.CancellationToken));
        Assert.Empty(Backups());
    }

    [Fact]
    public async Task Should_write_all_four_files_into_an_empty_home_private_and_then_change_nothing()
    {
        var first = await Run("cli-config", "generate", "--write", "--home", _home.FullName, "--gateway", "ws://127.0.0.1:7711/");
        Assert.Equal(0, first.Code);
        var claude = JsonNode.Parse(File.ReadAllText(P(".claude.json")))!;
        var server = claude["mcpServers"]!["kruxos-gateway"]!;
        Assert.Equal("/opt/kruxos/bin/mcp-bridge", server["command"]!.GetValue<string>());
        Assert.Equal(["--cli=claude-code", "--label", "claude-code", "--gateway", "ws://127.0.0.1:7711/"], server["args"]!.AsArray().Select(a => a!.GetValue<string>()));
        var settings = JsonNode.Parse(File.ReadAllText(P(".claude/settings.json")))!;
        Assert.Contains("Bash", settings["permissions"]!["deny"]!.AsArray().Select(d => d!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(server, settings["mcpServers"]!["kruxos-gateway"]));
        Assert.Equal("/opt/kruxos/bin/cli-hook --cli claude-code", settings["hooks"]!["PreToolUse"]![0]!["hooks"]![0]!["command"]!.GetValue<string>());
        var codex = TomlSerializer.Deserialize<TomlTable>(File.ReadAllText(P(".codex/config.toml")))!;
        var features = (TomlTable)codex["features"];
        Assert.Equal(true, features["hooks"]);
        Assert.Equal(false, features["shell_tool"]);
        var mcp = (TomlTable)((TomlTable)codex["mcp_servers"])["kruxos-gateway"];
        Assert.Equal(86400L, mcp["tool_timeout_sec"]);
        Assert.False(mcp.ContainsKey("env"));
        var hooks = JsonNode.Parse(File.ReadAllText(P(".codex/hooks.json")))!;
        Assert.Equal("/opt/kruxos/bin/cli-hook --cli codex", hooks["hooks"]!["PreToolUse"]![0]!["hooks"]![0]!["command"]!.GetValue<string>());
        foreach (var f in new[] { ".claude.json", ".claude/settings.json", ".codex/config.toml", ".codex/hooks.json" })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P(f)));
        Assert.Empty(Backups());

        var stamps = new[] { ".claude.json", ".claude/settings.json", ".codex/config.toml", ".codex/hooks.json" }.Select(f => File.ReadAllText(P(f))).ToList();
        var second = await Run("cli-config", "generate", "--write", "--home", _home.FullName, "--gateway", "ws://127.0.0.1:7711/");
        Assert.Equal(0, second.Code);
        Assert.Equal(4, second.Out.Split('\n').Count(l => l.StartsWith("unchanged ", StringComparison.Ordinal)));
        Assert.Equal(stamps, new[] { ".claude.json", ".claude/settings.json", ".codex/config.toml", ".codex/hooks.json" }.Select(f => File.ReadAllText(P(f))));
        Assert.Empty(Backups());
    }

    [Fact]
    public async Task Should_merge_into_the_users_files_keep_their_settings_back_them_up_and_drop_an_old_token()
    {
        Directory.CreateDirectory(P(".claude"));
        Directory.CreateDirectory(P(".codex"));
        const string claudeJson = """{"numStartups":3,"mcpServers":{"mine":{"command":"mine"},"kruxos-gateway":{"command":"/old"}}}""";
        const string settingsJson = """{"theme":"dark","permissions":{"allow":["Read"],"deny":["WebSearch"]},"hooks":{"PreToolUse":[{"matcher":"Write","hooks":[{"type":"command","command":"/usr/bin/mine"}]},{"matcher":"Bash","hooks":[{"type":"command","command":"/old/cli-hook --cli claude-code"}]}]}}""";
        const string configToml = """
            # my codex settings
            model = "o3"
            approval_policy = "on-request"

            [features]
            web_search = true # keep me
            hooks = false

            [mcp_servers.other]
            command = "other-server"

            [mcp_servers.kruxos-gateway]
            command = "/old/bridge"

            [mcp_servers.kruxos-gateway.env]
            KRUXOS_USER_TOKEN = "krx_user_oldsecretoldsecretoldsecret"

            [profiles.fast]
            model = "o4-mini"
            """;
        File.WriteAllText(P(".claude.json"), claudeJson);
        File.WriteAllText(P(".claude/settings.json"), settingsJson);
        File.WriteAllText(P(".codex/config.toml"), configToml);

        var r = await Run("cli-config", "generate", "--write", "--home", _home.FullName);
        Assert.Equal(0, r.Code);
        Assert.Contains("keeps the old file as it was, including a token", r.Out, StringComparison.Ordinal);

        var claude = JsonNode.Parse(File.ReadAllText(P(".claude.json")))!;
        Assert.Equal(3, claude["numStartups"]!.GetValue<int>());
        Assert.Equal("mine", claude["mcpServers"]!["mine"]!["command"]!.GetValue<string>());
        Assert.Equal("/opt/kruxos/bin/mcp-bridge", claude["mcpServers"]!["kruxos-gateway"]!["command"]!.GetValue<string>());

        var settings = JsonNode.Parse(File.ReadAllText(P(".claude/settings.json")))!;
        Assert.Equal("dark", settings["theme"]!.GetValue<string>());
        Assert.Equal(["WebSearch", "Bash"], settings["permissions"]!["deny"]!.AsArray().Select(d => d!.GetValue<string>()));
        var groups = settings["hooks"]!["PreToolUse"]!.AsArray();
        Assert.Equal(2, groups.Count); // the user's own hook stays, the stale cli-hook group is replaced, not duplicated
        Assert.Equal("/usr/bin/mine", groups[0]!["hooks"]![0]!["command"]!.GetValue<string>());

        var toml = File.ReadAllText(P(".codex/config.toml"));
        Assert.DoesNotContain("krx_user_", toml, StringComparison.Ordinal);
        Assert.Contains("# my codex settings", toml, StringComparison.Ordinal);
        Assert.Contains("web_search = true # keep me", toml, StringComparison.Ordinal);
        var codex = TomlSerializer.Deserialize<TomlTable>(toml)!;
        Assert.Equal("o3", codex["model"]);
        Assert.Equal("never", codex["approval_policy"]);
        Assert.Equal(true, ((TomlTable)codex["features"])["hooks"]);
        Assert.Equal("o4-mini", ((TomlTable)((TomlTable)codex["profiles"])["fast"])["model"]);
        var servers = (TomlTable)codex["mcp_servers"];
        Assert.Equal("other-server", ((TomlTable)servers["other"])["command"]);
        Assert.False(((TomlTable)servers["kruxos-gateway"]).ContainsKey("env"));

        // Each changed, pre-existing file was backed up first, byte for byte; the new hooks.json needed none.
        var backups = Backups();
        Assert.Equal(3, backups.Length);
        Assert.Equal(configToml, File.ReadAllText(backups.Single(b => b.Contains("config.toml", StringComparison.Ordinal))));
        Assert.Equal(settingsJson, File.ReadAllText(backups.Single(b => b.Contains("settings.json", StringComparison.Ordinal))));
        Assert.All(backups, b => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(b)));

        var again = await Run("cli-config", "generate", "--write", "--home", _home.FullName);
        Assert.Equal(0, again.Code);
        Assert.DoesNotContain("wrote", again.Out, StringComparison.Ordinal);
        Assert.Equal(3, Backups().Length);
    }

    [Theory]
    [InlineData("model = \n")]
    [InlineData("features.hooks = false\n")]
    [InlineData("mcp_servers = { kruxos-gateway = { command = \"/x\" } }\n")]
    public async Task Should_refuse_a_toml_file_it_cannot_merge_safely_and_write_nothing_at_all(string content)
    {
        Directory.CreateDirectory(P(".codex"));
        File.WriteAllText(P(".codex/config.toml"), content);
        var r = await Run("cli-config", "generate", "--write", "--home", _home.FullName);
        Assert.Equal(CliApp.Refused, r.Code);
        Assert.Contains("config.toml", r.Err, StringComparison.Ordinal);
        Assert.Equal(content, File.ReadAllText(P(".codex/config.toml")));
        Assert.False(File.Exists(P(".claude.json"))); // merges are all checked before anything is written
        Assert.Empty(Backups());
    }

    [Fact]
    public async Task Should_refuse_a_json_file_that_is_not_an_object()
    {
        File.WriteAllText(P(".claude.json"), "[1,2]");
        var r = await Run("cli-config", "generate", "--write", "--home", _home.FullName, "--claude");
        Assert.Equal(CliApp.Refused, r.Code);
        Assert.Contains("does not hold a JSON object", r.Err, StringComparison.Ordinal);
        Assert.Equal("[1,2]", File.ReadAllText(P(".claude.json")));
    }

    [Theory]
    [InlineData("--gateway", "ws://127.0.0.1:7700/?token=krx_user_abcdef")]
    [InlineData("--gateway", "http://127.0.0.1:7700/")]
    [InlineData("--bridge-path", "relative/mcp-bridge")]
    [InlineData("--hook-path", "/opt/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public async Task Should_refuse_bad_or_credential_bearing_options(string flag, string value)
    {
        var r = await Run("cli-config", "generate", "--write", "--home", _home.FullName, flag, value);
        Assert.Equal(CliApp.Usage, r.Code);
        Assert.Contains(flag, r.Err, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_home.FullName));
    }

    [Fact]
    public async Task Should_name_a_non_default_auth_socket_in_both_clients_server_env()
    {
        var r = await Run("cli-config", "generate", "--write", "--home", _home.FullName, "--auth-socket", "/srv/kruxos/run/auth.sock");
        Assert.Equal(0, r.Code);
        var claude = JsonNode.Parse(File.ReadAllText(P(".claude.json")))!;
        Assert.Equal("/srv/kruxos/run/auth.sock", claude["mcpServers"]!["kruxos-gateway"]!["env"]!["KRUXOS_AUTH_SOCKET"]!.GetValue<string>());
        var codex = TomlSerializer.Deserialize<TomlTable>(File.ReadAllText(P(".codex/config.toml")))!;
        var env = (TomlTable)((TomlTable)((TomlTable)codex["mcp_servers"])["kruxos-gateway"])["env"];
        Assert.Equal("/srv/kruxos/run/auth.sock", env["KRUXOS_AUTH_SOCKET"]);
        // cli-hook mints its own credential over the same socket
        var settings = JsonNode.Parse(File.ReadAllText(P(".claude/settings.json")))!;
        Assert.Equal("/opt/kruxos/bin/cli-hook --auth-socket /srv/kruxos/run/auth.sock --cli claude-code",
            settings["hooks"]!["PreToolUse"]![0]!["hooks"]![0]!["command"]!.GetValue<string>());
        var hooks = JsonNode.Parse(File.ReadAllText(P(".codex/hooks.json")))!;
        Assert.Equal("/opt/kruxos/bin/cli-hook --auth-socket /srv/kruxos/run/auth.sock --cli codex",
            hooks["hooks"]!["PreToolUse"]![0]!["hooks"]![0]!["command"]!.GetValue<string>());
    }
}
