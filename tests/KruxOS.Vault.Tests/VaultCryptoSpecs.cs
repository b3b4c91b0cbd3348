using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Vault;
using Xunit;

namespace KruxOS.Vault.Tests;

/// <summary>The key derivation, the verifier, and AES-256-GCM records bound to their identity (ADR 0033).</summary>
public sealed class VaultCryptoSpecs
{
    private const string Passphrase = "correct horse battery staple";
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    // Shared across the class: each derivation costs ~0.5 s and 64 MiB.
    private static readonly Lazy<(VaultKey Key, VaultHeader Header)> Vault = new(() =>
    {
        var (result, command) = VaultSetup.Initialize(Passphrase, T0);
        Assert.True(result.Succeeded, result.Message);
        return (result.Key!, command!.Header);
    });

    // Known answer from the reference implementation (the PHC `argon2` tool, Debian package argon2):
    //   printf '%s' 'correct horse battery' | argon2 0123456789abcdef -id -t 3 -m 16 -p 1 -l 32 -r
    // It pins the algorithm (Argon2id v1.3), and that memory is 64 MiB (2^16 KiB) and 3 passes as stored.
    [Fact]
    public void Should_derive_the_key_as_the_reference_argon2id_implementation_does()
    {
        var kdf = VaultKdf.Default(new VaultBytes("0123456789abcdef"u8));
        using var key = VaultKey.Derive(kdf, "correct horse battery");
        using var expected = VaultKey.FromBytes(Convert.FromHexString("00bac562b407875296682e0b8043688e09be94fcea326e99aa62d0edb44404fc"));
        // Same key: what one seals, the other opens.
        var sealedValue = expected.Seal("probe value"u8, "aad"u8);
        using var opened = key.Open(sealedValue, "aad"u8);
        Assert.NotNull(opened);
        Assert.Equal("probe value"u8.ToArray(), opened.Span.ToArray());
    }

    [Fact]
    public void Should_initialise_with_the_documented_parameters_and_a_random_salt()
    {
        var header = Vault.Value.Header;
        Assert.Equal("argon2id", header.Kdf.Algorithm);
        Assert.Equal(0x13, header.Kdf.Version);
        Assert.Equal(64 * 1024, header.Kdf.MemoryKiB);
        Assert.Equal(3, header.Kdf.Iterations);
        Assert.Equal(1, header.Kdf.Parallelism);
        Assert.Equal(32, header.Kdf.KeyLength);
        Assert.Equal(16, header.Kdf.Salt.Length);
        Assert.Equal("aes-256-gcm", header.Cipher);
        Assert.Equal(12, header.Verifier.Nonce.Length);
        Assert.Null(header.Error());
    }

    [Fact]
    public void Should_unlock_with_the_right_passphrase()
    {
        var result = VaultSetup.Unlock(Vault.Value.Header, Passphrase);
        Assert.True(result.Succeeded, result.Message);
        using var key = result.Key!;
        var sealedValue = Vault.Value.Key.Seal("value-1234"u8, "x"u8);
        using var opened = key.Open(sealedValue, "x"u8);
        Assert.Equal("value-1234"u8.ToArray(), opened!.Span.ToArray());
    }

    [Fact]
    public void Should_unlock_with_the_same_passphrase_in_decomposed_unicode()
    {
        var (result, command) = VaultSetup.Initialize("Caf\u00e9 au lait, s'il vous pla\u00eet", T0);
        Assert.True(result.Succeeded, result.Message);
        result.Key!.Dispose();
        var decomposed = "Cafe\u0301 au lait, s'il vous plai\u0302t";
        Assert.True(VaultSetup.Unlock(command!.Header, decomposed).Succeeded);
    }

    // Adversarial: an operator (or anyone at the control socket) tries passphrases. A wrong one is a typed error, and
    // never a key that would decrypt records into garbage. Seen failing with the verifier check in Unlock removed.
    [Theory]
    [InlineData("correct horse battery stapl")]
    [InlineData("Correct horse battery staple")]
    [InlineData("correct horse battery staple ")]
    [InlineData("x")]
    [InlineData("")]
    public void Should_refuse_a_wrong_passphrase_with_a_typed_error(string wrong)
    {
        var result = VaultSetup.Unlock(Vault.Value.Header, wrong);
        Assert.False(result.Succeeded);
        Assert.Null(result.Key);
        Assert.Equal(VaultUnlockError.WrongPassphrase, result.Error);
        Assert.DoesNotContain(wrong.Length > 0 ? wrong : "\0", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_tampered_verifier_as_a_wrong_passphrase()
    {
        var header = Vault.Value.Header;
        var bytes = header.Verifier.Ciphertext.Span.ToArray();
        bytes[0] ^= 1;
        var tampered = header with { Verifier = header.Verifier with { Ciphertext = new VaultBytes(bytes) } };
        Assert.Equal(VaultUnlockError.WrongPassphrase, VaultSetup.Unlock(tampered, Passphrase).Error);
    }

    [Fact]
    public void Should_refuse_a_header_whose_parameters_are_out_of_bounds_before_deriving_anything()
    {
        var header = Vault.Value.Header;
        var huge = header with { Kdf = header.Kdf with { MemoryKiB = 4 * 1024 * 1024 } };
        Assert.Equal(VaultUnlockError.InvalidHeader, VaultSetup.Unlock(huge, Passphrase).Error);
        var weak = header with { Kdf = header.Kdf with { Iterations = 1 } };
        Assert.Equal(VaultUnlockError.InvalidHeader, VaultSetup.Unlock(weak, Passphrase).Error);
    }

    [Theory]
    [InlineData("short pass", "at least 12")]
    [InlineData("elevenchars", "at least 12")]
    [InlineData("twelve chars\n", "control character")]
    [InlineData("tab\tinside passphrase", "control character")]
    [InlineData(" leading space pass", "whitespace")]
    public void Should_refuse_weak_new_passphrases(string passphrase, string words)
    {
        var (result, command) = VaultSetup.Initialize(passphrase, T0);
        Assert.Equal(VaultUnlockError.WeakPassphrase, result.Error);
        Assert.Null(command);
        Assert.Contains(words, result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_count_characters_not_bytes_or_utf16_units()
    {
        Assert.Null(PassphraseRules.Check("twelve chars"));
        Assert.Null(PassphraseRules.Check("åååååååååååå"));          // 12 characters, 24 UTF-8 bytes
        Assert.NotNull(PassphraseRules.Check("😀😀😀😀😀😀"));             // 6 characters, 12 UTF-16 units
        Assert.NotNull(PassphraseRules.Check(new string('a', PassphraseRules.MaxLength + 1)));
    }

    // Adversarial: a record's ciphertext, nonce or tag is changed in the journal. GCM must refuse it.
    [Fact]
    public void Should_refuse_tampered_ciphertext_nonce_and_tag()
    {
        var key = Vault.Value.Key;
        var aad = "aad"u8.ToArray();
        var sealedValue = key.Seal("sk_live_0123456789"u8, aad);
        for (var i = 0; i < sealedValue.Ciphertext.Length; i++)
        {
            var bytes = sealedValue.Ciphertext.Span.ToArray();
            bytes[i] ^= 0x80;
            Assert.Null(key.Open(sealedValue with { Ciphertext = new VaultBytes(bytes) }, aad));
        }
        for (var i = 0; i < sealedValue.Nonce.Length; i++)
        {
            var nonce = sealedValue.Nonce.Span.ToArray();
            nonce[i] ^= 1;
            Assert.Null(key.Open(sealedValue with { Nonce = new VaultBytes(nonce) }, aad));
        }
        var truncated = sealedValue.Ciphertext.Span[..^1].ToArray();
        Assert.Null(key.Open(sealedValue with { Ciphertext = new VaultBytes(truncated) }, aad));
        Assert.Null(key.Open(sealedValue with { Ciphertext = new VaultBytes([1, 2, 3]) }, aad));
        using var ok = key.Open(sealedValue, aad);
        Assert.NotNull(ok);
    }

    // Adversarial: random nonces must never repeat. This would catch a constant or counter-reset nonce, or a broken
    // random source: 20,000 seals of the same plaintext give 20,000 distinct nonces and ciphertexts.
    [Fact]
    public void Should_use_a_fresh_nonce_for_every_seal()
    {
        var key = Vault.Value.Key;
        var nonces = new HashSet<VaultBytes>();
        var ciphertexts = new HashSet<VaultBytes>();
        for (var i = 0; i < 20_000; i++)
        {
            var s = key.Seal("the same value every time"u8, "same aad"u8);
            Assert.True(nonces.Add(s.Nonce), $"nonce repeated after {i} seals");
            Assert.True(ciphertexts.Add(s.Ciphertext), $"ciphertext repeated after {i} seals");
        }
    }

    [Fact]
    public void Should_not_open_with_another_vaults_key()
    {
        var (other, _) = VaultSetup.Initialize(Passphrase, T0); // same passphrase, another salt: another key
        using var otherKey = other.Key!;
        var sealedValue = Vault.Value.Key.Seal("value-1234"u8, "x"u8);
        Assert.Null(otherKey.Open(sealedValue, "x"u8));
    }

    [Fact]
    public void Should_fail_closed_after_the_key_is_disposed()
    {
        using var key = VaultKey.FromBytes(RandomNumberGenerator.GetBytes(32));
        var sealedValue = key.Seal("value-1234"u8, "x"u8);
        Assert.True(key.IsUnlocked);
        key.Dispose();
        key.Dispose(); // idempotent
        Assert.False(key.IsUnlocked);
        Assert.Throws<VaultLockedException>(() => key.Seal("v"u8, "x"u8));
        Assert.Throws<VaultLockedException>(() => key.Open(sealedValue, "x"u8));
    }

    [Fact]
    public async Task Should_survive_concurrent_use_and_a_lock_in_the_middle()
    {
        var key = VaultKey.FromBytes(RandomNumberGenerator.GetBytes(32));
        var sealedValue = key.Seal("value-1234"u8, "x"u8);
        int ok = 0, failed = 0, locked = 0;
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            // Each worker runs until it sees the lock (bounded), so the lock always lands mid-use.
            for (var i = 0; i < 10_000_000; i++)
            {
                try
                {
                    using var v = key.Open(sealedValue, "x"u8);
                    Interlocked.Increment(ref v is null ? ref failed : ref ok);
                }
                catch (VaultLockedException)
                {
                    Interlocked.Increment(ref locked);
                    return;
                }
            }
        })).ToArray();
        await Task.Delay(20, TestContext.Current.CancellationToken);
        key.Dispose();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        Assert.Equal(0, failed);
        Assert.Equal(4, locked);
    }

    [Fact]
    public void Should_never_print_or_serialise_the_key()
    {
        using var key = VaultKey.FromBytes(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        Assert.Equal("VaultKey(unlocked)", key.ToString());
        Assert.Equal("VaultKey(unlocked)", $"{key}");
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(key));
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(new { key }));
        // No readable member at all: the only public surface is IsUnlocked, Seal and Dispose.
        Assert.Equal(["IsUnlocked"], typeof(VaultKey).GetProperties().Select(p => p.Name));
        Assert.DoesNotContain(typeof(VaultKey).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance), _ => true);
        key.Dispose();
        Assert.Equal("VaultKey(locked)", key.ToString());
    }

    [Fact]
    public void Should_bind_the_verifier_to_its_own_associated_data()
    {
        var header = Vault.Value.Header;
        using var asRecord = Vault.Value.Key.Open(header.Verifier, "kruxos.vault.record.v1"u8);
        Assert.Null(asRecord);
        using var asVerifier = Vault.Value.Key.Open(header.Verifier, VaultFormat.VerifierAssociatedData);
        Assert.Equal(Encoding.UTF8.GetString(VaultFormat.VerifierPlaintext), Encoding.UTF8.GetString(asVerifier!.Span));
    }
}
