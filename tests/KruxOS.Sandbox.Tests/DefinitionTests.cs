using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Sandbox.Tests;

public sealed class DefinitionTests
{
    [Theory]
    [InlineData("filesystem", 13)]
    [InlineData("process", 5)]
    [InlineData("git", 9)]
    public void Should_load_every_capability_of_the_category(string category, int count)
    {
        var defs = DefinitionLoader.BuiltIn().Where(d => d.Name.Category == category).ToList();
        Assert.Equal(count, defs.Count);
        Assert.All(defs, d =>
        {
            Assert.Equal(ExecutionMode.Sandboxed, d.Execution);
            Assert.NotEmpty(d.Outputs);
            Assert.NotEmpty(d.Errors);
            Assert.All(d.Errors, e => Assert.NotEmpty(e.Recovery));
        });
    }

    [Fact]
    public void Should_execute_exactly_the_shipped_sandboxed_definitions()
    {
        // The sandbox's operation set is read from the code that runs each operation; a sandboxed definition nobody
        // executes (or an operation no definition offers) shows up here and fails the gateway's start-up.
        var sandboxed = DefinitionLoader.BuiltIn().Where(d => d.Execution == ExecutionMode.Sandboxed).Select(d => d.Name.Value).Order(StringComparer.Ordinal);
        Assert.Equal(sandboxed, SandboxHost.Operations.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("filesystem.unwatch", (IReadOnlySet<string>)SandboxHost.Operations);
    }

    [Theory]
    [InlineData("filesystem.delete", Tier.ApprovalRequired)]
    [InlineData("git.push", Tier.ApprovalRequired)]
    [InlineData("filesystem.write", Tier.Notify)]
    [InlineData("filesystem.search_content", Tier.Notify)]
    [InlineData("process.run", Tier.Notify)]
    [InlineData("process.kill", Tier.Notify)]
    [InlineData("git.commit", Tier.Notify)]
    [InlineData("git.init", Tier.Autonomous)]
    [InlineData("filesystem.read", Tier.Autonomous)]
    [InlineData("process.logs", Tier.Autonomous)]
    public void Should_use_the_documented_default_tier(string name, Tier tier)
    {
        Assert.True(SandboxFixture.Registry.TryResolve(name, out var def));
        Assert.Equal(tier, def.DefaultTier);
    }

    [Fact]
    public void Should_fill_defaults_when_validating()
    {
        Assert.True(SandboxFixture.Registry.TryResolve("process.run", out var def));
        var args = System.Text.Json.JsonDocument.Parse("""{"command":"true"}""").RootElement;
        Assert.True(ArgumentValidator.TryValidate(def, args, out var normalized, out _));
        Assert.Equal(300, normalized.GetProperty("timeout").GetInt32());
        Assert.Equal(100, normalized.GetProperty("stdout_lines").GetInt32());
        Assert.Equal("/workspace", normalized.GetProperty("working_directory").GetString());
    }
}
