using System.Text.Json.Nodes;
using KruxOS.Bridge.Tests.Support;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.Clients;

/// <summary>
/// The requirements layer (<c>kruxos cli-config generate --system</c>; ADR 0027) against the real clients: a user's own
/// settings cannot turn the native shell back on. Claude Code runs a real turn against a loopback stand-in for the model
/// API that asks for the shell; Codex reports its effective feature flags offline. The clients read only the real
/// machine-wide paths, so the generated files are put there for the spec and removed (or restored) after it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Collection(RealClientCollection.Name)]
public sealed class RequirementsLayerTests : IAsyncLifetime
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("kruxos-requirements-");

    private string Home => Path.Combine(_root.FullName, "home");
    private string Project => Path.Combine(_root.FullName, "project");
    private string SystemRoot => Path.Combine(_root.FullName, "system");
    private string Marker => Path.Combine(_root.FullName, "shell-ran");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Home, ".claude"));
        Directory.CreateDirectory(Path.Combine(Home, ".codex"));
        Directory.CreateDirectory(Project);
        await RealClients.EnsureInstalledAsync();
    }

    public ValueTask DisposeAsync()
    {
        _root.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }

    private static void RequireRoot() =>
        Assert.SkipUnless(KruxOS.Gateway.Control.PeerCredentials.OwnUid() == 0, "the clients read the requirements layer only from /etc: needs root to place it there for the spec");

    private async Task<string> GenerateSystemAsync(string relative)
    {
        var r = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "cli-config", "generate", "--system", "--write", "--system-root", SystemRoot]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var path = Path.Combine(SystemRoot, relative);
        // readable by every user's client, writable by root only
        Assert.Equal((UnixFileMode)Convert.ToInt32("644", 8), File.GetUnixFileMode(path));
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        return await File.ReadAllTextAsync(path);
    }

    // One turn of `claude -p` whose model asks for the shell; the user has allowed Bash in every way they can.
    private async Task<(ProcessResult Run, FakeAnthropic Api)> ClaudeTurnAsync()
    {
        var api = await FakeAnthropic.StartAsync($"touch {Marker}");
        var run = await RealClients.RunWithAsync(RealClients.Claude, Home, Project, new Dictionary<string, string>
        {
            ["ANTHROPIC_BASE_URL"] = api.BaseUrl,
            ["ANTHROPIC_API_KEY"] = "sk-ant-kruxos-test-not-a-key",
        }, "-p", "Run the command.", "--output-format", "json", "--allowedTools", "Bash");
        return (run, api);
    }

    [Fact]
    public async Task Claude_code_under_the_managed_settings_refuses_the_shell_a_user_setting_allows()
    {
        RequireRoot();
        var before = Snapshot("/etc/claude-code/managed-settings.d/50-kruxos.json");
        // arrange: the user allows the shell in their own settings (and on the command line, below)
        await File.WriteAllTextAsync(Path.Combine(Home, ".claude", "settings.json"), """{"permissions":{"allow":["Bash"]}}""");

        // control: without the requirements layer the user's allow is honoured — the shell runs
        var (open, openApi) = await ClaudeTurnAsync();
        await using (openApi)
        {
            Assert.True(open.ExitCode == 0, open.StdErr + open.StdOut);
            Assert.Contains("Bash", openApi.OfferedTools.First());
            Assert.True(File.Exists(Marker), "the stand-in model's shell call did not run without the managed settings: the spec would prove nothing");
        }
        File.Delete(Marker);

        // act: the generated managed-settings drop-in, placed where Claude Code reads it
        var dropIn = await GenerateSystemAsync("etc/claude-code/managed-settings.d/50-kruxos.json");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"permissions":{"deny":["Bash"]}}"""), JsonNode.Parse(dropIn)));
        ProcessResult closed;
        FakeAnthropic closedApi;
        using (new SystemFileGuard("/etc/claude-code/managed-settings.d/50-kruxos.json", dropIn))
            (closed, closedApi) = await ClaudeTurnAsync();

        // assert: the shell is not even offered to the model, the forced call is refused, nothing ran
        await using (closedApi)
        {
            Assert.True(closed.ExitCode == 0, closed.StdErr + closed.StdOut);
            Assert.All(closedApi.OfferedTools, tools => Assert.DoesNotContain("Bash", tools));
            var result = Assert.Single(closedApi.ToolResults);
            Assert.Contains("No such tool available: Bash", result, StringComparison.Ordinal);
            Assert.False(File.Exists(Marker), "the shell ran under the managed settings");
        }
        Assert.Equal(before, Snapshot("/etc/claude-code/managed-settings.d/50-kruxos.json"));
    }

    [Fact]
    public async Task Codex_accepts_the_requirements_file_and_a_user_config_cannot_turn_the_shell_back_on()
    {
        RequireRoot();
        var before = Snapshot("/etc/codex/requirements.toml");
        // arrange: the user's own config and flags switch the shell on
        await File.WriteAllTextAsync(Path.Combine(Home, ".codex", "config.toml"), "[features]\nshell_tool = true\nunified_exec = true\nhooks = false\n");
        string[] list = ["--enable", "shell_tool", "--enable", "unified_exec", "features", "list"];
        static string? State(ProcessResult r, string feature) =>
            r.StdOut.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).FirstOrDefault(f => f.Length >= 3 && f[0] == feature)?[^1];

        // control: without requirements the user's setting stands
        var open = await RealClients.RunAsync(RealClients.Codex, Home, Project, list);
        Assert.True(open.ExitCode == 0, open.StdErr);
        Assert.Equal("true", State(open, "shell_tool"));

        // act: the generated requirements.toml where Codex reads it
        var requirements = await GenerateSystemAsync("etc/codex/requirements.toml");
        ProcessResult closed, broken;
        using (new SystemFileGuard("/etc/codex/requirements.toml", requirements))
            closed = await RealClients.RunAsync(RealClients.Codex, Home, Project, list);
        // a requirements file Codex cannot accept is refused by Codex: acceptance above is a real check
        using (new SystemFileGuard("/etc/codex/requirements.toml", "[features]\nshell_tool = \"off\"\n"))
            broken = await RealClients.RunAsync(RealClients.Codex, Home, Project, list);

        // assert: accepted, and the pinned values win over the user's config and flags
        Assert.True(closed.ExitCode == 0, closed.StdErr);
        Assert.Equal("false", State(closed, "shell_tool"));
        Assert.Equal("false", State(closed, "unified_exec"));
        Assert.Equal("true", State(closed, "hooks"));
        Assert.NotEqual(0, broken.ExitCode);
        Assert.Equal(before, Snapshot("/etc/codex/requirements.toml")); // and /etc is as it was
    }

    private static string? Snapshot(string path) => File.Exists(path) ? File.ReadAllText(path) : null;
}
