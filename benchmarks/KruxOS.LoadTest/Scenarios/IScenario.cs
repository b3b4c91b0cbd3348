using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// A named load scenario. The driver runs each selected scenario against the floor and then the
/// gateway, in the same invocation; a scenario that is <see cref="Comparable"/> gets gateway/floor
/// ratios. A new scenario implements this and adds one line to <see cref="ScenarioRegistry"/>.
/// </summary>
public interface IScenario
{
    /// <summary>The command-line name, e.g. <c>inproc-ws</c>.</summary>
    string Name { get; }

    /// <summary>One line: what one operation is and what is measured.</summary>
    string Description { get; }

    /// <summary>True when the floor runs the same operation shape, so gateway/floor ratios mean something.</summary>
    bool Comparable { get; }

    /// <summary>False when the floor has nothing to run (the scenario needs a gateway feature such as approvals); it then runs on the gateway only.</summary>
    bool RunsOnFloor { get; }

    /// <summary>The number of concurrent sessions the scenario may hold against the gateway (to lift the per-agent cap).</summary>
    int SessionsNeeded(DriverOptions options);

    /// <summary>Runs the scenario once against <paramref name="context"/>'s target.</summary>
    Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct);
}

/// <summary>What a scenario run gets: its target, the options, and the results of earlier runs in this invocation.</summary>
public sealed record ScenarioContext(TargetServer Target, DriverOptions Options, IReadOnlyList<ScenarioResult> EarlierResults, TextWriter Log);
