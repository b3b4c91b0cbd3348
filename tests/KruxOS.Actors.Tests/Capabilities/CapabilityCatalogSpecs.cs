using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Capabilities.AgentCategory;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Capabilities.SystemCategory;
using KruxOS.Actors.Tests.Support;
using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Capabilities;

/// <summary>
/// The catalogue a set of capability modules forms, and every rule that stops the node at start-up instead of offering a
/// tool that cannot run or running code no definition describes (ADR 0032).
/// </summary>
public sealed class CapabilityCatalogSpecs
{
    private static IServiceProvider Services() => new ServiceCollection().BuildServiceProvider();

    private static CapabilityModuleException Refused(params CapabilityModule[] modules) =>
        Assert.Throws<CapabilityModuleException>(() => CapabilityCatalog.FromModules(modules, Services()));

    [Fact]
    public void Should_bind_each_definition_of_a_module_to_its_capability_class()
    {
        // act
        var catalog = CapabilityCatalog.FromModules([new GoodModule()], Services());

        // assert
        Assert.Equal(["good.one", "good.two"], catalog.Registry.All.Select(d => d.Name.Value));
        Assert.IsType<GoodOne>(catalog.HandlerFor(CapabilityName.Parse("good.one")));
        Assert.Equal("good.two", catalog.HandlerFor(CapabilityName.Parse("good.two")).Name.Value);
    }

    [Fact]
    public void Should_refuse_two_modules_that_claim_one_category()
    {
        var e = Refused(new GoodModule(), new GoodAgainModule());
        Assert.Contains("'good'", e.Message);
        Assert.Contains("good-again", e.Message);
    }

    [Fact]
    public void Should_refuse_a_definition_outside_its_modules_categories()
    {
        var e = Refused(new OutsideModule());
        Assert.Contains("'outside'", e.Message);
        Assert.Contains("elsewhere.one", e.Message);
    }

    [Theory]
    [InlineData("audit.write")]
    [InlineData("secrets.read_raw")]
    [InlineData("policy.modify_system")]
    [InlineData("state.read_private")]
    public void Should_refuse_a_definition_with_a_protected_name(string name)
    {
        var e = Refused(new ProtectedModule(name));
        Assert.Contains("'protected'", e.Message);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Should_refuse_a_definition_without_a_handler()
    {
        var e = Refused(new OrphanModule());
        Assert.Contains("'orphan'", e.Message);
        Assert.Contains("orphan.one", e.Message);
        Assert.Contains("no handler", e.Message);
    }

    [Fact]
    public void Should_refuse_a_definition_with_a_class_and_a_module_made_handler()
    {
        var e = Refused(new BothModule());
        Assert.Contains("'both'", e.Message);
        Assert.Contains("both.one", e.Message);
    }

    [Fact]
    public void Should_refuse_a_capability_class_without_a_definition()
    {
        var e = Refused(new StrayModule());
        Assert.Contains("'stray'", e.Message);
        Assert.Contains("stray.only", e.Message);
        Assert.Contains("no definition", e.Message);
    }

    [Fact]
    public void Should_refuse_two_classes_for_one_capability()
    {
        var e = Refused(new TwiceModule());
        Assert.Contains("'twice'", e.Message);
        Assert.Contains("twice.one", e.Message);
    }

    [Fact]
    public void Should_refuse_a_capability_class_the_services_cannot_create()
    {
        var e = Refused(new NeedyModule());
        Assert.Contains("'needy'", e.Message);
        Assert.Contains("needy.one", e.Message);
    }

    [Fact]
    public void Should_refuse_a_capability_class_that_says_it_runs_another_capability()
    {
        var e = Refused(new NamedModule());
        Assert.Contains("'named'", e.Message);
        Assert.Contains("named.one", e.Message);
        Assert.Contains("named.other", e.Message);
    }

    [Fact]
    public void Should_refuse_a_hand_built_catalogue_with_a_definition_that_has_no_handler()
    {
        var e = Assert.Throws<ArgumentException>(() => new CapabilityCatalog([TestCapabilities.Echo, TestCapabilities.Gated], [new GoodOne()]));
        Assert.Contains("good.one", e.Message);
        var missing = Assert.Throws<ArgumentException>(() => new CapabilityCatalog([TestCapabilities.Echo], []));
        Assert.Contains("test.echo", missing.Message);
    }

    [Fact]
    public void Should_refuse_a_module_set_that_leaves_a_shipped_category_unclaimed()
    {
        // arrange: every built-in module but git
        CapabilityModule[] modules = [new SystemModule(), new AgentModule(), new FilesystemModule(), new ProcessModule(), new KruxOS.Network.NetworkModule(),
            new KruxOS.Actors.Capabilities.Secrets.SecretsModule(), new KruxOS.Actors.Capabilities.StateCategory.StateModule(),
            new KruxOS.Actors.Capabilities.CommsCategory.CommsModule(), new KruxOS.Actors.Capabilities.AlertsCategory.AlertsModule(),
            new KruxOS.Actors.Capabilities.SchedulerCategory.SchedulerModule(), new KruxOS.Actors.Capabilities.ProxyCategory.ProxyModule(),
            new KruxOS.Proxy.Slack.SlackModule(), new KruxOS.Proxy.Gmail.Email.EmailModule()];

        // act
        var e = Assert.Throws<CapabilityModuleException>(() => CapabilityCatalogCheck.Check(modules));

        // assert
        Assert.Contains("'git'", e.Message);
        CapabilityCatalogCheck.Check([.. modules, new GitModule()]);
    }

    [Fact]
    public async Task Should_bind_every_shipped_definition_in_a_real_node()
    {
        // arrange
        using var dir = new TempDir();
        var settings = new KruxOS.Actors.Hosting.KruxOsSettings { DataDir = dir.Path, MetricsInterval = TimeSpan.FromMinutes(5) };

        // act
        await using var node = await NodeHost.StartAsync(settings);
        var catalog = node.Services.GetRequiredService<CapabilityCatalog>();

        // assert: the catalogue is the offline one, each definition with one handler
        Assert.Equal(DefinitionLoader.BuiltIn().Select(d => d.Name.Value).Order(StringComparer.Ordinal), catalog.Registry.All.Select(d => d.Name.Value));
        Assert.Equal(93, catalog.Registry.All.Length);
        foreach (var d in catalog.Registry.All)
        {
            var handler = catalog.HandlerFor(d.Name);
            Assert.Equal(d.Name, handler.Name);
            if (d.Execution == ExecutionMode.Sandboxed) Assert.IsType<SandboxedCapabilityHandler>(handler);
        }
        Assert.IsType<SystemInfoHandler>(catalog.HandlerFor(CapabilityName.Parse("system.info")));
        Assert.IsType<AgentPolicyHandler>(catalog.HandlerFor(CapabilityName.Parse("agent.policy")));
    }

    // ---- test modules: each owns its own categories, so their handler classes never meet ----

    private static ImmutableArray<CapabilityDefinition> Defs(params string[] names) =>
        [.. names.Select(n => TestCapabilities.Def(n, Tier.Autonomous))];

    private abstract class SpecHandler : ICapabilityHandler
    {
        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
            ValueTask.FromResult<CapabilityOutput>(arguments);
    }

    private sealed class GoodModule() : CapabilityModule("good", "good")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("good.one", "good.two");
    }

    private sealed class GoodAgainModule() : CapabilityModule("good-again", "good")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => [];
    }

    [Capability("good.one")] private sealed class GoodOne : SpecHandler;

    [Capability("good.two")] private sealed class GoodTwo : SpecHandler;

    private sealed class OutsideModule() : CapabilityModule("outside", "outside")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("elsewhere.one");
    }

    private sealed class ProtectedModule(string name) : CapabilityModule("protected", name.Split('.')[0])
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs(name);
    }

    private sealed class OrphanModule() : CapabilityModule("orphan", "orphan")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("orphan.one");
    }

    private sealed class BothModule() : CapabilityModule("both", "both")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("both.one");

        public override ICapabilityHandler? CreateHandler(CapabilityDefinition definition, IServiceProvider services) => new BothOne();
    }

    [Capability("both.one")] private sealed class BothOne : SpecHandler;

    private sealed class StrayModule() : CapabilityModule("stray", "stray")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("stray.bound");
    }

    [Capability("stray.bound")] private sealed class StrayBound : SpecHandler;

    [Capability("stray.only")] private sealed class StrayOnly : SpecHandler;

    private sealed class TwiceModule() : CapabilityModule("twice", "twice")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("twice.one");
    }

    [Capability("twice.one")] private sealed class TwiceA : SpecHandler;

    [Capability("twice.one")] private sealed class TwiceB : SpecHandler;

    private sealed class NeedyModule() : CapabilityModule("needy", "needy")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("needy.one");
    }

    public sealed class Unregistered;

    [Capability("needy.one")] private sealed class NeedyOne(Unregistered dependency) : SpecHandler
    {
        public Unregistered Dependency { get; } = dependency;
    }

    private sealed class NamedModule() : CapabilityModule("named", "named")
    {
        public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => Defs("named.one");
    }

    [Capability("named.one")]
    private sealed class NamedOne : SpecHandler, ICapabilityHandler
    {
        public CapabilityName Name => CapabilityName.Parse("named.other");
    }
}
