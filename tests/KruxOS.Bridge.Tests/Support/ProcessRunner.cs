using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>Bridge-specific process helpers on top of <see cref="ProcessRunner"/>.</summary>
public static class BridgeRunner
{
    /// <summary>Runs <c>mcp-bridge.dll</c> to completion with the given environment and stdin.</summary>
    public static Task<ProcessResult> Bridge(IReadOnlyDictionary<string, string> env, string stdin = "", params string[] args) =>
        ProcessRunner.RunAsync("dotnet", [BridgeProcess.Dll, .. args], env, stdin: stdin);
}
