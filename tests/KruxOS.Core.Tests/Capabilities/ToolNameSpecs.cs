using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

public sealed class ToolNameSpecs
{
    private static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());

    [Theory]
    [InlineData("system.time", "system__time")]
    [InlineData("agent.whoami", "agent__whoami")]
    [InlineData("state.shared.set", "state__shared__set")]
    public void Should_map_dots_to_double_underscores_when_naming_tools(string dotted, string tool) =>
        Assert.Equal(tool, ToolNames.ToMcp(CapabilityName.Parse(dotted)));

    [Theory]
    [InlineData("system.time")]
    [InlineData("system__time")]
    [InlineData("system_time")]
    public void Should_resolve_every_accepted_form_when_a_call_arrives(string sent)
    {
        Assert.True(Registry.TryResolve(sent, out var d));
        Assert.Equal("system.time", d.Name.Value);
    }

    [Theory]
    [InlineData("system.clock")]
    [InlineData("system___time")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("SYSTEM__TIME")]
    public void Should_not_resolve_when_the_name_is_unknown(string? sent) => Assert.False(Registry.TryResolve(sent, out _));

    [Fact]
    public void Should_not_register_an_ambiguous_single_underscore_alias_when_two_capabilities_share_it()
    {
        var a = Definition("network.http_request");
        var b = Definition("network.http.request");
        var registry = new CapabilityRegistry([a, b]);
        Assert.False(registry.TryResolve("network_http_request", out _));
        Assert.True(registry.TryResolve("network__http_request", out var viaDouble));
        Assert.Equal("network.http_request", viaDouble.Name.Value);
    }

    [Fact]
    public void Should_refuse_a_registry_when_a_name_is_defined_twice() =>
        Assert.Throws<ArgumentException>(() => new CapabilityRegistry([Definition("system.time"), Definition("system.time")]));

    [Theory]
    [InlineData("filesystem.read", true)]
    [InlineData("state.shared.set", true)]
    [InlineData("filesystem", false)]
    [InlineData("Filesystem.read", false)]
    [InlineData("filesystem..read", false)]
    [InlineData("filesystem.read.", false)]
    [InlineData("1fs.read", false)]
    public void Should_accept_only_dotted_lower_case_names(string text, bool valid) =>
        Assert.Equal(valid, CapabilityName.TryParse(text, out _));

    internal static CapabilityDefinition Definition(string name, Tier tier = Tier.Autonomous, params InputDefinition[] inputs) =>
        new(CapabilityName.Parse(name), "1.0", "purpose", "", [.. inputs], [], [], tier, [], ExecutionMode.InProcess);
}
