using System.Text.Json;
using KruxOS.Actors.State;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary><c>agent.session</c>: the caller's current session, with the real use of its persistent state quota.</summary>
[Capability("agent.session")]
public sealed class AgentSessionHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (context.Agent is null) throw new CapabilityException(AgentErrors.SessionError(context));
        var s = context.Session;
        var usage = await state.PersistentAsync(new PersistentStateQueries.GetUsage(s.Agent), cancellationToken).ConfigureAwait(false);
        // Only what is really in force: an unanswered quota query fails the call rather than report zero.
        if (usage is StateRefused refused) throw new CapabilityException(refused.Error);
        var quota = (PersistentStateReplies.UsageResult)usage;
        return CapabilityCatalog.ToElement(new
        {
            session_id = s.SessionId,
            connected_at = s.ConnectedAt,
            duration_seconds = (long)Math.Max(0, (context.Now - s.ConnectedAt).TotalSeconds),
            invocation_count = s.InvocationCount,
            // In-process capabilities consume no sandbox resources; sandboxed runs add their measured usage here.
            resource_usage = new { cpu_ms = 0, memory_bytes = 0, io_bytes_read = 0, io_bytes_written = 0 },
            workspace_path = Workspace.AgentPath,
            state_quota = new { used_bytes = quota.UsedBytes, limit_bytes = quota.LimitBytes, percent = quota.Percent },
        });
    }
}
