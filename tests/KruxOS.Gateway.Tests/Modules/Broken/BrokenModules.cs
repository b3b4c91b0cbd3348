using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Capabilities;

namespace KruxOS.Gateway.Tests.Modules.Broken;

/// <summary>A module whose YAML defines <c>unbound.orphan</c>, for which no handler exists.</summary>
public sealed class UnboundModule() : CapabilityModule("unbound", "unbound")
{
    /// <inheritdoc />
    public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => FromEmbeddedYaml(typeof(UnboundModule).Assembly, "unbound.yaml");
}

/// <summary>A module with a handler class (<c>stray.only</c>) that no definition describes.</summary>
public sealed class StrayHandlerModule() : CapabilityModule("stray", "stray")
{
    /// <inheritdoc />
    public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => FromEmbeddedYaml(typeof(StrayHandlerModule).Assembly, "stray.yaml");
}

/// <summary>The handler of <c>stray.bound</c>.</summary>
[Capability("stray.bound")]
public sealed class StrayBoundHandler : ICapabilityHandler
{
    /// <inheritdoc />
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        ValueTask.FromResult<CapabilityOutput>(arguments);
}

/// <summary>A handler of a capability no definition describes: the module must not start.</summary>
[Capability("stray.only")]
public sealed class StrayOnlyHandler : ICapabilityHandler
{
    /// <inheritdoc />
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        ValueTask.FromResult<CapabilityOutput>(arguments);
}
