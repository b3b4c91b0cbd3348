using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Actors.Policy;

/// <summary>
/// The policy that applies when no policy files are in force: every capability runs at the tier its
/// definition declares. Approval-required capabilities still go to the approval seam, which fails
/// closed when no approval queue exists.
/// </summary>
public sealed class DefinitionTierPolicy : IPolicySeam
{
    /// <summary>The revision reported for decisions made from definitions alone.</summary>
    public const string Revision = "definitions";

    /// <inheritdoc />
    public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now,
        object? rateState, out object? newRateState)
    {
        newRateState = rateState;
        return new PolicyVerdict(capability.DefaultTier, $"default:{capability.Name}",
            $"definition default tier of {capability.Name}", Revision);
    }

    /// <inheritdoc />
    public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => capability.DefaultTier;

    /// <inheritdoc />
    public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) =>
        new("definitions",
            [.. registry.All.Select(d => new EffectiveRule(d.Name.Value, d.DefaultTier, "definition default tier", null))],
            Tier.Autonomous);

    /// <inheritdoc />
    public event Action? Changed { add { } remove { } }
}
