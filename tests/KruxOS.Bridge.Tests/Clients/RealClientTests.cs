using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Bridge.Tests.Support;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.Clients;

/// <summary>
/// The integration page as users follow it, against the real Claude Code and Codex CLIs from npm
/// (tests/clients-node): <c>kruxos cli-config generate --write</c> into a temporary HOME — with no other flag: it finds
/// the running gateway (whose data directory is that HOME's default <c>~/.kruxos</c>) and points the configs at it —
/// then each client's own <c>mcp list</c> health check launches the bridge, which connects over <c>wss://</c> and
/// mints its credential over the gateway's auth socket. No model, login or network beyond 127.0.0.1 is involved.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Collection(RealClientCollection.Name)]
public sealed class RealClientTests : IAsyncLifetime
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("kruxos-clients-");
    private TestGateway _gateway = null!;

    private string Home => Path.Combine(_root.FullName, "home");

    /// <summary>The installed layout's launcher (what /opt/kruxos/bin/mcp-bridge is): a script that runs the built bridge.</summary>
    private string Bridge => Path.Combine(_root.FullName, "opt", "kruxos", "bin", "mcp-bridge");

    public async ValueTask InitializeAsync()
    {
        // Traversable, as a real home's parents are: the sandbox (and so the gateway's readiness) needs its data directory reachable.
        File.SetUnixFileMode(_root.FullName, (UnixFileMode)Convert.ToInt32("755", 8));
        Directory.CreateDirectory(Home, (UnixFileMode)Convert.ToInt32("755", 8));
        Directory.CreateDirectory(Path.GetDirectoryName(Bridge)!);
        await File.WriteAllTextAsync(Bridge, $"#!/bin/sh\nexec dotnet \"{BridgeProcess.Dll}\" \"$@\"\n");
        File.SetUnixFileMode(Bridge, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        _gateway = await TestGateway.StartAsync(Path.Combine(Home, ".kruxos"));
        await RealClients.EnsureInstalledAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _root.Delete(recursive: true);
    }

    // As the user would run it: `kruxos cli-config generate --write`, nothing else (HOME is the user's).
    private async Task<ProcessResult> GenerateAsync()
    {
        var r = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "cli-config", "generate", "--write"], new Dictionary<string, string> { ["HOME"] = Home });
        Assert.True(r.ExitCode == 0, r.StdErr);
        return r;
    }

    /// <summary>The bridge the running gateway names: the one built with it (next to the test assembly).</summary>
    private static string BuiltBridge => Path.Combine(AppContext.BaseDirectory, "mcp-bridge");

    private async Task<string> CreateUserTokenAsync(string label) =>
        (await _gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = label }))["token"]!.GetValue<string>();

    private static string ServerLine(ProcessResult r, string name) =>
        r.StdOut.Split('\n').FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))
        ?? throw new Xunit.Sdk.XunitException($"no '{name}' line in:\n{r.StdOut}\n{r.StdErr}");

    [Fact]
    public async Task Claude_code_reports_the_seeded_server_connected_once_its_label_has_a_user_token()
    {
        var generated = await GenerateAsync();
        var settings = await File.ReadAllTextAsync(Path.Combine(Home, ".claude.json"));
        Assert.DoesNotContain("krx_", settings, StringComparison.Ordinal);
        // what really runs: the running gateway's wss:// endpoint, the bridge built with it, its auth socket
        var server = JsonNode.Parse(settings)!["mcpServers"]!["kruxos-gateway"]!;
        Assert.Equal(BuiltBridge, server["command"]!.GetValue<string>());
        Assert.Equal($"wss://127.0.0.1:{_gateway.GatewayPort}/", server["args"]![4]!.GetValue<string>());
        Assert.Equal(_gateway.AuthSocket, server["env"]!["KRUXOS_AUTH_SOCKET"]!.GetValue<string>());
        // and the missing token is named, with the command that makes it
        Assert.Contains("no active user token labelled 'claude-code'", generated.StdErr, StringComparison.Ordinal);
        Assert.Contains("kruxos user-token create claude-code", generated.StdErr, StringComparison.Ordinal);

        // No user token labelled claude-code yet: the bridge exits 4 and Claude Code says so.
        var before = await RealClients.RunAsync(RealClients.Claude, Home, Home, "mcp", "list");
        Assert.DoesNotContain("Connected", ServerLine(before, "kruxos-gateway"), StringComparison.Ordinal);

        var userToken = await CreateUserTokenAsync("claude-code");
        var after = await RealClients.RunAsync(RealClients.Claude, Home, Home, "mcp", "list");
        Assert.Equal(0, after.ExitCode);
        var line = ServerLine(after, "kruxos-gateway");
        Assert.Contains("✔ Connected", line, StringComparison.Ordinal);
        Assert.Contains("wss://", line, StringComparison.Ordinal);
        // once the token exists the generator no longer warns
        Assert.DoesNotContain("claude-code'", (await GenerateAsync()).StdErr, StringComparison.Ordinal);
        Assert.Contains("--label claude-code", line, StringComparison.Ordinal);
        Assert.DoesNotContain(userToken, after.StdOut + after.StdErr, StringComparison.Ordinal);
        // every client file (the gateway's own data directory, ~/.kruxos here, is not the client's)
        foreach (var file in Directory.GetFiles(Home, "*", SearchOption.AllDirectories).Where(f => !f.Contains("/.kruxos/", StringComparison.Ordinal)
                     && (!f.Contains("/.claude/", StringComparison.Ordinal) || f.EndsWith("settings.json", StringComparison.Ordinal))))
            Assert.DoesNotContain(userToken, await File.ReadAllTextAsync(file), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Codex_accepts_the_generated_config_toml_and_lists_the_server_enabled()
    {
        await CreateUserTokenAsync("primary");
        await GenerateAsync();
        var r = await RealClients.RunAsync(RealClients.Codex, Home, Home, "mcp", "list", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        var servers = JsonNode.Parse(r.StdOut)!.AsArray();
        var ours = Assert.Single(servers, s => s!["name"]!.GetValue<string>() == "kruxos-gateway")!;
        Assert.True(ours["enabled"]!.GetValue<bool>(), ours.ToJsonString());
        Assert.Equal(BuiltBridge, ours["transport"]!["command"]!.GetValue<string>());
        Assert.Equal(["--cli=codex", "--label", "primary", "--gateway", $"wss://127.0.0.1:{_gateway.GatewayPort}/"],
            ours["transport"]!["args"]!.AsArray().Select(a => a!.GetValue<string>()));

        // A config.toml Codex cannot parse is refused by Codex: the check above is a real one.
        await File.AppendAllTextAsync(Path.Combine(Home, ".codex", "config.toml"), "\n[mcp_servers.kruxos-gateway]\ncommand = \"again\"\n");
        var broken = await RealClients.RunAsync(RealClients.Codex, Home, Home, "mcp", "list", "--json");
        Assert.NotEqual(0, broken.ExitCode);
    }

    [Fact]
    public async Task Option_b_a_per_project_mcp_json_with_an_agent_token_in_env_connects_over_wss()
    {
        var token = await _gateway.CreateAgentAsync("default-agent");
        var project = Directory.CreateDirectory(Path.Combine(_root.FullName, "project")).FullName;
        // The page's .mcp.json word for word, with the host (and this test's port) filled in: wss://, three variables,
        // the token in the env block, never in args, and no CA setting (the bridge finds this host's gateway CA).
        var mcpJson = new JsonObject
        {
            ["mcpServers"] = new JsonObject
            {
                ["kruxos"] = new JsonObject
                {
                    ["command"] = Bridge,
                    ["args"] = new JsonArray(),
                    ["env"] = new JsonObject
                    {
                        ["KRUXOS_ENDPOINT"] = $"wss://localhost:{_gateway.GatewayPort}",
                        ["KRUXOS_AGENT_NAME"] = "default-agent",
                        ["KRUXOS_AGENT_TOKEN"] = token,
                    },
                },
            },
        };
        await File.WriteAllTextAsync(Path.Combine(project, ".mcp.json"), mcpJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        // Project servers wait for the user's approval unless their settings enable them.
        var pending = await RealClients.RunAsync(RealClients.Claude, Home, project, "mcp", "list");
        Assert.Contains("Pending approval", ServerLine(pending, "kruxos"), StringComparison.Ordinal);

        Directory.CreateDirectory(Path.Combine(Home, ".claude"));
        await File.WriteAllTextAsync(Path.Combine(Home, ".claude", "settings.json"), """{"enableAllProjectMcpServers": true}""");
        var r = await RealClients.RunAsync(RealClients.Claude, Home, project, "mcp", "list");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("✔ Connected", ServerLine(r, "kruxos"), StringComparison.Ordinal);
        Assert.DoesNotContain(token, r.StdOut + r.StdErr, StringComparison.Ordinal);
    }
}

/// <summary>The real-client specs run one at a time: the requirements-layer spec changes machine-wide client settings for a moment.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealClientCollection
{
    public const string Name = "real clients";
}
