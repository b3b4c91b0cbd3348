namespace KruxOS.LoadTest.Scenarios;

/// <summary>Every scenario the driver knows, in default run order. Add new scenarios here.</summary>
public static class ScenarioRegistry
{
    /// <summary>All registered scenarios.</summary>
    public static IReadOnlyList<IScenario> All { get; } =
    [
        new InProcCallScenario(McpTransport.WebSocket),
        new InProcCallScenario(McpTransport.StreamableHttp),
        new OpenLoopWsScenario(),
        new SessionChurnScenario(),
        new IdleSessionsScenario(),
        new SandboxReadScenario(),
        new NetworkRequestScenario(),
        new ApprovalRoundTripScenario(),
        new CommsRoundTripScenario(),
        new StateWriteScenario(StateWriteKind.Persistent), new StateWriteScenario(StateWriteKind.Shared),
        new ColdStartScenario(ColdProgram.Bridge), new ColdStartScenario(ColdProgram.CliHook),
    ];

    /// <summary>The scenarios named in <paramref name="names"/> (all when empty), in registry order; throws on unknown names.</summary>
    public static IReadOnlyList<IScenario> Select(IReadOnlyList<string> names)
    {
        if (names.Count == 0) return All;
        var unknown = names.Where(n => All.All(s => s.Name != n)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown scenario(s): {string.Join(", ", unknown)}; known: {string.Join(", ", All.Select(s => s.Name))}");
        return [.. All.Where(s => names.Contains(s.Name))];
    }
}
