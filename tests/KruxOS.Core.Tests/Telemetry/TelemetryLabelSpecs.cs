using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Telemetry;
using Xunit;

namespace KruxOS.Core.Tests.Telemetry;

/// <summary>Metric label values come from the catalogue and the gateway, never from what an agent wrote, and stay bounded.</summary>
public sealed class TelemetryLabelSpecs
{
    private static readonly CapabilityDefinition SystemTime = DefinitionLoader.BuiltIn().Single(d => d.Name.Value == "system.time");

    [Fact]
    public void Should_label_a_resolved_call_with_its_catalogue_name_and_every_unresolved_one_as_unknown()
    {
        Assert.Equal("system.time", TelemetryLabels.Capability(SystemTime));
        Assert.Equal("unknown", TelemetryLabels.Capability(null));
    }

    [Fact]
    public void Should_label_tiers_and_outcomes_with_their_wire_spellings()
    {
        Assert.Equal("approval_required", TelemetryLabels.Tier(Tier.ApprovalRequired));
        Assert.Equal("none", TelemetryLabels.Tier(null));
        Assert.Equal("denied", TelemetryLabels.Outcome(AuditStatus.Denied));
    }

    [Fact]
    public void Should_admit_well_formed_values_up_to_the_capacity_and_collapse_everything_else_to_other()
    {
        var labels = new BoundedLabels(3);

        Assert.Equal("CapabilityNotFound", labels.Of("CapabilityNotFound"));
        Assert.Equal("auth.rate_limited", labels.Of("auth.rate_limited"));
        Assert.Equal("other", labels.Of("has space"));
        Assert.Equal("other", labels.Of("9starts_with_digit"));
        Assert.Equal("other", labels.Of(new string('a', 65)));
        Assert.Equal("other", labels.Of(null));
        Assert.Equal("Timeout", labels.Of("Timeout"));
        Assert.Equal("other", labels.Of("OneTooMany"));
        Assert.Equal("CapabilityNotFound", labels.Of("CapabilityNotFound")); // admitted values stay admitted
    }

    [Fact]
    public void Should_never_hold_more_than_capacity_plus_one_values_whatever_comes_in_concurrently()
    {
        var labels = new BoundedLabels(16);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>();

        Parallel.For(0, 10_000, i => seen.TryAdd(labels.Of($"code{i % 5_000}"), 0));

        Assert.True(seen.Count <= 17, $"{seen.Count} distinct labels");
        Assert.Contains("other", seen.Keys);
    }

    [Fact]
    public void Should_cut_span_text_to_its_limit_and_drop_text_with_control_characters()
    {
        Assert.Equal("sess-0123", TelemetryLabels.SpanText("sess-0123"));
        Assert.Equal(64, TelemetryLabels.SpanText(new string('s', 200))!.Length);
        Assert.Null(TelemetryLabels.SpanText("sess\n-forged"));
        Assert.Null(TelemetryLabels.SpanText(null));
    }

    [Fact]
    public void Should_name_a_span_for_every_stage_and_refuse_anything_else()
    {
        Assert.Equal("kruxos.call.hold", TelemetryNames.StageSpan(TelemetryNames.StageHold));
        Assert.Throws<ArgumentOutOfRangeException>(() => TelemetryNames.StageSpan("other"));
    }
}
