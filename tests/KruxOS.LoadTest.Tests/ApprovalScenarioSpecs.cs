using KruxOS.LoadTest.Scenarios;
using KruxOS.LoadTest.Stats;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class ApprovalScenarioSpecs
{
    [Fact]
    public void Should_give_every_session_its_own_valid_time_zone_so_no_two_calls_join_one_approval()
    {
        // act
        var zones = ApprovalRoundTripScenario.DistinctZones(16);
        // assert
        Assert.Equal(16, zones.Count);
        Assert.Equal(16, zones.Distinct(StringComparer.Ordinal).Count());
        Assert.All(zones, z => Assert.True(TimeZoneInfo.TryFindSystemTimeZoneById(z, out _), z));
    }

    [Fact]
    public void Should_refuse_more_sessions_than_known_time_zones() =>
        Assert.Throws<ArgumentException>(() => ApprovalRoundTripScenario.DistinctZones(100_000));

    [Fact]
    public void Should_run_on_the_gateway_only_and_not_be_compared_with_the_floor()
    {
        // arrange
        var scenario = ScenarioRegistry.Select(["approval-roundtrip"]).Single();
        // assert
        Assert.False(scenario.RunsOnFloor);
        Assert.False(scenario.Comparable);
    }

    [Fact]
    public void Should_name_a_failed_decision_by_the_gateways_error_type() =>
        Assert.Equal("decision_error[Conflict]", CallOutcome.Decision("Conflict").Key);
}
