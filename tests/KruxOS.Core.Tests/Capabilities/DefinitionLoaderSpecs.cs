using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

public sealed class DefinitionLoaderSpecs
{
    [Fact]
    public void Should_load_every_built_in_definition_with_recovery_actions_for_each_error()
    {
        var all = DefinitionLoader.BuiltIn();
        Assert.Contains(all, d => d.Name.Value == "system.time");
        Assert.Contains(all, d => d.Name.Value == "agent.policy");
        Assert.All(all, d =>
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Purpose));
            Assert.NotEmpty(d.Errors);
            Assert.All(d.Errors, e => Assert.NotEmpty(e.Recovery));
        });
        Assert.Equal(all.Length, all.Select(d => d.Name).Distinct().Count());
    }

    [Fact]
    public void Should_read_system_metrics_window_with_its_default_and_allowed_values()
    {
        var metrics = DefinitionLoader.BuiltIn().Single(d => d.Name.Value == "system.metrics");
        var window = metrics.Inputs.Single();
        Assert.Equal("5m", window.Default!.Value.GetString());
        Assert.Equal(["1m", "5m", "15m", "1h", "24h"], window.Allowed.ToArray());
    }

    [Fact]
    public void Should_give_every_built_in_common_patterns_and_every_writing_one_its_side_effects()
    {
        Assert.All(DefinitionLoader.BuiltIn(), d =>
        {
            Assert.NotEmpty(d.CommonPatterns);
            Assert.All(d.CommonPatterns, p => Assert.NotEmpty(p.Steps));
            if (d.Tags.Any(t => t is "write" or "execute" or "destructive")) Assert.NotEmpty(d.SideEffects);
            if (d.Execution == ExecutionMode.InProcess) Assert.Empty(d.SideEffects);
        });
        var delete = DefinitionLoader.BuiltIn().Single(d => d.Name.Value == "filesystem.delete");
        Assert.True(Assert.Single(delete.SideEffects).Reversible);
        Assert.False(DefinitionLoader.BuiltIn().Single(d => d.Name.Value == "git.push").SideEffects.Single().Reversible);
    }

    [Fact]
    public void Should_read_side_effects_and_common_patterns()
    {
        var d = DefinitionLoader.Parse("""
            capabilities:
              - name: a.b
                purpose: x
                side_effects:
                  - { description: "Writes the file", reversible: true }
                  - description: Sends a mail
                common_patterns:
                  - description: Check then act
                    steps: [a.check, a.b]
            """, "t.yaml").Single();
        Assert.Equal([new SideEffectDefinition("Writes the file", true), new SideEffectDefinition("Sends a mail", false)], d.SideEffects.ToArray());
        Assert.Equal(new CommonPatternDefinition("Check then act", ["a.check", "a.b"]), Assert.Single(d.CommonPatterns));
        // a definition that declares neither has none
        Assert.Empty(DefinitionLoader.Parse("capabilities:\n  - name: a.c\n    purpose: x\n", "t.yaml").Single().SideEffects);
    }

    [Theory]
    [InlineData(InputType.Url, "URL")]
    [InlineData(InputType.Sha256, "SHA256")]
    [InlineData(InputType.FilesystemPath, "FilesystemPath")]
    [InlineData(InputType.DateTime, "DateTime")]
    public void Should_spell_input_types_as_the_spec_does(InputType type, string wire) => Assert.Equal(wire, type.ToWire());

    [Theory]
    [InlineData("capabilities:\n  - name: Bad\n    purpose: x\n", "not a dotted capability name")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: x\n    side_effects:\n      - { reversible: true }\n", "side effect needs a description")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: x\n    common_patterns:\n      - { description: d }\n", "needs steps")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: ''\n", "has no purpose")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: x\n    permission_tier: sometimes\n", "unknown tier")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: x\n    inputs:\n      - { name: p, type: Blob }\n", "unknown type")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: x\n    errors:\n      - { type: E, description: d }\n", "recovery action")]
    [InlineData("capabilities:\n  - name: a.b\n    purpose: x\n    inputs:\n      - { name: p, type: String }\n      - { name: p, type: String }\n", "twice")]
    [InlineData("capabilities:\n  - name: a.b\n    purpse: x\n", "purpse")]
    public void Should_refuse_a_definition_file_with_a_clear_reason(string yaml, string reason)
    {
        var e = Assert.Throws<FormatException>(() => DefinitionLoader.Parse(yaml, "test.yaml"));
        Assert.Contains(reason, e.Message);
        Assert.Contains("test.yaml", e.Message);
    }

    [Fact]
    public void Should_accept_tier_aliases_in_definitions()
    {
        var d = DefinitionLoader.Parse("capabilities:\n  - name: a.b\n    purpose: x\n    permission_tier: require_approval\n", "t.yaml").Single();
        Assert.Equal(Tier.ApprovalRequired, d.DefaultTier);
    }
}
