using System.Security.Cryptography;
using System.Text;

namespace KruxOS.Core.State.Shared;

/// <summary>
/// Shared state is split into <see cref="Count"/> partitions by a stable hash of the key; each partition is
/// one entity (persistence id <c>state-shared-{n}</c>), so a hot key serialises only the keys of its own
/// partition. The partition of a key is the first four bytes of the SHA-256 of its UTF-8 text, big-endian,
/// modulo <see cref="Count"/> — the same on every node, process and version (unlike
/// <see cref="string.GetHashCode()"/>, which is randomised per process).
/// </summary>
public static class SharedStatePartitions
{
    /// <summary>The number of partitions. Frozen: changing it moves keys to other entities (ADR 0035).</summary>
    public const int Count = 64;

    /// <summary>The persistence id prefix of a partition; never changes.</summary>
    public const string PersistenceIdPrefix = "state-shared-";

    /// <summary>The partition of <paramref name="key"/>.</summary>
    public static int Of(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var bytes = Encoding.UTF8.GetBytes(key);
        SHA256.HashData(bytes, hash);
        var h = ((uint)hash[0] << 24) | ((uint)hash[1] << 16) | ((uint)hash[2] << 8) | hash[3];
        return (int)(h % Count);
    }

    /// <summary>True for 0 … <see cref="Count"/> − 1.</summary>
    public static bool IsValid(int partition) => partition is >= 0 and < Count;

    /// <summary>The persistence id of a partition entity.</summary>
    public static string PersistenceId(int partition) =>
        IsValid(partition) ? PersistenceIdPrefix + partition : throw new ArgumentOutOfRangeException(nameof(partition));
}
