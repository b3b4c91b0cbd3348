using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary>
/// <c>agent.policy</c>: the rules that apply to the caller. <c>default_tier</c> is always a tier: the strictest
/// <c>defaults.tier</c> of the policy files (every call then matches a rule); without one, calls no rule matches
/// get their capability definition's tier, so <c>default_tier</c> is <c>autonomous</c> and <c>definition_tiers</c>
/// lists every capability whose definition says otherwise (<c>default_tier_source</c> tells which case applies).
/// </summary>
[Capability("agent.policy")]
public sealed class AgentPolicyHandler : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var effective = context.Policy.Effective(context.Principal);
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
