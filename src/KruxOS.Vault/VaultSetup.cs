using System.Security.Cryptography;
using KruxOS.Core.Vault;

namespace KruxOS.Vault;

/// <summary>Why initialising or unlocking failed.</summary>
public enum VaultUnlockError
{
    /// <summary>A new passphrase does not meet <see cref="PassphraseRules"/>.</summary>
    WeakPassphrase,
    /// <summary>The passphrase does not open the vault (the verifier did not authenticate).</summary>
    WrongPassphrase,
    /// <summary>The stored header is unusable (unsupported or out-of-bounds parameters).</summary>
    InvalidHeader,
}

/// <summary>The result of initialising or unlocking: the key, or a typed error. The message never contains the passphrase.</summary>
public sealed record VaultUnlockResult(VaultKey? Key, VaultUnlockError? Error, string Message)
{
    /// <summary>True when a key was produced.</summary>
    public bool Succeeded => Key is not null;
}

/// <summary>
/// Initialisation and unlocking (ADR 0033). Both run Argon2id (about half a second, 64 MiB): call them off any actor
/// thread and pipe the result back.
/// </summary>
public static class VaultSetup
{
    /// <summary>
    /// Creates a vault: checks the passphrase rules, draws a random 128-bit salt, derives the key and seals the known
    /// plaintext as the verifier. Returns the key and the command that records the header.
    /// </summary>
    public static (VaultUnlockResult Result, VaultCommands.InitializeVault? Command) Initialize(ReadOnlySpan<char> passphrase, DateTimeOffset at)
    {
        if (PassphraseRules.Check(passphrase) is { } weak)
            return (new VaultUnlockResult(null, VaultUnlockError.WeakPassphrase, weak), null);
        var kdf = VaultKdf.Default(new VaultBytes(RandomNumberGenerator.GetBytes(VaultFormat.SaltBytes)));
        var key = VaultKey.Derive(kdf, passphrase);
        var verifier = key.Seal(VaultFormat.VerifierPlaintext, VaultFormat.VerifierAssociatedData);
        var header = new VaultHeader(kdf, VaultFormat.Cipher, verifier, at);
        return (new VaultUnlockResult(key, null, "initialised"), new VaultCommands.InitializeVault(header));
    }

    /// <summary>
    /// Unlocks an initialised vault: derives the key with the stored parameters and opens the verifier. A wrong
    /// passphrase is <see cref="VaultUnlockError.WrongPassphrase"/>, never a key that decrypts garbage.
    /// </summary>
    public static VaultUnlockResult Unlock(VaultHeader header, ReadOnlySpan<char> passphrase)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (header.Error() is { } invalid) return new VaultUnlockResult(null, VaultUnlockError.InvalidHeader, invalid);
        if (passphrase.Length is 0 or > PassphraseRules.MaxLength * 2)
            return new VaultUnlockResult(null, VaultUnlockError.WrongPassphrase, "the passphrase does not open this vault");
        var key = VaultKey.Derive(header.Kdf, passphrase);
        using var plain = key.Open(header.Verifier, VaultFormat.VerifierAssociatedData);
        if (plain is null || !CryptographicOperations.FixedTimeEquals(plain.Span, VaultFormat.VerifierPlaintext))
        {
            key.Dispose();
            return new VaultUnlockResult(null, VaultUnlockError.WrongPassphrase, "the passphrase does not open this vault");
        }
        return new VaultUnlockResult(key, null, "unlocked");
    }
}
