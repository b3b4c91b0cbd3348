using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>
/// Adversarial: YAML an operator (or whoever can write the policy directory) hands the gateway, shaped to exhaust the
/// parser — 200,000 levels of nesting (a stack overflow that would kill the gateway at every start), an alias bomb
/// ("billion laughs"), an oversized file. Each is a clear <c>limit_exceeded</c> error with its place, found without
/// recursion, and ordinary files pass.
/// </summary>
public sealed class YamlLimitSpecs
{
    private static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());

    /// <summary>The file of the issue: a rule whose capability is a flow sequence nested 200,000 levels deep.</summary>
    public static string DeepFlow(int levels = 200_000) =>
        "rules:\n  - capability: " + new string('[', levels) + new string(']', levels) + "\n    tier: blocked\n";

    [Fact]
    public void Should_reject_a_200000_level_flow_sequence_with_its_place_instead_of_overflowing_the_stack()
    {
        // act
        var (file, diagnostics) = PolicyCompiler.CompileSingle("org.yaml", DeepFlow(), Registry);
        // assert
        Assert.Null(file);
        var error = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticCodes.LimitExceeded, error.Code);
        Assert.Contains("nested deeper than 64 levels", error.Message);
        Assert.Equal(2, error.Location.Line);
    }

    [Theory]
    [InlineData("block")]
    [InlineData("mapping")]
    public void Should_reject_deep_block_and_mapping_nesting(string shape)
    {
        var yaml = shape == "block"
            ? "rules:\n" + string.Concat(Enumerable.Repeat("- ", 100_000)) + "x\n"
            : "rules: " + string.Concat(Enumerable.Repeat("{a: ", 100_000)) + "x" + new string('}', 100_000) + "\n";
        var (_, diagnostics) = PolicyCompiler.CompileSingle("org.yaml", yaml, Registry);
        Assert.Equal(DiagnosticCodes.LimitExceeded, Assert.Single(diagnostics).Code);
    }

    [Fact]
    public void Should_reject_an_alias_bomb_by_the_nodes_it_stands_for()
    {
        // arrange: ten levels of nine aliases each stand for 9^10 (3.5 billion) nodes in a file of under 1 KB
        var lines = new List<string> { "a0: &a0 [x, x, x, x, x, x, x, x, x]" };
        for (var i = 1; i <= 10; i++) lines.Add($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 9))}]");
        // act
        var violation = YamlLimits.Policy.Check(string.Join("\n", lines) + "\n");
        // assert
        Assert.NotNull(violation);
        Assert.Contains("more than 200,000 nodes", violation.Message);
    }

    [Fact]
    public void Should_reject_a_file_larger_than_the_limit()
    {
        var yaml = "description: \"" + new string('x', YamlLimits.Policy.MaxBytes) + "\"\n";
        var (_, diagnostics) = PolicyCompiler.CompileSingle("org.yaml", yaml, Registry);
        var error = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticCodes.LimitExceeded, error.Code);
        Assert.Contains("at most 1,048,576", error.Message);
    }

    [Fact]
    public void Should_accept_every_shipped_template_and_a_moderately_nested_file()
    {
        foreach (var name in PolicyTemplates.Names) Assert.Null(YamlLimits.Policy.Check(PolicyTemplates.Get(name)));
        Assert.Null(YamlLimits.Policy.Check("rules: " + new string('[', 63) + new string(']', 63) + "\n"));
        Assert.NotNull(YamlLimits.Policy.Check("rules: " + new string('[', 64) + new string(']', 64) + "\n"));
    }

    [Fact]
    public void Should_refuse_a_deeply_nested_capability_definition_file_with_a_format_error()
    {
        var yaml = "capabilities: " + new string('[', 200_000) + new string(']', 200_000) + "\n";
        var e = Assert.Throws<FormatException>(() => DefinitionLoader.Parse(yaml, "evil.yaml"));
        Assert.Contains("evil.yaml:1:", e.Message);
        Assert.Contains("nested deeper than 64", e.Message);
    }
}
