using System.Text.Json;

namespace KruxOS.Sandbox.Isolation;

/// <summary>
/// One unprivileged host uid (= gid) per agent, allocated from a configured range and persisted in
/// <c>&lt;data&gt;/sandbox/uids.json</c>, so files an agent writes are owned by that uid on the host,
/// never by root, and never by another agent.
/// </summary>
internal sealed class HostUidMap
{
    private readonly object _gate = new();
    private readonly string _file;
    private readonly uint _base;
    private readonly uint _count;
    private readonly Dictionary<string, uint> _map;

    public HostUidMap(string dataDirectory, uint baseUid, uint count)
    {
        _file = Path.Combine(dataDirectory, "sandbox", "uids.json");
        _base = baseUid;
        _count = count;
        _map = File.Exists(_file) ? JsonSerializer.Deserialize<Dictionary<string, uint>>(File.ReadAllText(_file)) ?? [] : [];
    }

    public uint For(string agent)
    {
        lock (_gate)
        {
            if (_map.TryGetValue(agent, out var uid)) return uid;
            var used = _map.Values.ToHashSet();
            for (var u = _base; u < _base + _count; u++)
            {
                if (used.Contains(u)) continue;
                _map[agent] = u;
                Directory.CreateDirectory(Path.GetDirectoryName(_file)!);
                File.WriteAllText(_file + ".tmp", JsonSerializer.Serialize(_map));
                File.Move(_file + ".tmp", _file, overwrite: true);
                return u;
            }
            throw new InvalidOperationException($"the sandbox uid range {_base}+{_count} is exhausted");
        }
    }
}
