using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Capabilities;

/// <summary>
/// A read-only view of the policy in force when asked, over the capabilities this node offers: what a principal may see
/// and which rules apply to it. It cannot decide a call; deciding is the pipeline's job. One instance serves every
/// principal, so a question allocates nothing per call beyond its answer.
/// </summary>
public interface IPolicyView
{
    /// <summary>The tier <paramref name="capability"/> is shown with to <paramref name="principal"/>; <see cref="Tier.Blocked"/> when hidden.</summary>
    Tier VisibleTier(Principal principal, CapabilityDefinition capability);

    /// <summary>
    /// The capabilities <paramref name="principal"/> may see, blocked ones omitted, in catalogue order (by name);
    /// only those of <paramref name="category"/> when it is given.
    /// </summary>
    ImmutableArray<VisibleCapability> Visible(Principal principal, string? category = null);

    /// <summary>The rules that apply to <paramref name="principal"/> (what <c>agent.policy</c> reports).</summary>
    EffectivePolicy Effective(Principal principal);

    /// <summary>The git remotes <paramref name="principal"/>'s policy allows (<c>git.remotes</c>, ADR 0012).</summary>
    GitRemoteAllowlist GitRemotes(Principal principal);

    /// <summary>
    /// The egress allowlist of <paramref name="principal"/> in force now (the <c>network</c> sections of its layers,
    /// ADR 0034): what the network capabilities may reach. Read when the call executes, after any approval wait.
    /// </summary>
    KruxOS.Core.Network.EgressAllowlist Egress(Principal principal);

    /// <summary>
    /// The path arguments of <paramref name="capability"/> that a rule which can apply to <paramref name="principal"/>
    /// looks at: empty when no path rule concerns the call (a walk then needs no entry decisions).
    /// </summary>
    ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability);

    /// <summary>
    /// Whether a tree walk the pipeline already decided may open one entry it reaches (ADR 0028), on the policy in force
    /// now: null when it may, else the refusal naming the entry. It decides the entry, never the call itself.
    /// </summary>
    StructuredError? DecideWalkEntry(Principal principal, CapabilityDefinition capability, JsonElement arguments, string argument, string path, DateTimeOffset now);
}

/// <summary>A capability a principal may see, with the tier it is shown with.</summary>
public readonly record struct VisibleCapability(CapabilityDefinition Definition, Tier Tier);
