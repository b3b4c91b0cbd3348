using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Core;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Policy;

/// <summary>
/// What <c>policy.set</c> did: the status after the reload, the file written, the backup of the previous one (if any),
/// and whether the requested template is the one now in force.
/// </summary>
public sealed record PolicySetResult(PolicyStatus Status, string Written, string? Backup, string RequestedTemplate, bool InForce);

/// <summary>The decision the policy in force gives a call, for an agent that may not exist yet.</summary>
public sealed record PolicyCheckResult(Decision Decision, AgentName Agent, bool AgentKnown, CapabilityName Capability, bool PolicyLoaded);

/// <summary>Policy administration for every adapter: the status in force, switching templates, and a dry-run decision.</summary>
public sealed class PolicyAdmin(
    PolicyStore policies,
    IRequiredActor<PolicyStoreActor> loader,
    CapabilityCatalog catalog,
    IdentityDirectory directory,
    KruxOsSettings settings,
    TimeProvider clock)
{
    /// <summary>The policy in force.</summary>
    public PolicyStatus Show() => policies.Status;

    /// <summary>Writes a shipped template as <c>org.yaml</c> (backing up the previous one) and waits for the reload.</summary>
    public Task<AdminResult<PolicySetResult>> SetTemplateAsync(string template, CancellationToken ct) => AdminCalls.Guarded<PolicySetResult>(async () =>
    {
        if (!PolicyTemplates.TryGet(template, out var yaml))
            return AdminErrors.InvalidInput($"no policy template '{template}'; known: {string.Join(", ", PolicyTemplates.Names)}");
        var org = Path.Combine(settings.PoliciesDir, "org.yaml");
        string? backup = null;
        if (File.Exists(org))
        {
            backup = $"{org}.bak-{clock.GetUtcNow():yyyyMMdd'T'HHmmss'Z'}";
            File.Copy(org, backup, overwrite: true);
        }
        PolicyDirectory.WriteAtomically(org, yaml);
        var actor = await loader.GetAsync(ct).ConfigureAwait(false);
        var status = await actor.Ask<PolicyStatus>(PolicyStoreCommands.Reload.Instance, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
        return new PolicySetResult(status, org, backup, template, status.Loaded && status.Errors.IsEmpty && status.Template == template);
    });

    /// <summary>
    /// The decision for <paramref name="agent"/> calling <paramref name="capability"/> with <paramref name="arguments"/> (an
    /// empty object when null; anything but an object is refused), with its hierarchy trace and an empty rate ledger. Arguments the call would be refused for
    /// before the policy is asked are refused here too.
    /// </summary>
    public AdminResult<PolicyCheckResult> Check(string? agent, string? capability, JsonElement? arguments)
    {
        if (!AgentName.TryParse(agent, out var name, out var why)) return AdminErrors.InvalidInput(why);
        if (!catalog.Registry.TryResolve(capability, out var definition)) return AdminErrors.NotFound($"no capability '{capability}'");
        if (arguments is { ValueKind: not JsonValueKind.Object }) return AdminErrors.InvalidInput("args must be a JSON object");
        if (!ArgumentValidator.TryValidate(definition, arguments ?? CoreJson.EmptyObject, out var normalized, out var invalid))
            return AdminErrors.InvalidInput($"the arguments would be rejected before the policy is asked: {invalid!.Message}");
        var status = policies.Status;
        var decision = policies.Check(Principal.ForAgent(name), definition, normalized, clock.GetUtcNow());
        return new PolicyCheckResult(decision, name, directory.Current.Agents.ContainsKey(name.Value), definition.Name, status.Loaded);
    }
}
