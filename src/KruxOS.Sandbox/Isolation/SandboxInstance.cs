using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KruxOS.Sandbox.Isolation;

/// <summary>A range of host uids (and the same gids): [<see cref="First"/>, <see cref="First"/> + <see cref="Count"/>).</summary>
internal readonly record struct UidRange(uint First, uint Count)
{
    public uint Last => First + Count - 1;
    public bool Overlaps(UidRange other) => First <= other.Last && other.First <= Last;
    public bool Contains(uint uid) => uid >= First && uid <= Last;
    public override string ToString() => $"{First.ToString(CultureInfo.InvariantCulture)}-{Last.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>One data directory's claim in the host-wide registry.</summary>
internal sealed record UidRangeClaim(
    [property: JsonPropertyName("instance")] string Instance,
    [property: JsonPropertyName("data_directory")] string DataDirectory,
    [property: JsonPropertyName("uid_first")] uint First,
    [property: JsonPropertyName("uid_count")] uint Count)
{
    [JsonIgnore] public UidRange Range => new(First, Count);
}

/// <summary>
/// The choice of a data directory's uid range, as a pure function of what is known: the ranges other data
/// directories hold, the ids the host already uses (accounts, groups, subordinate id ranges) and which
/// ranges live processes occupy.
/// </summary>
internal static class UidRangeAllocation
{
    /// <summary>The highest uid a range may reach (well below the 32-bit "no uid" value and its neighbours).</summary>
    public const uint Ceiling = 2_000_000_000;

    /// <summary>
    /// Keeps <paramref name="preferred"/> when it is free, else the first free range of <paramref name="count"/>
    /// uids at or above <paramref name="floor"/>, aligned to <paramref name="count"/> steps; null when none is.
    /// </summary>
    public static UidRange? Choose(UidRange? preferred, uint floor, uint count, IReadOnlyCollection<UidRange> taken,
        IReadOnlyCollection<UidRange> hostIds, Func<UidRange, bool> occupied)
    {
        if (count < 2) return null;
        bool Free(UidRange r) => r.Last <= Ceiling && r.First > 0 && !taken.Any(r.Overlaps) && !hostIds.Any(r.Overlaps) && !occupied(r);
        if (preferred is { } p && p.Count == count && Free(p)) return p;
        for (ulong first = floor; first + count - 1 <= Ceiling; first += count)
        {
            var candidate = new UidRange((uint)first, count);
            if (Free(candidate)) return candidate;
        }
        return null;
    }
}

/// <summary>
/// The identity of one data directory's sandboxes on this host (ADR 0019): a random instance id, persisted in
/// <c>&lt;data&gt;/sandbox/instance.json</c>, names its cgroup subtree (<c>&lt;CgroupName&gt;/&lt;id&gt;</c>), and its
/// host uid range is claimed in a host-wide registry under an exclusive lock, so two gateways on one host never
/// share a cgroup or a uid. A claim whose data directory is gone (or now belongs to another instance) and whose
/// range no process uses any more is released when the next claim is made.
/// </summary>
internal sealed record SandboxInstance(string Id, UidRange Uids, UidRange? PreviousUids)
{
    private const string FileName = "instance.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The uid the diagnostics probe runs as (the range's last; never given to an agent).</summary>
    public uint ProbeUid => Uids.Last;

    /// <summary>Agents' uids: the range without the probe's.</summary>
    public UidRange AgentUids => new(Uids.First, Uids.Count - 1);

    /// <summary>Where the instance file of a data directory lives.</summary>
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, "sandbox", FileName);

    /// <summary>
    /// Reads (or creates) the data directory's instance and claims its uid range in the registry. Throws
    /// <see cref="IOException"/> or <see cref="InvalidOperationException"/> with the reason when no range can be claimed.
    /// </summary>
    public static SandboxInstance Claim(SandboxOptions options, TimeSpan lockTimeout)
    {
        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        var file = PathIn(dataDirectory);
        var stored = Read(file);
        var id = stored?.Id ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        // An install from before instance scoping allocated agent uids from HostUidBase: that is its range.
        var legacy = stored is null && File.Exists(Path.Combine(dataDirectory, "sandbox", "uids.json"))
            ? new UidRange(options.HostUidBase, options.HostUidCount) : (UidRange?)null;
        var previous = stored?.Range ?? legacy;

        using var registry = UidRangeRegistry.Lock(options.UidRangeRegistry, lockTimeout);
        var claims = registry.Claims.Where(c => c.Instance == id || StillClaimed(c)).ToList();
        var mine = claims.FirstOrDefault(c => c.Instance == id);
        UidRange range;
        if (mine is not null && !claims.Any(c => c.Instance != id && c.Range.Overlaps(mine.Range))) range = mine.Range;
        else
        {
            var others = claims.Where(c => c.Instance != id).Select(c => c.Range).ToList();
            range = UidRangeAllocation.Choose(previous, options.HostUidBase, options.HostUidCount, others, HostIds(),
                r => HostProcesses.WithUidIn(r.First, r.Last).Count > 0)
                ?? throw new InvalidOperationException(
                    $"no free range of {options.HostUidCount} sandbox uids at or above {options.HostUidBase} (registry {options.UidRangeRegistry})");
        }
        claims.RemoveAll(c => c.Instance == id);
        claims.Add(new UidRangeClaim(id, dataDirectory, range.First, range.Count));
        registry.Save(claims);

        var instance = new SandboxInstance(id, range, previous is { } p && p != range ? p : null);
        if (stored is null || stored.Range != range) Write(file, new Stored(id, range.First, range.Count));
        return instance;
    }

    // A claim stays while its data directory still names it, or while any process still runs with a uid of its range.
    private static bool StillClaimed(UidRangeClaim c) =>
        Read(PathIn(c.DataDirectory))?.Id == c.Instance || HostProcesses.WithUidIn(c.First, c.First + c.Count - 1).Count > 0;

    /// <summary>Uids and gids the host already uses: accounts, groups and subordinate id ranges.</summary>
    internal static List<UidRange> HostIds()
    {
        var ids = new List<UidRange>();
        void Single(string file, int field)
        {
            foreach (var line in Lines(file))
            {
                var parts = line.Split(':');
                if (parts.Length > field && uint.TryParse(parts[field], NumberStyles.None, CultureInfo.InvariantCulture, out var id)) ids.Add(new UidRange(id, 1));
            }
        }
        void Ranges(string file)
        {
            foreach (var line in Lines(file))
            {
                var parts = line.Split(':');
                if (parts.Length >= 3 && uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
                    && uint.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > 0)
                    ids.Add(new UidRange(first, count));
            }
        }
        Single("/etc/passwd", 2);
        Single("/etc/group", 2);
        Ranges("/etc/subuid");
        Ranges("/etc/subgid");
        return ids;
    }

    private static IEnumerable<string> Lines(string file)
    {
        try { return File.Exists(file) ? File.ReadAllLines(file) : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    private sealed record Stored(
        [property: JsonPropertyName("instance")] string Id,
        [property: JsonPropertyName("uid_first")] uint First,
        [property: JsonPropertyName("uid_count")] uint Count)
    {
        [JsonIgnore] public UidRange Range => new(First, Count);
    }

    private static Stored? Read(string file)
    {
        try
        {
            if (!File.Exists(file)) return null;
            var s = JsonSerializer.Deserialize<Stored>(File.ReadAllText(file), Json);
            return s is { Id.Length: > 0, Count: > 1 } && s.Id.All(char.IsAsciiHexDigitLower) ? s : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }

    private static void Write(string file, Stored s)
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(file)!);
        PrivateFiles.WriteAtomically(file, JsonSerializer.Serialize(s, Json));
    }
}

/// <summary>
/// The host-wide registry file of uid-range claims (<see cref="SandboxOptions.UidRangeRegistry"/>), held under an
/// exclusive lock on <c>&lt;file&gt;.lock</c> for the duration of one claim. Its directory is created root-only.
/// </summary>
internal sealed class UidRangeRegistry : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private readonly FileStream _lock;
    private readonly string _file;

    private UidRangeRegistry(FileStream lockFile, string file, List<UidRangeClaim> claims)
    {
        _lock = lockFile;
        _file = file;
        Claims = claims;
    }

    /// <summary>The claims read under the lock.</summary>
    public IReadOnlyList<UidRangeClaim> Claims { get; }

    /// <summary>Takes the registry's lock (waiting up to <paramref name="timeout"/>) and reads it.</summary>
    public static UidRangeRegistry Lock(string file, TimeSpan timeout)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        PrivateFiles.CreateDirectory(directory);
        if (HostPaths.Describe(directory) is not { IsDirectory: true, IsSymlink: false, Owner: var owner } || owner != Native.Libc.geteuid())
            throw new IOException($"the uid range registry directory {directory} is not a directory owned by the gateway's user");
        var deadline = DateTime.UtcNow + timeout;
        FileStream fs;
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive flock(2) on Unix: one claim at a time on this host.
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = PrivateFiles.FileMode;
                fs = new FileStream(file + ".lock", options);
                break;
            }
            catch (IOException) when (DateTime.UtcNow < deadline && File.Exists(file + ".lock"))
            {
                Thread.Sleep(50);
            }
        }
        try
        {
            var claims = File.Exists(file) ? JsonSerializer.Deserialize<List<UidRangeClaim>>(File.ReadAllText(file), Json) ?? [] : [];
            return new UidRangeRegistry(fs, file, claims);
        }
        catch (JsonException e)
        {
            fs.Dispose();
            throw new IOException($"the uid range registry {file} is unreadable ({e.Message}); fix or remove it", e);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>Replaces the registry's content.</summary>
    public void Save(IEnumerable<UidRangeClaim> claims) =>
        PrivateFiles.WriteAtomically(_file, JsonSerializer.Serialize(claims.OrderBy(c => c.First).ToList(), Json));

    public void Dispose() => _lock.Dispose();
}
