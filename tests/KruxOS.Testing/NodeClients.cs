using System.Diagnostics;
using System.Text.Json.Nodes;

namespace KruxOS.Testing;

/// <summary>
/// The scripted Node MCP SDK client in tests/e2e-node. Its dependencies are installed once per run
/// with <c>npm ci</c> (from the lock file) when they are missing.
/// </summary>
public static class NodeClients
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    public static string Directory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KruxOS.sln"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("repository root not found"), "tests", "e2e-node");
        }
    }

    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "@modelcontextprotocol", "sdk"))) return;
            var r = await ProcessRunner.RunAsync("npm", ["ci", "--no-audit", "--no-fund"], workingDirectory: Directory, timeout: TimeSpan.FromMinutes(5));
            if (r.ExitCode != 0) throw new InvalidOperationException($"npm ci failed: {r.StdErr}");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>Runs the client; the token travels in the environment, never on argv.</summary>
    public static async Task<JsonObject> RunAsync(string token, params string[] args)
    {
        await EnsureInstalledAsync();
        var r = await ProcessRunner.RunAsync("node", ["mcp-client.mjs", .. args],
            new Dictionary<string, string> { ["KRUXOS_TEST_TOKEN"] = token }, Directory);
        var line = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
                   ?? throw new InvalidOperationException($"node client printed nothing; stderr: {r.StdErr}");
        return JsonNode.Parse(line)!.AsObject();
    }
}
