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
