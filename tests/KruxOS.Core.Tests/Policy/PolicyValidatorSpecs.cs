using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class PolicyValidatorSpecs
{
    [Fact]
    public void Should_report_coverage_default_tier_rate_limits_and_warnings()
    {
        var report = PolicyValidator.Validate("org.yaml", """
            name: check
            rules:
              - capability: filesystem.*
                tier: notify
              - capability: filesystem.read
                tier: autonomous
              - capability: process.run
                conditions: { argument: command, equals: ls }
                tier: autonomous
              - capability: process.run
                tier: approval_required
                rate_limit: { max: 10, window: 1h, on_exceed: blocked }
            """, Registry);

        Assert.True(report.Valid);
        Assert.Equal("check", report.Name);
        Assert.Equal(Registry.All.Length, report.CapabilityCount);
        Assert.Equal(6, report.CoveredCount); // five filesystem.* and process.run
        Assert.Equal(1, report.ConditionalCount);
        Assert.Null(report.DefaultTier);
        Assert.Equal(Registry.All.Length, report.Coverage.Values.Sum());
        Assert.Equal(3, report.Coverage[Tier.ApprovalRequired]); // process.run, plus git.push and email.bulk_delete at their defaults
        Assert.Equal(7, report.Coverage[Tier.Notify]); // five filesystem.*, network.http_request, state.shared.set
        var limit = Assert.Single(report.RateLimits);
        Assert.Equal("org.yaml:10", limit.RuleReference);
        Assert.Equal(Tier.Blocked, limit.Limit.OnExceed);
        Assert.Equal(DiagnosticCodes.Unreachable, Assert.Single(report.Warnings).Code);
    }

    [Fact]
    public void Should_report_failing_examples_separately_from_other_errors()
    {
        var report = PolicyValidator.Validate("agents/bot.yaml", """
            rules:
              - capability: git.push
                tier: blocked
                conditions: { path_prefix: /workspace/prod }
                examples:
                  match: [ { arguments: { path: /workspace/dev } } ]
              - capability: nope
                tier: notify
            """, Registry);
        Assert.False(report.Valid);
        Assert.Equal(6, Assert.Single(report.FailingExamples).Location.Line);
        Assert.Equal(7, Assert.Single(report.Errors).Location.Line);
    }

    [Fact]
    public void Should_report_a_defaults_tier_and_count_every_capability_as_covered()
    {
        var report = PolicyValidator.Validate("org.yaml", "defaults: { tier: approval }\n", Registry);
        Assert.Equal(Tier.ApprovalRequired, report.DefaultTier);
        Assert.Equal(report.CapabilityCount, report.CoveredCount);
        Assert.Equal(report.CapabilityCount, report.Coverage[Tier.ApprovalRequired]);
        Assert.Equal(PolicyLayer.Org, report.Layer);
    }

    [Fact]
    public void Should_validate_a_file_at_any_path_as_an_org_policy()
    {
        var report = PolicyValidator.Validate("/tmp/draft.yaml", PolicyTemplates.Get("enterprise-restrictive"), Registry);
        Assert.True(report.Valid, string.Join("; ", report.Errors.Concat(report.FailingExamples).Concat(report.Warnings)));
        Assert.Equal(3, report.ExampleCount);
        Assert.Equal(3, report.RateLimits.Length);
    }
}
