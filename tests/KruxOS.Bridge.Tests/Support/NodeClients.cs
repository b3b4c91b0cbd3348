using System.Text.Json.Nodes;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>The Node MCP SDK stdio client (tests/e2e-node/stdio-client.mjs), which spawns the bridge.</summary>
public static class StdioClients
{
    /// <summary>Runs stdio-client.mjs; the bridge's settings (and token) travel in the environment.</summary>
    public static async Task<JsonObject> RunStdioAsync(IReadOnlyDictionary<string, string> bridgeEnv, params string[] args)
    {
        await NodeClients.EnsureInstalledAsync();
        var env = new Dictionary<string, string>(bridgeEnv) { ["KRUXOS_TEST_BRIDGE_DLL"] = BridgeProcess.Dll };
        var r = await ProcessRunner.RunAsync("node", ["stdio-client.mjs", .. args], env, NodeClients.Directory);
        var line = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
                   ?? throw new InvalidOperationException($"node client printed nothing; stderr: {r.StdErr}");
        return JsonNode.Parse(line)!.AsObject();
    }
}
