using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Vault;

/// <summary>
/// The fixed facts of the vault's storage format (ADR 0033). The journal holds only what is defined here:
/// KDF parameters and salt, the verifier, and per record a nonce and an AES-256-GCM ciphertext whose associated
/// data binds it to the record's identity and scope.
/// </summary>
public static class VaultFormat
{
    /// <summary>The record cipher.</summary>
    public const string Cipher = "aes-256-gcm";
    /// <summary>AES-GCM nonce length: 96 bits.</summary>
    public const int NonceBytes = 12;
    /// <summary>AES-GCM tag length: 128 bits (appended to each ciphertext).</summary>
    public const int TagBytes = 16;
    /// <summary>Master key length: 256 bits.</summary>
    public const int KeyBytes = 32;
    /// <summary>KDF salt length: 128 bits.</summary>
    public const int SaltBytes = 16;
    /// <summary>
    /// The shortest secret value. Shorter values could not be told apart from ordinary text in a response, so the
    /// scrubber could not redact them without redacting everything.
    /// </summary>
    public const int MinValueBytes = 8;
    /// <summary>The longest secret value.</summary>
    public const int MaxValueBytes = 16 * 1024;
    /// <summary>The most entries in <c>allowed_capabilities</c> or <c>allowed_hosts</c>.</summary>
    public const int MaxListEntries = 64;

    /// <summary>The known plaintext sealed at initialisation and opened at unlock to check the passphrase.</summary>
    public static ReadOnlySpan<byte> VerifierPlaintext => "kruxos vault verifier v1: the passphrase is right"u8;

    /// <summary>Associated data of the verifier (domain separation from records).</summary>
    public static ReadOnlySpan<byte> VerifierAssociatedData => "kruxos.vault.verifier.v1"u8;

    /// <summary>
    /// The associated data of a record's ciphertext: a length-prefixed encoding of a domain label, the name, the
    /// version, the type and both allowlists. A ciphertext therefore opens only as the record it was sealed for:
    /// moving it to another name or version, or widening its scope in the journal, makes it fail authentication.
    /// </summary>
    public static byte[] RecordAssociatedData(SecretName name, int version, SecretType type,
        ImmutableArray<string> allowedCapabilities, ImmutableArray<string> allowedHosts)
    {
        using var stream = new MemoryStream();
        Field(stream, "kruxos.vault.record.v1");
        Field(stream, name.Value);
        Int(stream, version);
        Field(stream, type.ToWire());
        Int(stream, allowedCapabilities.IsDefault ? 0 : allowedCapabilities.Length);
        foreach (var c in allowedCapabilities.IsDefault ? [] : allowedCapabilities) Field(stream, c);
        Int(stream, allowedHosts.IsDefault ? 0 : allowedHosts.Length);
        foreach (var h in allowedHosts.IsDefault ? [] : allowedHosts) Field(stream, h);
        return stream.ToArray();
    }

    private static void Field(Stream s, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Int(s, bytes.Length);
        s.Write(bytes);
    }

    private static void Int(Stream s, int value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, value);
        s.Write(b);
    }
}

/// <summary>The kinds of secret (spec §10.2).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SecretType>))]
public enum SecretType
{
    /// <summary><c>api_key</c>: operator-addable.</summary>
    [JsonStringEnumMemberName("api_key")] ApiKey,
    /// <summary><c>oauth_token</c>: operator-addable; also stored by service adapters.</summary>
    [JsonStringEnumMemberName("oauth_token")] OauthToken,
    /// <summary><c>agent_auth_token</c>: stored by the gateway only.</summary>
    [JsonStringEnumMemberName("agent_auth_token")] AgentAuthToken,
    /// <summary><c>encryption_key</c>: stored by the gateway only.</summary>
    [JsonStringEnumMemberName("encryption_key")] EncryptionKey,
}

/// <summary>Wire names of <see cref="SecretType"/>.</summary>
public static class SecretTypes
{
    /// <summary><c>api_key</c>, <c>oauth_token</c>, <c>agent_auth_token</c>, <c>encryption_key</c>.</summary>
    public static string ToWire(this SecretType type) => type switch
    {
        SecretType.ApiKey => "api_key",
        SecretType.OauthToken => "oauth_token",
        SecretType.AgentAuthToken => "agent_auth_token",
        _ => "encryption_key",
    };

    /// <summary>Parses a wire name.</summary>
    public static bool TryParse(string? text, out SecretType type)
    {
        foreach (var t in Enum.GetValues<SecretType>())
            if (t.ToWire() == text) { type = t; return true; }
        type = default;
        return false;
    }

    /// <summary>The types an operator may add (spec §10.2); the others are written by the gateway's components.</summary>
    public static bool IsOperatorAddable(this SecretType type) => type is SecretType.ApiKey or SecretType.OauthToken;
}

/// <summary>
/// Immutable bytes that travel as base64 (nonces, ciphertexts, salts). Compared by content. Never holds a
/// plaintext secret: the vault's events and state hold nothing else.
/// </summary>
[JsonConverter(typeof(VaultBytesJsonConverter))]
public readonly struct VaultBytes : IEquatable<VaultBytes>
{
    private readonly ImmutableArray<byte> _bytes;

    /// <summary>Copies the bytes.</summary>
    public VaultBytes(ReadOnlySpan<byte> bytes) => _bytes = [.. bytes];

    /// <summary>The bytes.</summary>
    public ReadOnlySpan<byte> Span => _bytes.IsDefault ? [] : _bytes.AsSpan();

    /// <summary>The number of bytes.</summary>
    public int Length => _bytes.IsDefault ? 0 : _bytes.Length;

    /// <summary>Base64 text.</summary>
    public string ToBase64() => Convert.ToBase64String(Span);

    /// <inheritdoc />
    public bool Equals(VaultBytes other) => Span.SequenceEqual(other.Span);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is VaultBytes b && Equals(b);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(Span);
        return h.ToHashCode();
    }

    /// <summary>Content equality.</summary>
    public static bool operator ==(VaultBytes a, VaultBytes b) => a.Equals(b);

    /// <summary>Content inequality.</summary>
    public static bool operator !=(VaultBytes a, VaultBytes b) => !a.Equals(b);

    /// <inheritdoc />
    public override string ToString() => $"VaultBytes({Length} bytes)";
}

/// <summary>Reads and writes <see cref="VaultBytes"/> as base64.</summary>
public sealed class VaultBytesJsonConverter : JsonConverter<VaultBytes>
{
    /// <inheritdoc />
    public override VaultBytes Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        new(reader.GetBytesFromBase64());

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, VaultBytes value, JsonSerializerOptions options) => writer.WriteBase64StringValue(value.Span);
}

/// <summary>A sealed value: the random nonce and the AES-256-GCM ciphertext with its tag appended.</summary>
[WireName("vault.sealed.v1")]
public sealed record SealedValue(VaultBytes Nonce, VaultBytes Ciphertext) : IKruxMessage
{
    /// <summary>Why the shape is wrong for a value of <paramref name="minPlain"/>..<paramref name="maxPlain"/> bytes, or null.</summary>
    public string? ShapeError(int minPlain, int maxPlain) =>
        Nonce.Length != VaultFormat.NonceBytes ? $"the nonce must be {VaultFormat.NonceBytes} bytes"
        : Ciphertext.Length < minPlain + VaultFormat.TagBytes || Ciphertext.Length > maxPlain + VaultFormat.TagBytes
            ? $"the value must be {minPlain} to {maxPlain} bytes"
            : null;
}

/// <summary>
/// The key derivation parameters, stored with the vault so it stays openable if the defaults change
/// (ADR 0033: Argon2id v1.3, 64 MiB, 3 passes; one lane, the only degree of parallelism libsodium offers).
/// </summary>
[WireName("vault.kdf.v1")]
public sealed record VaultKdf(string Algorithm, int Version, int MemoryKiB, int Iterations, int Parallelism, int KeyLength, VaultBytes Salt) : IKruxMessage
{
    /// <summary>Argon2id.</summary>
    public const string Argon2id = "argon2id";

    /// <summary>The parameters used for a new vault.</summary>
    public static VaultKdf Default(VaultBytes salt) => new(Argon2id, 0x13, 64 * 1024, 3, 1, VaultFormat.KeyBytes, salt);

    /// <summary>
    /// Why these parameters are refused, or null. Bounds keep a tampered journal from asking for gigabytes of
    /// memory or hours of work at unlock, and from weakening the derivation below the defaults.
    /// </summary>
    public string? Error() =>
        Algorithm != Argon2id ? $"unsupported key derivation '{Algorithm}'"
        : Version != 0x13 ? "unsupported Argon2 version"
        : MemoryKiB is < 64 * 1024 or > 1024 * 1024 ? "Argon2id memory must be 64 MiB to 1 GiB"
        : Iterations is < 3 or > 16 ? "Argon2id iterations must be 3 to 16"
        : Parallelism != 1 ? "Argon2id parallelism must be 1 (libsodium)"
        : KeyLength != VaultFormat.KeyBytes ? $"the key must be {VaultFormat.KeyBytes} bytes"
        : Salt.Length != VaultFormat.SaltBytes ? $"the salt must be {VaultFormat.SaltBytes} bytes"
        : null;
}

/// <summary>What an initialised vault holds besides its records.</summary>
/// <param name="Kdf">How the master key is derived from the passphrase.</param>
/// <param name="Cipher">The record cipher (<see cref="VaultFormat.Cipher"/>).</param>
/// <param name="Verifier">The known plaintext sealed under the master key.</param>
/// <param name="InitializedAt">When the vault was initialised.</param>
[WireName("vault.header.v1")]
public sealed record VaultHeader(VaultKdf Kdf, string Cipher, SealedValue Verifier, DateTimeOffset InitializedAt) : IKruxMessage
{
    /// <summary>Why the header is refused, or null.</summary>
    public string? Error() =>
        Kdf.Error() ?? (Cipher != VaultFormat.Cipher ? $"unsupported cipher '{Cipher}'"
            : Verifier.ShapeError(VaultFormat.VerifierPlaintext.Length, VaultFormat.VerifierPlaintext.Length));
}
