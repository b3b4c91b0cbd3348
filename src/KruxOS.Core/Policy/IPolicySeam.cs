using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Policy;

/// <summary>
/// The "decide" seam of the pipeline. Implementations are pure with respect to their inputs: the
/// per-agent rate state is owned by the agent's session entity and passed in and out.
/// </summary>
public interface IPolicySeam
{
    /// <summary>Decides a call. <paramref name="rateState"/> is the session's rate ledger; the next one is returned.</summary>
    PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now,
        RateState rateState, out RateState newRateState);

    /// <summary>The tier a capability is shown with in tool listings (blocked ones are hidden).</summary>
    Tier VisibleTier(Principal principal, CapabilityDefinition capability);

    /// <summary>What <c>agent.policy</c> reports.</summary>
    EffectivePolicy Effective(Principal principal, CapabilityRegistry registry);

    /// <summary>
    /// The git remotes the principal's policy allows (<c>git.remotes</c>, ADR 0012), read when a git call
    /// executes. The default allows none: a seam that knows no policy fails closed.
    /// </summary>
    GitRemoteAllowlist GitRemotes(Principal principal) => GitRemoteAllowlist.None;

    /// <summary>
    /// The principal's egress allowlist (the <c>network</c> sections, ADR 0034), read when a network call executes.
    /// The default allows nothing: a seam that knows no policy fails closed.
    /// </summary>
    Network.EgressAllowlist Egress(Principal principal) => Network.EgressAllowlist.None;

    /// <summary>
    /// The path arguments of <paramref name="capability"/> that a rule which can apply to <paramref name="principal"/>
    /// decides on (<see cref="PolicyEngine.DecidedPathArguments"/>): a sandboxed call naming one of them is decided on
    /// the path the sandbox resolves (ADR 0023). The default decides on none.
    /// </summary>
    ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability) => [];

    /// <summary>
    /// Decides one entry a tree walk reaches (ADR 0028, <see cref="WalkPolicy.Decide"/>) on the policy in force: null when
    /// the walk may open <paramref name="path"/>, else the refusal naming it. The default holds nothing back.
    /// </summary>
    StructuredError? DecideWalkEntry(Principal principal, CapabilityDefinition capability, JsonElement arguments, string argument, string path, DateTimeOffset now) => null;

    /// <summary>Raised when the compiled policy changes, so connections can send <c>tools/list_changed</c>.</summary>
    event Action? Changed;
}
