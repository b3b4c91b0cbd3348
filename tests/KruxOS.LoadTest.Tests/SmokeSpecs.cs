using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Scenarios;
using KruxOS.LoadTest.Targets;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class SmokeSpecs
{
    [Fact]
    public async Task Should_run_every_scenario_against_floor_and_gateway_when_in_smoke_mode()
    {
        // arrange: the driver starts a fresh floor and gateway from this build's output
        var options = DriverOptions.Parse(["--smoke"]);
        using var log = new StringWriter();
        // act
        var (exitCode, report) = await new Driver(options, log).RunAsync(TestContext.Current.CancellationToken);
        // assert: the driver worked; the figures themselves are not judged
        Assert.True(exitCode == 0, log.ToString());
        foreach (var scenario in ScenarioRegistry.All)
        foreach (var target in scenario.RunsOnFloor ? new[] { TargetServer.Floor, TargetServer.Gateway } : [TargetServer.Gateway])
            Assert.Contains(report.Results, r => r.Scenario == scenario.Name && r.Target == target && r.Successes > 0);
        Assert.DoesNotContain(report.Results, r => r.Target == TargetServer.Floor && !ScenarioRegistry.All.Single(s => s.Name == r.Scenario).RunsOnFloor);
        Assert.Equal(ScenarioRegistry.All.Count(s => s.Comparable), report.Ratios.Count);
        // the approval round trip went through a real decision for every successful call
        var approval = report.Results.Single(r => r.Scenario == "approval-roundtrip");
        Assert.Equal(approval.Successes, approval.ExtraLatencies[ApprovalRoundTripScenario.AcceptReturnedToResult].Count);
        Assert.Empty(report.DriverFailures);
    }
}
