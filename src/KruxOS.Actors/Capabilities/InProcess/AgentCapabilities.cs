using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Capabilities.InProcess;

/// <summary>Where agents see their workspace, whatever its host path (ADR 0001).</summary>
public static class Workspace
{
    public const string AgentPath = "/workspace";

    /// <summary>Per-agent persistent state quota (spec §17).</summary>
    public const long StateQuotaBytes = 100L * 1024 * 1024;
}

/// <summary><c>agent.whoami</c>: the caller's identity. The agent is the authenticated one; it cannot be chosen.</summary>
public sealed class AgentWhoAmIHandler : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("agent.whoami");

    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var agent = context.Agent ?? throw new CapabilityException(SessionError(context));
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            agent_name = agent.Name,
            purpose = agent.Purpose,
            policy_group = context.Policy.Effective(context.Principal, context.Registry).PolicyGroup,
            workspace_path = Workspace.AgentPath,
            created_at = agent.CreatedAt,
        }));
    }

    internal static StructuredError SessionError(InvocationContext context) =>
        StructuredError.Create("SessionError", $"The session is not bound to a known agent ('{context.Session.Agent}').")
            .WithRecovery("reconnect", "Reconnect with your agent token.");
}

/// <summary><c>agent.capabilities</c>: what the caller may call (blocked ones omitted).</summary>
public sealed class AgentCapabilitiesHandler : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("agent.capabilities");

    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var category = arguments.TryGetProperty("category", out var c) ? c.GetString() : null;
        var list = context.Registry.All
            .Where(d => category is null || d.Name.Category == category)
            .Select(d => (Definition: d, Tier: context.Policy.VisibleTier(context.Principal, d)))
            .Where(x => x.Tier != Tier.Blocked)
            .Select(x => new { name = x.Definition.Name.Value, purpose = x.Definition.Purpose, permission_tier = x.Tier.ToWire(), tags = x.Definition.Tags })
            .ToList();
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new { capabilities = list, total = list.Count }));
    }
}

/// <summary><c>agent.session</c>: the caller's current session.</summary>
public sealed class AgentSessionHandler : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("agent.session");

    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (context.Agent is null) throw new CapabilityException(AgentWhoAmIHandler.SessionError(context));
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

/// <summary>
/// <c>agent.policy</c>: the rules that apply to the caller. <c>default_tier</c> is always a tier: the strictest
/// <c>defaults.tier</c> of the policy files (every call then matches a rule); without one, calls no rule matches
/// get their capability definition's tier, so <c>default_tier</c> is <c>autonomous</c> and <c>definition_tiers</c>
/// lists every capability whose definition says otherwise (<c>default_tier_source</c> tells which case applies).
/// </summary>
public sealed class AgentPolicyHandler : ICapabilityHandler
{
    public CapabilityName Name { get; } = CapabilityName.Parse("agent.policy");

    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var effective = context.Policy.Effective(context.Principal, context.Registry);
        var fromPolicy = effective.DefaultTier is not null;
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            policy_group = effective.PolicyGroup,
            policy_revision = effective.PolicyRevision,
            rules = effective.Rules.Select(r => new
            {
                capability = r.Capability,
                tier = r.Tier.ToWire(),
                reason = r.Reason,
                rate_limit = r.RateLimit?.ToString(),
                rule = r.RuleReference,
                // Set for a rule of a built-in template that a policy file extends (rule 'template:<name>:<line>').
                template = PolicyTemplates.TemplateOf(r.RuleReference),
                layer = r.Layer.ToString().ToLowerInvariant(),
                conditions = r.Conditions,
            }),
            default_tier = (effective.DefaultTier ?? Tier.Autonomous).ToWire(),
            default_tier_source = fromPolicy ? "policy" : "capability_definitions",
            definition_tiers = context.Registry.All.Where(d => !fromPolicy && d.DefaultTier != Tier.Autonomous)
                .Select(d => new { capability = d.Name.Value, tier = d.DefaultTier.ToWire() }),
        }));
    }
}
