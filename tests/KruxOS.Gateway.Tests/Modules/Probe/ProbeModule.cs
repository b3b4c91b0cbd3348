using System.Collections.Immutable;
using KruxOS.Core.Capabilities;

namespace KruxOS.Gateway.Tests.Modules.Probe;

/// <summary>
/// A test-only capability module (category <c>probe</c>): its definitions in <c>probe.yaml</c>, one handler file per
/// capability. Adding a capability to it touches exactly its YAML entry and its handler file (ADR 0032).
/// </summary>
public sealed class ProbeModule() : CapabilityModule("probe", "probe")
{
    /// <inheritdoc />
    public override ImmutableArray<CapabilityDefinition> LoadDefinitions() => FromEmbeddedYaml(typeof(ProbeModule).Assembly, "probe.yaml");
}
