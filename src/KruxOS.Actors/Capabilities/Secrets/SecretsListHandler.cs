using System.Text.Json;
using KruxOS.Actors.Vault;
using KruxOS.Capabilities;
using KruxOS.Core.Vault;

namespace KruxOS.Actors.Capabilities.Secrets;

/// <summary>
/// <c>secrets.list</c>: the names, types and scopes of the secrets an agent may refer to (never values; never launchers'
/// user tokens). <c>VaultLocked</c> while this node does not hold the key.
/// </summary>
[Capability("secrets.list")]
public sealed class SecretsListHandler(VaultAdmin vault) : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (vault.LockState != VaultLockState.Unlocked) throw new CapabilityException(VaultErrors.VaultLocked());
        var includeRevoked = arguments.TryGetProperty("include_revoked", out var r) && r.ValueKind == JsonValueKind.True;
        var secrets = vault.ListForAgents(includeRevoked);
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            secrets = secrets.Select(s => new
            {
                name = s.Name,
                type = s.Type.ToWire(),
                allowed_capabilities = s.AllowedCapabilities,
                created_at = s.CreatedAt,
                revoked = s.Revoked,
                needs_attention = s.NeedsAttention,
            }),
            total = secrets.Length,
        }));
    }
}
