using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// The temporary files behind atomic writes (a temp file beside the target, renamed over it), and what each
/// rename replaced. <see cref="Watches"/> uses it so a watching agent sees its write as one <c>create</c> or
/// <c>modify</c> of the file it named, never the worker's temp file.
/// </summary>
internal sealed class AtomicWrites
{
    private const string Marker = ".kruxos-";
    private const string Suffix = ".tmp";
    private const int HexLength = 12;

    /// <summary>How long a rename's "did the target exist" answer is kept for watchers that see it late.</summary>
    public static readonly TimeSpan Memory = TimeSpan.FromMinutes(1);

    private const int MaxRemembered = 4096;
    private readonly ConcurrentDictionary<string, (bool Replaced, long At)> _renames = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock;

    public AtomicWrites(TimeProvider? clock = null) => _clock = clock ?? TimeProvider.System;

    /// <summary>A fresh temp name for <paramref name="target"/> (a file name, no directory).</summary>
    public static string TempNameFor(string target) =>
        $".{target}{Marker}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(HexLength / 2))}{Suffix}";

    /// <summary>Whether <paramref name="fileName"/> is a temp name made by <see cref="TempNameFor"/>.</summary>
    public static bool IsTempName(string fileName)
    {
        if (fileName.Length < 1 + 1 + Marker.Length + HexLength + Suffix.Length || fileName[0] != '.' || !fileName.EndsWith(Suffix, StringComparison.Ordinal))
            return false;
        var hexStart = fileName.Length - Suffix.Length - HexLength;
        if (string.CompareOrdinal(fileName, hexStart - Marker.Length, Marker, 0, Marker.Length) != 0) return false;
        for (var i = hexStart; i < hexStart + HexLength; i++)
            if (!char.IsAsciiHexDigitLower(fileName[i]) && !char.IsAsciiDigit(fileName[i])) return false;
        return true;
    }

    /// <summary>Records, just before the rename, whether the temp file at <paramref name="tempPath"/> is replacing an existing target.</summary>
    public void Renaming(string tempPath, bool replacesExisting)
    {
        var now = _clock.GetTimestamp();
        if (_renames.Count >= MaxRemembered)
        {
            foreach (var (key, value) in _renames)
                if (_clock.GetElapsedTime(value.At, now) > Memory) _renames.TryRemove(key, out _);
        }
        _renames[tempPath] = (replacesExisting, now);
    }

    /// <summary>Whether the rename from <paramref name="tempPath"/> replaced an existing file (false when unknown: a new file).</summary>
    public bool Replaced(string tempPath) => _renames.TryGetValue(tempPath, out var r) && r.Replaced;
}
