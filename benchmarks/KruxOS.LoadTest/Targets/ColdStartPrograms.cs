namespace KruxOS.LoadTest.Targets;

/// <summary>
/// What the <c>cold-start-*</c> scenarios start: <c>mcp-bridge.dll</c>, <c>cli-hook.dll</c> and the
/// <c>kruxos</c> CLI (to create the hook's user token), each from its own project's build output in this
/// repository (same configuration as the driver, which builds them through ProjectReferences), and the
/// recorded Claude Code <c>Read</c> event from the cli-hook tests' fixtures.
/// </summary>
public static class ColdStartPrograms
{
    /// <summary><c>src/KruxOS.Bridge/bin/&lt;configuration&gt;/net10.0/mcp-bridge.dll</c>.</summary>
    public static string BridgeDll() => Find(Path.Combine("src", "KruxOS.Bridge", "bin", BuildOutput.Configuration, "net10.0", "mcp-bridge.dll"));

    /// <summary><c>src/KruxOS.CliHook/bin/&lt;configuration&gt;/net10.0/cli-hook.dll</c>.</summary>
    public static string HookDll() => Find(Path.Combine("src", "KruxOS.CliHook", "bin", BuildOutput.Configuration, "net10.0", "cli-hook.dll"));

    /// <summary><c>src/KruxOS.Cli/bin/&lt;configuration&gt;/net10.0/kruxos.dll</c>.</summary>
    public static string CliDll() => Find(Path.Combine("src", "KruxOS.Cli", "bin", BuildOutput.Configuration, "net10.0", "kruxos.dll"));

    /// <summary>The recorded Claude Code <c>Read</c> PreToolUse event (the gateway's default policy allows it).</summary>
    public static string ReadEventFixture() => Find(Path.Combine("tests", "KruxOS.CliHook.Tests", "Fixtures", "claude-code", "read.json"));

    private static string Find(string relative)
    {
        var root = BuildOutput.RepositoryRoot()
            ?? throw new FileNotFoundException($"{relative} not found: the driver is not running from inside the KruxOS repository", relative);
        var path = Path.Combine(root, relative);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException(
                $"{path} not found; build first: dotnet build benchmarks/KruxOS.LoadTest -c {BuildOutput.Configuration} (it builds mcp-bridge, cli-hook and kruxos too)", path);
    }
}
