using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KruxOS.Vault;

/// <summary>
/// A pinned buffer for plaintext secrets (a decrypted value, a passphrase's bytes, scrubber patterns). The GC
/// never moves it, so no stale copy is left behind by compaction, and <see cref="Dispose"/> zeroes it.
/// </summary>
internal sealed class SecretBytes : IDisposable
{
    private readonly byte[] _buffer;
    private bool _disposed;

    public SecretBytes(int length)
    {
        _buffer = GC.AllocateArray<byte>(Math.Max(length, 1), pinned: true);
        Length = length;
    }

    public int Length { get; }

    public ReadOnlyMemory<byte> Memory => _disposed ? throw new ObjectDisposedException(nameof(SecretBytes)) : _buffer.AsMemory(0, Length);

    public Span<byte> Span => _disposed ? throw new ObjectDisposedException(nameof(SecretBytes)) : _buffer.AsSpan(0, Length);

    public void Dispose()
    {
        if (_disposed) return;
        CryptographicOperations.ZeroMemory(_buffer);
        _disposed = true;
    }

    public override string ToString() => $"SecretBytes({Length} bytes)";
}

/// <summary>
/// Refuses to write or read a type as JSON: attached to every type that holds key material or a plaintext value, so
/// an accidental serialisation (a log template, an actor message, an HTTP response) throws instead of leaking it.
/// </summary>
public sealed class NeverSerializeConverter<T> : JsonConverter<T>
{
    /// <inheritdoc />
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException($"{typeof(T).Name} is never deserialised");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
        throw new NotSupportedException($"{typeof(T).Name} holds secret material and is never serialised");
}

/// <summary>The vault is locked (the key was disposed), or was never unlocked on this node.</summary>
public sealed class VaultLockedException() : InvalidOperationException("the vault is locked");
