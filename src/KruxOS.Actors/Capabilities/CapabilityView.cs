using System.Collections.Immutable;
using System.Runtime.InteropServices;
using KruxOS.Capabilities;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Capabilities;

/// <summary>
/// The one answer to "which capabilities may this principal see, and with which tier": the offered catalogue filtered by
/// the policy in force when asked. Every listing (MCP <c>tools/list</c> and <c>tools/list_changed</c>, <c>/rpc</c>
/// <c>capabilities.list</c>/<c>describe</c>, <c>agent.capabilities</c>) reads it, so they cannot disagree.
/// </summary>
public sealed class CapabilityView(CapabilityRegistry registry, IPolicySeam policy) : IPolicyView
{
    /// <summary>The offered capabilities the view filters.</summary>
    public CapabilityRegistry Registry { get; } = registry;

    /// <summary>Raised when the compiled policy changes (what a principal sees may then differ).</summary>
    public event Action? Changed
    {
        add => policy.Changed += value;
        remove => policy.Changed -= value;
    }

    /// <inheritdoc />
    public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => policy.VisibleTier(principal, capability);

    /// <inheritdoc />
    public ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability) => policy.DecidedPathArguments(principal, capability);

    /// <inheritdoc />
    public StructuredError? DecideWalkEntry(Principal principal, CapabilityDefinition capability, JsonElement arguments, string argument, string path, DateTimeOffset now) =>
        policy.DecideWalkEntry(principal, capability, arguments, argument, path, now);

    /// <inheritdoc />
    public ImmutableArray<VisibleCapability> Visible(Principal principal, string? category = null)
    {
        var all = Registry.All;
        var visible = ImmutableArray.CreateBuilder<VisibleCapability>(all.Length);
        foreach (var d in all)
        {
            if (category is not null && !string.Equals(d.Name.Category, category, StringComparison.Ordinal)) continue;
            var tier = policy.VisibleTier(principal, d);
            if (tier != Tier.Blocked) visible.Add(new VisibleCapability(d, tier));
        }
        return visible.DrainToImmutable();
    }

    /// <summary>
    /// The tier of every offered capability in catalogue order (<see cref="Tier.Blocked"/> for a hidden one): all that can
    /// change in what <paramref name="principal"/> sees, so two equal arrays mean two equal tool lists.
    /// </summary>
    public ImmutableArray<Tier> Tiers(Principal principal)
    {
        var all = Registry.All;
        var tiers = new Tier[all.Length];
        for (var i = 0; i < all.Length; i++) tiers[i] = policy.VisibleTier(principal, all[i]);
        return ImmutableCollectionsMarshal.AsImmutableArray(tiers);
    }

    /// <summary>
    /// Finds a capability by any accepted name form, only when <paramref name="principal"/> may see it: a blocked
    /// capability is not found, exactly like one that does not exist.
    /// </summary>
    public bool TryFind(Principal principal, string? name, out VisibleCapability capability)
    {
        if (Registry.TryResolve(name, out var d))
        {
            var tier = policy.VisibleTier(principal, d);
            if (tier != Tier.Blocked)
            {
                capability = new VisibleCapability(d, tier);
                return true;
            }
        }
        capability = default;
        return false;
    }

    /// <inheritdoc />
    public EffectivePolicy Effective(Principal principal) => policy.Effective(principal, Registry);

    /// <inheritdoc />
    public GitRemoteAllowlist GitRemotes(Principal principal) => policy.GitRemotes(principal);

    /// <inheritdoc />
    public KruxOS.Core.Network.EgressAllowlist Egress(Principal principal) => policy.Egress(principal);
}
