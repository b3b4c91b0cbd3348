using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary><c>agent.capabilities</c>: what the caller may call (blocked ones omitted).</summary>
[Capability("agent.capabilities")]
public sealed class AgentCapabilitiesHandler : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var category = arguments.TryGetProperty("category", out var c) ? c.GetString() : null;
        var list = context.Policy.Visible(context.Principal, category)
            .Select(x => new { name = x.Definition.Name.Value, purpose = x.Definition.Purpose, permission_tier = x.Tier.ToWire(), tags = x.Definition.Tags })
            .ToList();
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new { capabilities = list, total = list.Count }));
    }
}
