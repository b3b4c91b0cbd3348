using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary><c>agent.session</c>: the caller's current session.</summary>
[Capability("agent.session")]
public sealed class AgentSessionHandler : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (context.Agent is null) throw new CapabilityException(AgentErrors.SessionError(context));
        var s = context.Session;
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            session_id = s.SessionId,
            connected_at = s.ConnectedAt,
            duration_seconds = (long)Math.Max(0, (context.Now - s.ConnectedAt).TotalSeconds),
            invocation_count = s.InvocationCount,
            // In-process capabilities consume no sandbox resources; sandboxed runs add their measured usage here.
            resource_usage = new { cpu_ms = 0, memory_bytes = 0, io_bytes_read = 0, io_bytes_written = 0 },
            workspace_path = Workspace.AgentPath,
            state_quota = new { used_bytes = 0, limit_bytes = Workspace.StateQuotaBytes, percent = 0.0 },
        }));
    }
}
