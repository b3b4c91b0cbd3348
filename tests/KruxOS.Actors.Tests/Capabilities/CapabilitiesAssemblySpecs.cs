using KruxOS.Capabilities;
using Xunit;

namespace KruxOS.Actors.Tests.Capabilities;

/// <summary>
/// The capability contract stays dependency-light (ADR 0032): a module references it without pulling in the actor,
/// cluster, persistence, web or storage stacks.
/// </summary>
public sealed class CapabilitiesAssemblySpecs
{
    private static bool Allowed(string name) =>
        name is "netstandard" or "KruxOS.Core" or "Microsoft.Extensions.DependencyInjection.Abstractions"
        || name == "System" || name.StartsWith("System.", StringComparison.Ordinal);

    [Fact]
    public void Should_reference_only_the_runtime_core_and_the_dependency_injection_abstractions()
    {
        // act
        var references = typeof(ICapabilityHandler).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        // assert
        Assert.Contains("KruxOS.Core", references);
        Assert.DoesNotContain(references, r => !Allowed(r));
    }

    [Fact]
    public void Should_hold_the_whole_handler_contract()
    {
        // assert: what a module's handler is written against lives in the contract assembly, not in the actor assembly
        var contract = typeof(ICapabilityHandler).Assembly;
        foreach (var t in new[] { typeof(InvocationContext), typeof(SessionSnapshot), typeof(CapabilityOutput), typeof(CapabilityException),
                     typeof(CapabilityAttribute), typeof(CapabilityModule), typeof(CapabilityCatalog), typeof(IPolicyView), typeof(IPathResolvingHandler) })
            Assert.Same(contract, t.Assembly);
    }
}
