using System.Text.Json;
using KruxOS.Actors.Vault;
using KruxOS.Capabilities;
using KruxOS.Core.Vault;

namespace KruxOS.Actors.Capabilities.Secrets;

/// <summary>
/// <c>secrets.use</c>: the name policy rules and audit entries give to secret use (spec §8.13). Capabilities resolve secrets
/// themselves; an agent that calls this gets no secret and learns nothing about which secrets exist — only that the vault
/// is locked, which every caller may know.
/// </summary>
[Capability("secrets.use")]
public sealed class SecretsUseHandler(VaultAdmin vault) : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (vault.LockState != VaultLockState.Unlocked) throw new CapabilityException(VaultErrors.VaultLocked());
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            used = false,
            injected = false,
            message = "Secrets are never handed to agents: pass the secret's name to the capability that needs it (e.g. network.credentialed_request), which uses it for you.",
        }));
    }
}
