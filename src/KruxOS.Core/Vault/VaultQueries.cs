using KruxOS.Core.Serialization;

namespace KruxOS.Core.Vault;

/// <summary>
/// The vault entity's state with its version (the entity's journal sequence number): what it publishes to the nodes'
/// replicas and answers <see cref="VaultQueries.GetVaultState"/> with. Ciphertext only (ADR 0033). Replicas apply only
/// newer versions, so a late answer never brings back a state a newer one replaced (a revoked secret).
/// </summary>
[WireName("vault.versioned-state.v1")]
public sealed record VersionedVaultState(long Version, VaultState State) : IKruxMessage;

/// <summary>Queries to the vault entity.</summary>
public static class VaultQueries
{
    /// <summary>Returns the whole (ciphertext) state as a <see cref="VersionedVaultState"/>.</summary>
    [WireName("vault.get-state.v1")]
    public sealed record GetVaultState : IKruxMessage
    {
        /// <summary>The instance.</summary>
        public static readonly GetVaultState Instance = new();
    }
}
