using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

public sealed class TierSpecs
{
    [Theory]
    [InlineData("autonomous", Tier.Autonomous)]
    [InlineData("notify", Tier.Notify)]
    [InlineData("approval_required", Tier.ApprovalRequired)]
    [InlineData("approval", Tier.ApprovalRequired)]
    [InlineData("require_approval", Tier.ApprovalRequired)]
    [InlineData("Approval-Required", Tier.ApprovalRequired)]
    [InlineData("blocked", Tier.Blocked)]
    public void Should_read_every_spelling_and_alias(string text, Tier expected)
    {
        Assert.True(Tiers.TryParse(text, out var t));
        Assert.Equal(expected, t);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("maybe")]
    public void Should_refuse_unknown_tiers(string? text) => Assert.False(Tiers.TryParse(text, out _));

    [Fact]
    public void Should_order_tiers_by_strictness_so_the_strictest_wins()
    {
        Assert.Equal(Tier.Blocked, Tiers.Strictest(Tier.Notify, Tier.Blocked));
        Assert.Equal(Tier.ApprovalRequired, Tiers.Strictest(Tier.ApprovalRequired, Tier.Autonomous));
        foreach (var t in Enum.GetValues<Tier>()) Assert.True(Tiers.TryParse(t.ToWire(), out var back) && back == t);
    }
}
