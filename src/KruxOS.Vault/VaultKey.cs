using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Geralt;
using KruxOS.Core.Vault;

namespace KruxOS.Vault;

/// <summary>
/// The vault's master key, held in libsodium guarded memory: a page of its own, locked against swapping, fenced by
/// guard pages and a canary, and kept <c>PROT_NONE</c> except for the microseconds of each seal or open. Nothing
/// reads it out: the class offers sealing and opening, not the bytes. <see cref="Dispose"/> (the vault locking, or
/// the process ending) zeroes and frees it; every later use throws <see cref="VaultLockedException"/>. It has no
/// readable <c>ToString</c> and refuses JSON serialisation.
/// </summary>
[JsonConverter(typeof(NeverSerializeConverter<VaultKey>))]
public sealed class VaultKey : IDisposable
{
    private readonly Lock _gate = new();
    private GuardedHeapAllocation? _memory;

    private VaultKey(GuardedHeapAllocation memory) => _memory = memory;

    /// <summary>True until the key is disposed.</summary>
    public bool IsUnlocked
    {
        get { lock (_gate) return _memory is not null; }
    }

    /// <summary>
    /// Derives the key from a passphrase (Argon2id with <paramref name="kdf"/>). Takes about half a second and
    /// 64 MiB: call it off any actor thread. The passphrase bytes are zeroed afterwards.
    /// </summary>
    internal static VaultKey Derive(VaultKdf kdf, ReadOnlySpan<char> passphrase)
    {
        if (kdf.Error() is { } error) throw new ArgumentException(error, nameof(kdf));
        using var password = PassphraseRules.ToUtf8(passphrase);
        var memory = new GuardedHeapAllocation(VaultFormat.KeyBytes);
        try
        {
            Argon2id.DeriveKey(memory.AsSpan(), password.Span, kdf.Salt.Span, kdf.Iterations, kdf.MemoryKiB * 1024);
            memory.NoAccess();
            return new VaultKey(memory);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>A key from raw bytes, for tests of the cipher alone.</summary>
    internal static VaultKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length != VaultFormat.KeyBytes) throw new ArgumentException($"the key must be {VaultFormat.KeyBytes} bytes", nameof(key));
        var memory = new GuardedHeapAllocation(VaultFormat.KeyBytes);
        key.CopyTo(memory.AsSpan());
        memory.NoAccess();
        return new VaultKey(memory);
    }

    /// <summary>Seals <paramref name="plaintext"/> with a fresh random 96-bit nonce under <paramref name="associatedData"/>.</summary>
    public SealedValue Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        Span<byte> nonce = stackalloc byte[VaultFormat.NonceBytes];
        RandomNumberGenerator.Fill(nonce);
        var ciphertext = new byte[plaintext.Length + VaultFormat.TagBytes];
        lock (_gate)
        {
            var memory = _memory ?? throw new VaultLockedException();
            memory.ReadOnly();
            try
            {
                using var aes = new AesGcm(memory.AsSpan(), VaultFormat.TagBytes);
                aes.Encrypt(nonce, plaintext, ciphertext.AsSpan(0, plaintext.Length), ciphertext.AsSpan(plaintext.Length), associatedData);
            }
            finally { memory.NoAccess(); }
        }
        return new SealedValue(new VaultBytes(nonce), new VaultBytes(ciphertext));
    }

    /// <summary>
    /// Opens a sealed value into a pinned buffer the caller disposes; null when authentication fails (wrong key,
    /// tampered ciphertext or nonce, or associated data of another record).
    /// </summary>
    internal SecretBytes? Open(SealedValue sealedValue, ReadOnlySpan<byte> associatedData)
    {
        var ciphertext = sealedValue.Ciphertext.Span;
        if (sealedValue.Nonce.Length != VaultFormat.NonceBytes || ciphertext.Length < VaultFormat.TagBytes) return null;
        var plain = new SecretBytes(ciphertext.Length - VaultFormat.TagBytes);
        try
        {
            lock (_gate)
            {
                var memory = _memory ?? throw new VaultLockedException();
                memory.ReadOnly();
                try
                {
                    using var aes = new AesGcm(memory.AsSpan(), VaultFormat.TagBytes);
                    aes.Decrypt(sealedValue.Nonce.Span, ciphertext[..plain.Length], ciphertext[plain.Length..], plain.Span, associatedData);
                }
                finally { memory.NoAccess(); }
            }
            return plain;
        }
        catch (AuthenticationTagMismatchException)
        {
            plain.Dispose();
            return null;
        }
        catch
        {
            plain.Dispose();
            throw;
        }
    }

    /// <summary>The longest purpose <see cref="TryDeriveSubkey"/> accepts.</summary>
    public const int MaxPurposeLength = 64;

    /// <summary>The HKDF <c>info</c> prefix of derived keys; the purpose follows it.</summary>
    public const string SubkeyInfoPrefix = "kruxos.vault.subkey.v1/";

    /// <summary>
    /// Derives a key for an internal purpose (e.g. <c>backup</c>): HKDF-SHA256 (RFC 5869) with the master key as input
    /// keying material, no salt, and <see cref="SubkeyInfoPrefix"/> + <paramref name="purpose"/> as info, so each purpose
    /// gets an independent key and none of them reveals the master key or another purpose's key. False when the key is
    /// locked. <paramref name="purpose"/> is a short lower-case identifier (<see cref="PurposeError"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The purpose is malformed or <paramref name="destination"/> is not 16 to 64 bytes.</exception>
    public bool TryDeriveSubkey(string purpose, Span<byte> destination)
    {
        if (PurposeError(purpose) is { } error) throw new ArgumentException(error, nameof(purpose));
        if (destination.Length is < 16 or > 64) throw new ArgumentException("a derived key is 16 to 64 bytes", nameof(destination));
        var info = System.Text.Encoding.ASCII.GetBytes(SubkeyInfoPrefix + purpose);
        lock (_gate)
        {
            if (_memory is not { } memory)
            {
                destination.Clear();
                return false;
            }
            memory.ReadOnly();
            try { HKDF.DeriveKey(HashAlgorithmName.SHA256, memory.AsSpan(), destination, [], info); }
            finally { memory.NoAccess(); }
        }
        return true;
    }

    /// <summary>Why <paramref name="purpose"/> is not a valid purpose (1 to 64 of <c>[a-z0-9._-]</c>, starting with a letter), or null.</summary>
    public static string? PurposeError(string? purpose)
    {
        if (string.IsNullOrEmpty(purpose) || purpose.Length > MaxPurposeLength) return $"a purpose is 1 to {MaxPurposeLength} characters";
        if (purpose[0] is < 'a' or > 'z') return "a purpose starts with a lower-case letter";
        foreach (var c in purpose)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-')) return "a purpose holds only a-z, 0-9, '.', '_' and '-'";
        return null;
    }

    /// <summary>Zeroes and frees the key (the vault locks). Waits for a seal or open in progress.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_memory is not { } memory) return;
            memory.ReadWrite();
            SecureMemory.ZeroMemory(memory.AsSpan());
            memory.Dispose();
            _memory = null;
        }
    }

    /// <summary>Says whether the key is held, never what it is.</summary>
    public override string ToString() => IsUnlocked ? "VaultKey(unlocked)" : "VaultKey(locked)";
}
