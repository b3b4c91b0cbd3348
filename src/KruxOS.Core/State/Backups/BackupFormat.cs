using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using KruxOS.Core.Vault;

namespace KruxOS.Core.State.Backups;

/// <summary>
/// The readable header of a backup file (ADR 0042). Everything in it is authenticated: its bytes are bound into every
/// chunk's associated data. It carries what is needed to derive the key again in a fresh data directory with the same
/// vault passphrase (the vault's KDF parameters, salt and verifier) — never a key.
/// </summary>
/// <param name="Format"><see cref="BackupFormat.FormatName"/>.</param>
/// <param name="FormatVersion"><see cref="BackupFormat.Version"/>.</param>
/// <param name="BackupId">The id, which is also the file name: a renamed file is refused.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="Scope"><c>full</c> or <c>agent:&lt;name&gt;</c>.</param>
/// <param name="Agents">The agents whose persistent state it holds.</param>
/// <param name="Shared">True when it holds shared state (full backups).</param>
/// <param name="Cipher"><see cref="BackupFormat.CipherName"/>.</param>
/// <param name="ChunkBytes">Plaintext bytes per sealed chunk (the last may be shorter).</param>
/// <param name="PlaintextBytes">Total plaintext bytes.</param>
/// <param name="FileSalt">Random per file: the file key is HKDF(backup key, this salt, id).</param>
/// <param name="Vault">The vault header the backup key comes from (KDF parameters, salt, verifier).</param>
[WireName("state.backup.header.v1")]
public sealed record BackupHeader(
    string Format, int FormatVersion, string BackupId, DateTimeOffset CreatedAt, string Scope, ImmutableArray<string> Agents, bool Shared,
    string Cipher, int ChunkBytes, long PlaintextBytes, VaultBytes FileSalt, VaultHeader Vault) : IKruxMessage
{
    /// <summary>Why this header is refused (read back from a file: untrusted until the chunks authenticate), or null.</summary>
    public string? Error()
    {
        if (Format != BackupFormat.FormatName) return "it is not a KruxOS backup";
        if (FormatVersion != BackupFormat.Version) return $"format version {FormatVersion} is not supported";
        if (!BackupIds.TryParse(BackupId, out _)) return "its header holds no valid backup id";
        if (!BackupScope.TryParse(Scope, out var scope)) return "its header holds no valid scope";
        if (Agents.IsDefault || Agents.Length > BackupFormat.MaxAgents || Agents.Any(a => !AgentName.TryParse(a, out _, out _)))
            return "its header holds an invalid agent list";
        if (!scope.IsFull && (Shared || Agents.Length != 1 || Agents[0] != scope.Agent!.Value.Value)) return "its header's scope and contents disagree";
        if (Cipher != BackupFormat.CipherName) return $"cipher '{Cipher}' is not supported";
        if (ChunkBytes is < BackupFormat.MinChunkBytes or > BackupFormat.MaxChunkBytes) return "its chunk size is out of range";
        if (PlaintextBytes is < 0 or > BackupFormat.MaxPlaintextBytes) return "its size is out of range";
        if (FileSalt.Length != BackupFormat.SaltBytes) return "its salt has the wrong size";
        if (Vault is null || Vault.Kdf is null || Vault.Verifier is null) return "its header holds no vault parameters";
        return Vault.Error() is { } vault ? "its vault parameters are refused: " + vault : null;
    }
}

/// <summary>
/// The backup file format (ADR 0042): <c>magic | u32 header length | header JSON | chunks</c>, each chunk
/// <c>u32 plaintext length | AES-256-GCM ciphertext | 16-byte tag</c>. The file key is HKDF-SHA256 of the backup key (the
/// vault's <c>backup</c> subkey) with the file's random salt and the backup id as info; chunk <c>i</c> uses nonce <c>i</c> and
/// associated data <c>SHA-256(magic|length|header) | i | last?</c>, so a changed header, a reordered, dropped, appended or
/// altered chunk, a truncated file and a file renamed to another id all fail to authenticate.
/// </summary>
public static class BackupFormat
{
    /// <summary>The header's <c>format</c>.</summary>
    public const string FormatName = "kruxos.backup";

    /// <summary>The format version.</summary>
    public const int Version = 1;

    /// <summary>The contents' format version.</summary>
    public const int ContentsVersion = 1;

    /// <summary>The header's <c>cipher</c>.</summary>
    public const string CipherName = "aes-256-gcm-chunked";

    /// <summary>The vault subkey purpose (<c>ISecretAccess.TryDeriveKey</c>).</summary>
    public const string KeyPurpose = "backup";

    /// <summary>Key, salt, nonce and tag sizes.</summary>
    public const int KeyBytes = 32, SaltBytes = 32, NonceBytes = 12, TagBytes = 16;

    /// <summary>Chunk size bounds and the default (1 MiB).</summary>
    public const int MinChunkBytes = 4096, MaxChunkBytes = 8 * 1024 * 1024, DefaultChunkBytes = 1024 * 1024;

    /// <summary>Largest header (bytes).</summary>
    public const int MaxHeaderBytes = 256 * 1024;

    /// <summary>Most agents listed in a header.</summary>
    public const int MaxAgents = 4096;

    /// <summary>Largest plaintext a file may declare; a restore holds it in memory (1 GiB).</summary>
    public const long MaxPlaintextBytes = 1024L * 1024 * 1024;

    /// <summary>The file extension.</summary>
    public const string Extension = ".kbak";

    private static readonly byte[] Magic = "KRXBAK\r\n"u8.ToArray();
    private const string FileKeyInfo = "kruxos.backup.file.v1/";

    /// <summary>The header for a new backup of <paramref name="plaintextBytes"/> bytes with a fresh random salt.</summary>
    public static BackupHeader NewHeader(string backupId, DateTimeOffset createdAt, BackupScope scope, IEnumerable<AgentName> agents, long plaintextBytes,
        VaultHeader vault, int chunkBytes = DefaultChunkBytes) =>
        new(FormatName, Version, backupId, createdAt, scope.ToString(), [.. agents.Select(a => a.Value).Order(StringComparer.Ordinal)], scope.IsFull,
            CipherName, chunkBytes, plaintextBytes, new VaultBytes(RandomNumberGenerator.GetBytes(SaltBytes)), vault);

    /// <summary>
    /// Writes a backup file: the header, then <paramref name="plaintext"/> sealed in chunks with the file key derived from
    /// <paramref name="backupKey"/>. The caller writes to a temporary file and renames it.
    /// </summary>
    public static void Write(Stream output, BackupHeader header, ReadOnlySpan<byte> backupKey, ReadOnlySpan<byte> plaintext)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(header);
        if (header.Error() is { } bad) throw new ArgumentException(bad, nameof(header));
        if (header.PlaintextBytes != plaintext.Length) throw new ArgumentException("the header's size differs from the plaintext", nameof(header));
        if (backupKey.Length != KeyBytes) throw new ArgumentException($"the backup key is {KeyBytes} bytes", nameof(backupKey));
        var prefix = Prefix(header);
        output.Write(prefix);
        var headerHash = SHA256.HashData(prefix);
        Span<byte> fileKey = stackalloc byte[KeyBytes];
        try
        {
            DeriveFileKey(backupKey, header, fileKey);
            using var aes = new AesGcm(fileKey, TagBytes);
            var chunks = ChunkCount(header);
            var cipher = new byte[4 + Math.Min(header.ChunkBytes, Math.Max(plaintext.Length, 0)) + TagBytes];
            Span<byte> nonce = stackalloc byte[NonceBytes];
            Span<byte> aad = stackalloc byte[32 + 8 + 1];
            for (long i = 0; i < chunks; i++)
            {
                var start = (int)(i * header.ChunkBytes);
                var length = (int)Math.Min(header.ChunkBytes, plaintext.Length - start);
                Fill(nonce, aad, headerHash, i, i == chunks - 1);
                var frame = cipher.AsSpan(0, 4 + length + TagBytes);
                BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)length);
                aes.Encrypt(nonce, plaintext.Slice(start, length), frame.Slice(4, length), frame.Slice(4 + length, TagBytes), aad);
                output.Write(frame);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
    }

    /// <summary>
    /// Reads the header only (listing, choosing a key). Not authenticated yet: <see cref="Open"/> authenticates it with
    /// the chunks. The error is a reason for <c>DecryptionFailed</c>.
    /// </summary>
    public static (BackupHeader? Header, string? Error) ReadHeader(Stream input)
    {
        var (header, _, error) = ReadPrefix(input);
        return (header, error);
    }

    // The header and the exact bytes it was read from (magic, length, JSON): those bytes are what the chunks authenticate.
    private static (BackupHeader? Header, byte[]? Prefix, string? Error) ReadPrefix(Stream input)
    {
        ArgumentNullException.ThrowIfNull(input);
        try
        {
            Span<byte> fixedPart = stackalloc byte[Magic.Length + 4];
            if (!TryReadExactly(input, fixedPart) || !fixedPart[..Magic.Length].SequenceEqual(Magic)) return (null, null, "it is not a KruxOS backup file");
            var length = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[Magic.Length..]);
            if (length is 0 or > MaxHeaderBytes) return (null, null, "its header length is out of range");
            var prefix = new byte[fixedPart.Length + length];
            fixedPart.CopyTo(prefix);
            if (!TryReadExactly(input, prefix.AsSpan(fixedPart.Length))) return (null, null, "it is truncated");
            var header = JsonSerializer.Deserialize<BackupHeader>(prefix.AsSpan(fixedPart.Length), CoreJson.Options);
            if (header is null) return (null, null, "its header is empty");
            return header.Error() is { } bad ? (null, null, bad) : (header, prefix, null);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or FormatException or InvalidOperationException)
        {
            return (null, null, "its header is not valid");
        }
    }

    /// <summary>
    /// Opens a backup file: reads the header, checks it names <paramref name="expectedId"/>, derives the file key and
    /// authenticates every chunk. Returns the plaintext only when the whole file authenticated and nothing follows the
    /// last chunk; otherwise the reason (for <c>DecryptionFailed</c>) and no plaintext at all.
    /// </summary>
    public static (BackupHeader? Header, byte[]? Plaintext, string? Error) Open(Stream input, string expectedId, ReadOnlySpan<byte> backupKey)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (backupKey.Length != KeyBytes) throw new ArgumentException($"the backup key is {KeyBytes} bytes", nameof(backupKey));
        var (header, prefix, error) = ReadPrefix(input);
        if (header is null || prefix is null) return (null, null, error);
        if (!string.Equals(header.BackupId, expectedId, StringComparison.Ordinal)) return (header, null, "its header names another backup id (the file was renamed)");
        var headerHash = SHA256.HashData(prefix);
        var plaintext = new byte[header.PlaintextBytes];
        Span<byte> fileKey = stackalloc byte[KeyBytes];
        try
        {
            DeriveFileKey(backupKey, header, fileKey);
            using var aes = new AesGcm(fileKey, TagBytes);
            var chunks = ChunkCount(header);
            var frame = new byte[header.ChunkBytes + TagBytes];
            Span<byte> lengthBytes = stackalloc byte[4];
            Span<byte> nonce = stackalloc byte[NonceBytes];
            Span<byte> aad = stackalloc byte[32 + 8 + 1];
            for (long i = 0; i < chunks; i++)
            {
                var start = i * header.ChunkBytes;
                var expected = (int)Math.Min(header.ChunkBytes, header.PlaintextBytes - start);
                if (!TryReadExactly(input, lengthBytes)) return Refused(header, plaintext, "it is truncated");
                if (BinaryPrimitives.ReadUInt32BigEndian(lengthBytes) != (uint)expected) return Refused(header, plaintext, "a chunk has the wrong length");
                var sealedChunk = frame.AsSpan(0, expected + TagBytes);
                if (!TryReadExactly(input, sealedChunk)) return Refused(header, plaintext, "it is truncated");
                Fill(nonce, aad, headerHash, i, i == chunks - 1);
                try
                {
                    aes.Decrypt(nonce, sealedChunk[..expected], sealedChunk[expected..], plaintext.AsSpan((int)start, expected), aad);
                }
                catch (AuthenticationTagMismatchException)
                {
                    return Refused(header, plaintext, "it does not authenticate (altered, or made under another vault key)");
                }
            }
            if (input.ReadByte() >= 0) return Refused(header, plaintext, "data follows its last chunk");
            return (header, plaintext, null);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
    }

    /// <summary>Reads decrypted contents (after <see cref="Open"/> succeeded); the error is a reason for <c>DecryptionFailed</c>.</summary>
    public static (BackupContents? Contents, string? Error) ReadContents(BackupHeader header, byte[] plaintext)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(plaintext);
        try
        {
            var contents = JsonSerializer.Deserialize<BackupContents>(plaintext, CoreJson.Options);
            if (contents is null) return (null, "its contents are empty");
            if (contents.Error() is { } bad) return (null, "its contents are invalid: " + bad);
            if (contents.Scope != header.Scope) return (null, "its contents and header disagree on the scope");
            var agents = (contents.Agents.IsDefault ? [] : contents.Agents).Select(a => a.Agent.Value).Order(StringComparer.Ordinal);
            if (!agents.SequenceEqual(header.Agents, StringComparer.Ordinal)) return (null, "its contents and header disagree on the agents");
            return (contents, null);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or FormatException or InvalidOperationException)
        {
            return (null, "its contents are not valid");
        }
    }

    /// <summary>The plaintext of <paramref name="contents"/>.</summary>
    public static byte[] Serialize(BackupContents contents) => JsonSerializer.SerializeToUtf8Bytes(contents, CoreJson.Options);

    /// <summary>True when both vault headers have the same KDF parameters and salt (the same passphrase then gives the same backup key).</summary>
    public static bool SameVault(VaultHeader a, VaultHeader b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.Kdf == b.Kdf && a.Verifier == b.Verifier;
    }

    private static (BackupHeader, byte[]?, string) Refused(BackupHeader header, byte[] partial, string reason)
    {
        CryptographicOperations.ZeroMemory(partial);
        return (header, null, reason);
    }

    private static long ChunkCount(BackupHeader header) =>
        Math.Max(1, (header.PlaintextBytes + header.ChunkBytes - 1) / header.ChunkBytes);

    private static byte[] Prefix(BackupHeader header)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(header, CoreJson.Options);
        if (json.Length > MaxHeaderBytes) throw new ArgumentException("the header is too large", nameof(header));
        var prefix = new byte[Magic.Length + 4 + json.Length];
        Magic.CopyTo(prefix, 0);
        BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(Magic.Length), (uint)json.Length);
        json.CopyTo(prefix, Magic.Length + 4);
        return prefix;
    }

    private static void DeriveFileKey(ReadOnlySpan<byte> backupKey, BackupHeader header, Span<byte> fileKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, backupKey, fileKey, header.FileSalt.Span, Encoding.ASCII.GetBytes(FileKeyInfo + header.BackupId));

    private static void Fill(Span<byte> nonce, Span<byte> aad, ReadOnlySpan<byte> headerHash, long index, bool last)
    {
        nonce.Clear();
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], index);
        headerHash.CopyTo(aad);
        BinaryPrimitives.WriteInt64BigEndian(aad[32..], index);
        aad[40] = last ? (byte)1 : (byte)0;
    }

    private static bool TryReadExactly(Stream input, Span<byte> buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = input.Read(buffer[read..]);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }
}
