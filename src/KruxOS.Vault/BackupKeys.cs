using KruxOS.Core.Vault;

namespace KruxOS.Vault;

/// <summary>
/// The backup key of a vault this node does not hold (a backup restored into a fresh data directory, ADR 0042): the
/// operator's passphrase and the vault header stored in the backup give the master key (Argon2id with the header's bounded
/// parameters, the verifier checked), from which the <c>backup</c> subkey is derived exactly as
/// <see cref="ISecretAccess.TryDeriveKey"/> derives it on the node that made the backup. The master key is zeroed at once.
/// Takes about half a second and 64 MiB: never on an actor thread.
/// </summary>
public static class BackupKeys
{
    /// <summary>
    /// Derives <paramref name="purpose"/>'s subkey of the vault described by <paramref name="vault"/> into
    /// <paramref name="destination"/>; null on success, else why not (<see cref="VaultUnlockError.WrongPassphrase"/>: the
    /// passphrase does not open that vault; <see cref="VaultUnlockError.InvalidHeader"/>: its parameters are refused).
    /// </summary>
    public static (VaultUnlockError? Error, string Message) TryDerive(VaultHeader vault, ReadOnlySpan<char> passphrase, string purpose, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(vault);
        destination.Clear();
        var unlocked = VaultSetup.Unlock(vault, passphrase);
        if (unlocked.Key is not { } key) return (unlocked.Error ?? VaultUnlockError.WrongPassphrase, unlocked.Message);
        using (key)
        {
            return key.TryDeriveSubkey(purpose, destination)
                ? (null, "derived")
                : (VaultUnlockError.WrongPassphrase, "the key could not be derived");
        }
    }
}
