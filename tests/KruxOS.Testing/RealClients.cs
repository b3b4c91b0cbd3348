namespace KruxOS.Testing;

/// <summary>
/// The real Claude Code and Codex CLIs, pinned in tests/clients-node (package.json + package-lock.json).
/// Installed once per run with <c>npm ci</c> when missing; npm 11 skips Claude Code's install script
/// (which puts its native binary in place), so it is run explicitly.
/// </summary>
public static class RealClients
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static bool _installed;

    public static string Directory => Path.Combine(Path.GetDirectoryName(NodeClients.Directory)!, "clients-node");

    public static string Claude => Path.Combine(Directory, "node_modules", ".bin", "claude");

    public static string Codex => Path.Combine(Directory, "node_modules", ".bin", "codex");

    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (_installed) return;
            if (!File.Exists(Claude) || !File.Exists(Codex))
            {
                var ci = await ProcessRunner.RunAsync("npm", ["ci", "--no-audit", "--no-fund"], workingDirectory: Directory, timeout: TimeSpan.FromMinutes(5));
                if (ci.ExitCode != 0) throw new InvalidOperationException($"npm ci in tests/clients-node failed: {ci.StdErr}");
            }
            var install = await ProcessRunner.RunAsync("node", [Path.Combine("node_modules", "@anthropic-ai", "claude-code", "install.cjs")], workingDirectory: Directory);
            if (install.ExitCode != 0) throw new InvalidOperationException($"Claude Code's install.cjs failed: {install.StdErr}");
            _installed = true;
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>
    /// Runs a client with <paramref name="home"/> as its HOME (and nothing else of the caller's home), in
    /// <paramref name="workingDirectory"/>. Update checks and non-essential traffic are switched off.
    /// </summary>
    public static Task<ProcessResult> RunAsync(string program, string home, string workingDirectory, params string[] args) =>
        RunWithAsync(program, home, workingDirectory, new Dictionary<string, string>(), args);

    /// <summary>As <see cref="RunAsync"/>, with more environment (e.g. a loopback stand-in for the model API).</summary>
    public static async Task<ProcessResult> RunWithAsync(string program, string home, string workingDirectory, IReadOnlyDictionary<string, string> extra,
        params string[] args)
    {
        await EnsureInstalledAsync();
        var env = new Dictionary<string, string>
        {
            ["HOME"] = home,
            ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
            ["CODEX_HOME"] = Path.Combine(home, ".codex"),
            ["DISABLE_AUTOUPDATER"] = "1",
            ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
            ["NO_COLOR"] = "1",
        };
        foreach (var (k, v) in extra) env[k] = v;
        return await ProcessRunner.RunAsync(program, args, env, workingDirectory);
    }
}
