using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary><c>agent.whoami</c>: the caller's identity. The agent is the authenticated one; it cannot be chosen.</summary>
[Capability("agent.whoami")]
public sealed class AgentWhoAmIHandler : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var agent = context.Agent ?? throw new CapabilityException(AgentErrors.SessionError(context));
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            agent_name = agent.Name,
            purpose = agent.Purpose,
            policy_group = context.Policy.Effective(context.Principal).PolicyGroup,
            workspace_path = Workspace.AgentPath,
            created_at = agent.CreatedAt,
        }));
    }
}
