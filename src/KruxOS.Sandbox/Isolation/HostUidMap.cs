using System.Text.Json;

namespace KruxOS.Sandbox.Isolation;

/// <summary>
/// One unprivileged host uid (= gid) per agent, allocated from the data directory's claimed range (its last uid
/// is the diagnostics probe's) and persisted in <c>&lt;data&gt;/sandbox/uids.json</c> (0600), so files an agent
/// writes are owned by that uid on the host, never by root, by another agent, or by an agent of another
/// gateway on the same host (ADR 0019). When the data directory had to take a new range, the stored uids move
/// with it (same offset), and each agent's directories are re-owned on its next use.
/// </summary>
internal sealed class HostUidMap
{
    private readonly object _gate = new();
    private readonly string _file;
    private readonly UidRange _range;
    private readonly Dictionary<string, uint> _map;

    public HostUidMap(string dataDirectory, SandboxInstance instance)
    {
        _file = Path.Combine(dataDirectory, "sandbox", "uids.json");
        _range = instance.AgentUids;
        var previous = instance.PreviousUids;
        var stored = File.Exists(_file) ? JsonSerializer.Deserialize<Dictionary<string, uint>>(File.ReadAllText(_file)) ?? [] : [];
        _map = [];
        foreach (var (agent, uid) in stored)
        {
            var moved = previous is { } p && p.Contains(uid) ? instance.Uids.First + (uid - p.First) : uid;
            // Only uids inside this data directory's range are kept; anything else is allocated afresh.
            if (_range.Contains(moved) && !_map.ContainsValue(moved)) _map[agent] = moved;
        }
        if (_map.Count != stored.Count || _map.Any(kv => stored[kv.Key] != kv.Value)) Save();
    }

    /// <summary>The agent's uid, allocating one on first use.</summary>
    public uint For(string agent)
    {
        lock (_gate)
        {
            if (_map.TryGetValue(agent, out var uid)) return uid;
            var used = _map.Values.ToHashSet();
            for (var u = _range.First; u <= _range.Last; u++)
            {
                if (used.Contains(u)) continue;
                _map[agent] = u;
                Save();
                return u;
            }
            throw new InvalidOperationException($"the sandbox uid range {_range} is exhausted");
        }
    }

    /// <summary>The agent's uid if it has one; never allocates.</summary>
    public uint? Find(string agent)
    {
        lock (_gate) return _map.TryGetValue(agent, out var uid) ? uid : null;
    }

    private void Save()
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(_file)!);
        PrivateFiles.WriteAtomically(_file, JsonSerializer.Serialize(_map));
    }
}
