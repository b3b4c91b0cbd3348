using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace KruxOS.Gateway.Tests.Hosting;

/// <summary>
/// First start hands the admin token and a working <c>.mcp.json</c> to the operator exactly once: printed on a
/// terminal, in an owner-only file (path printed) when standard output may be a log (ADR 0014).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class BootstrapSpecs
{
    [Fact]
    public async Task Should_print_the_token_and_a_usable_snippet_once_on_a_terminal_and_nothing_on_the_second_start()
    {
        // arrange
        var console = new StringWriter();
        var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(new BootstrapConsole(TextWriter.Synchronized(console), IsTerminal: true)));
        try
        {
            await BootstrapFinished(gateway);

            // assert: the token line and the .mcp.json, which parses and connects
            var text = console.ToString();
            var token = TokenLine().Match(text).Groups[1].Value;
            Assert.Matches("^[0-9a-f]{64}$", token);
            var snippet = JsonNode.Parse(text[(text.IndexOf(".mcp.json for Claude Code:", StringComparison.Ordinal) + ".mcp.json for Claude Code:".Length)..].Trim())!;
            var server = snippet["mcpServers"]!["kruxos"]!;
            Assert.Equal(token, server["env"]!["KRUXOS_AGENT_TOKEN"]!.GetValue<string>());
            await AssertUsable(gateway, server);
            Assert.False(File.Exists(Path.Combine(gateway.DataDir, BootstrapService.SnippetFileName)));

            // act: the same data directory again
            console.GetStringBuilder().Clear();
            gateway = await gateway.RestartAsync();
            await BootstrapFinished(gateway);

            // assert: no token, no first-start text
            Assert.Equal("", console.ToString());
            Assert.Single((await gateway.ControlAsync(KruxOS.Core.Control.ControlProtocol.Methods.AgentList))["agents"]!.AsArray());
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Should_write_the_token_to_an_owner_only_file_and_print_only_its_path_when_stdout_is_not_a_terminal()
    {
        // arrange: standard output is a pipe or the systemd journal
        var console = new StringWriter();
        var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(new BootstrapConsole(TextWriter.Synchronized(console), IsTerminal: false)));
        try
        {
            await BootstrapFinished(gateway);

            // assert
            var file = Path.Combine(gateway.DataDir, BootstrapService.SnippetFileName);
            var text = console.ToString();
            Assert.Contains("KruxOS first start: created agent 'admin'", text);
            Assert.Contains(file, text);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            var content = await File.ReadAllTextAsync(file);
            var server = JsonNode.Parse(content)!["mcpServers"]!["kruxos"]!;
            var token = server["env"]!["KRUXOS_AGENT_TOKEN"]!.GetValue<string>();
            Assert.Matches("^[0-9a-f]{64}$", token);
            Assert.DoesNotContain(token, text);
            await AssertUsable(gateway, server);

            // act: the second start
            console.GetStringBuilder().Clear();
            gateway = await gateway.RestartAsync();
            await BootstrapFinished(gateway);

            // assert: silent, and the file is left as it was
            Assert.Equal("", console.ToString());
            Assert.Equal(content, await File.ReadAllTextAsync(file));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Should_print_the_token_when_told_to_even_if_stdout_is_not_a_terminal()
    {
        var console = new StringWriter();
        await using var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(new BootstrapConsole(TextWriter.Synchronized(console), IsTerminal: false)),
            null, "--Gateway:BootstrapTokenOutput", "Stdout");
        await BootstrapFinished(gateway);
        Assert.Matches("^[0-9a-f]{64}$", TokenLine().Match(console.ToString()).Groups[1].Value);
        Assert.False(File.Exists(Path.Combine(gateway.DataDir, BootstrapService.SnippetFileName)));
    }

    [Theory]
    [InlineData("mcp-bridge", "/opt/kruxos/lib/gateway", "/opt/kruxos/lib/gateway/mcp-bridge", "/opt/kruxos/lib/gateway/mcp-bridge")]
    [InlineData("mcp-bridge", "/stage/opt/kruxos/lib/gateway", "/stage/opt/kruxos/bin/mcp-bridge", "/stage/opt/kruxos/bin/mcp-bridge")]
    [InlineData("mcp-bridge", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/mcp-bridge", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/mcp-bridge")]
    [InlineData("mcp-bridge", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/", "/repo/src/KruxOS.Bridge/bin/Debug/net10.0/mcp-bridge", "/repo/src/KruxOS.Bridge/bin/Debug/net10.0/mcp-bridge")]
    [InlineData("mcp-bridge", "/repo/src/KruxOS.Gateway/bin/Release/net10.0", null, "/opt/kruxos/bin/mcp-bridge")]
    [InlineData("mcp-bridge", "/usr/lib/elsewhere", null, "/opt/kruxos/bin/mcp-bridge")]
    [InlineData("cli-hook", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/cli-hook", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/cli-hook")]
    [InlineData("cli-hook", "/stage/opt/kruxos/lib/gateway", "/stage/opt/kruxos/bin/cli-hook", "/stage/opt/kruxos/bin/cli-hook")]
    // the raw built hook fails open on exit codes other than 0 and 2: only its launcher is ever named
    [InlineData("cli-hook", "/repo/src/KruxOS.Gateway/bin/Debug/net10.0/", "/repo/src/KruxOS.CliHook/bin/Debug/net10.0/cli-hook", "/opt/kruxos/bin/cli-hook")]
    public void Should_name_the_programs_of_the_same_install(string program, string gatewayDirectory, string? existing, string expected) =>
        Assert.Equal(expected, ProgramLocation.Find(program, gatewayDirectory, path => path == existing));

    // The snippet reaches this gateway as the admin agent with the token it carries.
    private static async Task AssertUsable(TestGateway gateway, JsonNode server)
    {
        Assert.Equal(ProgramLocation.Find("mcp-bridge", AppContext.BaseDirectory, File.Exists), server["command"]!.GetValue<string>());
        Assert.Empty(server["args"]!.AsArray());
        var env = server["env"]!;
        Assert.Equal("admin", env["KRUXOS_AGENT_NAME"]!.GetValue<string>());
        var endpoint = new Uri(env["KRUXOS_ENDPOINT"]!.GetValue<string>());
        // the page's option B: wss://, and the CA named because a temporary data directory is not where the bridge looks by itself
        Assert.Equal(new Uri($"wss://127.0.0.1:{gateway.GatewayPort}/mcp"), endpoint);
        Assert.Equal(gateway.CaCertificatePath, env["KRUXOS_CA_CERT"]!.GetValue<string>());
        await using var ws = await RawWebSocket.ConnectAsync(endpoint, env["KRUXOS_AGENT_TOKEN"]!.GetValue<string>(),
            headers: new Dictionary<string, string> { ["X-KruxOS-Agent"] = env["KRUXOS_AGENT_NAME"]!.GetValue<string>() },
            trust: TestTls.Load(env["KRUXOS_CA_CERT"]!.GetValue<string>()));
        await ws.InitializeAsync();
        var whoami = await ws.RequestAsync(1, "tools/call", new JsonObject { ["name"] = "agent__whoami", ["arguments"] = new JsonObject() });
        Assert.Equal("admin", JsonNode.Parse(whoami["result"]!["content"]![0]!["text"]!.GetValue<string>())!["agent_name"]!.GetValue<string>());
    }

    private static Task BootstrapFinished(TestGateway gateway) =>
        gateway.Services.GetServices<IHostedService>().OfType<BootstrapService>().Single().ExecuteTask!.WaitAsync(TestTimeouts.Process);

    [GeneratedRegex(@"Token \(shown once; it is stored only as a hash\): ([0-9a-f]{64})")]
    private static partial Regex TokenLine();
}
