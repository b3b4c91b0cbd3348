using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>sandbox-read-ws</c>: N sessions (default 16) read one 4 KiB file from the agent's workspace with
/// <c>filesystem__read</c> as fast as they go — policy, the warm sandboxed worker, and durable audit per
/// call. The floor runs its no-op tool, so the ratio is the whole cost of a sandboxed read over a bare call.
/// </summary>
public sealed class SandboxReadScenario : IScenario
{
    /// <summary>The file every session reads, relative to the workspace.</summary>
    public const string FilePath = "loadtest/read-4k.txt";

    /// <inheritdoc />
    public string Name => "sandbox-read-ws";

    /// <inheritdoc />
    public string Description => "closed loop: --concurrency websocket sessions call filesystem__read of a 4 KiB file (gateway) / noop (floor)";

    /// <inheritdoc />
    public bool Comparable => true;

    /// <inheritdoc />
    public bool RunsOnFloor => true;

    /// <inheritdoc />
    public int SessionsNeeded(Cli.DriverOptions options) => options.Concurrency;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        var isGateway = target.Name == TargetServer.Gateway;
        var read = isGateway
            ? new Clients.McpWire.ToolCallTemplate("filesystem__read", $$"""{"path":"{{FilePath}}"}""")
            : new Clients.McpWire.ToolCallTemplate(target.ToolName, target.ToolArguments);
        using var factory = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout);
        var sessions = await factory.OpenManyAsync(o.Concurrency, parallelism: 8, ct).ConfigureAwait(false);
        LoadRunResult run;
        try
        {
            if (isGateway)
            {
                // 4 KiB of printable text, written once through the gateway itself.
                var content = string.Concat(Enumerable.Repeat("0123456789abcdef", 256));
                var write = new Clients.McpWire.ToolCallTemplate("filesystem__write",
                    $$"""{"path":"{{FilePath}}","content":"{{content}}","create_parents":true}""");
                var written = await sessions[0].CallToolAsync(write, ct).ConfigureAwait(false);
                if (!written.IsOk) throw new InvalidOperationException($"could not write the test file: {written.Kind} {written.Detail}");
            }
            run = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests,
                (worker, c) => sessions[worker].CallToolAsync(read, c), ct).ConfigureAwait(false);
        }
        finally
        {
            await SessionFactory.CloseAllAsync(sessions, CancellationToken.None).ConfigureAwait(false);
        }
        return ScenarioResult.ClosedLoop(Name, target.Name, SessionFactory.Name(McpTransport.WebSocket),
            isGateway ? "tools/call filesystem__read (4 KiB, sandboxed)" : $"tools/call {target.ToolName}", o.Concurrency, run);
    }
}
