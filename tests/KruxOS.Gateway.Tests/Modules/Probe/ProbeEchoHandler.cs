using System.Text.Json;

namespace KruxOS.Gateway.Tests.Modules.Probe;

/// <summary><c>probe.echo</c>: returns its text.</summary>
[Capability("probe.echo")]
public sealed class ProbeEchoHandler : ICapabilityHandler
{
    /// <inheritdoc />
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new { text = arguments.GetProperty("text").GetString() }));
}
