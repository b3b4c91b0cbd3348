using KruxOS.Core.Agents;
using KruxOS.Core.Vault;

namespace KruxOS.Vault;

/// <summary>Who is using a secret, for what: the audit entry of the resolution names the agent and session.</summary>
/// <param name="Agent">The calling agent.</param>
/// <param name="SessionId">The calling session.</param>
/// <param name="Request">The secret, the calling capability and the checked destination.</param>
public sealed record SecretUseContext(AgentName Agent, string SessionId, SecretUseRequest Request);

/// <summary>
/// A node's access to the vault for the parts of the gateway that use secrets (capability handlers, backups, service
/// adapters). Registered once per node by the vault area. Nothing here returns a value to be shown: a granted resolution
/// carries a <see cref="SecretValue"/> that is used in place and disposed.
/// </summary>
public interface ISecretAccess
{
    /// <summary>True while this node holds the unlocked master key.</summary>
    bool IsUnlocked { get; }

    /// <summary>
    /// Resolves a secret for one use and records the resolution in the audit (granted or refused, never the value).
    /// Never throws for a refusal: a refused resolution's <see cref="SecretResolution.Decision"/> carries the error
    /// the agent may see (denied, revoked and absent look the same; <c>VaultLocked</c> while locked).
    /// </summary>
    Task<SecretResolution> ResolveAsync(SecretUseContext use, CancellationToken cancellationToken);

    /// <summary>
    /// Derives a 32-byte key for an internal purpose (e.g. <c>backup</c>) from the master key into
    /// <paramref name="destination"/>; false while the vault is locked. The same purpose gives the same key for as long
    /// as the vault's passphrase and salt are the same.
    /// </summary>
    bool TryDeriveKey(string purpose, Span<byte> destination);
}
