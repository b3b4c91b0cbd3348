using System.Collections.Immutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using KruxOS.Core;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Mounts;

/// <summary>An operator host mount: <see cref="Source"/> on the host appears as <c>/mnt/&lt;label&gt;</c> in one agent's sandbox.</summary>
/// <param name="Agent">The agent that sees the mount.</param>
/// <param name="Label">Lower-case label; the target is <c>/mnt/&lt;label&gt;</c>.</param>
/// <param name="Source">Canonical host directory.</param>
/// <param name="ReadOnly">Whether the agent may only read.</param>
public sealed record MountEntry(string Agent, string Label, string Source, bool ReadOnly)
{
    /// <summary>The path inside the sandbox.</summary>
    public string Target => "/mnt/" + Label;
}

/// <summary>
/// The operator's host mounts, persisted as JSON (<c>&lt;data&gt;/sandbox/mounts.json</c>). Sources are
/// canonicalised and must be existing directories outside system and KruxOS state paths. A running
/// sandbox picks changes up when its worker restarts (<see cref="ISandbox.StopAgentAsync(KruxOS.Core.Agents.AgentName, CancellationToken)"/>).
/// </summary>
public sealed partial class MountTable
{
    private static readonly string[] ForbiddenSources = ["/", "/proc", "/sys", "/dev", "/etc", "/boot", "/root", "/run", "/var/run", "/usr", "/bin", "/sbin", "/lib", "/lib64"];
    private readonly object _gate = new();
    private readonly string _file;
    private readonly string _dataDirectory;
    private ImmutableList<MountEntry> _entries;

    private MountTable(string file, string dataDirectory, ImmutableList<MountEntry> entries)
    {
        _file = file;
        _dataDirectory = dataDirectory;
        _entries = entries;
    }

    /// <summary>Loads (or starts empty) the table of a data directory.</summary>
    public static MountTable Load(string dataDirectory)
    {
        var file = Path.Combine(dataDirectory, "sandbox", "mounts.json");
        var entries = File.Exists(file)
            ? JsonSerializer.Deserialize<List<MountEntry>>(File.ReadAllText(file), CoreJson.Options) ?? []
            : [];
        return new MountTable(file, dataDirectory, [.. entries]);
    }

    /// <summary>Every mount, ordered by agent and label.</summary>
    public ImmutableList<MountEntry> All => _entries;

    /// <summary>The mounts of one agent.</summary>
    public ImmutableArray<MountEntry> For(string agent) => [.. _entries.Where(e => e.Agent == agent).OrderBy(e => e.Label, StringComparer.Ordinal)];

    /// <summary>
    /// Whether a stored source still is the canonical directory it was when added: a source that now resolves
    /// elsewhere (a component replaced by a symlink) must not be bound into a sandbox.
    /// </summary>
    public static bool StillCanonical(MountEntry entry) => Libc.RealPath(entry.Source) == entry.Source && Directory.Exists(entry.Source);

    /// <summary>Adds a mount; returns the stored entry or throws <see cref="ArgumentException"/> with the reason.</summary>
    public MountEntry Add(string agent, string source, string label, bool readOnly)
    {
        if (!Label().IsMatch(label)) throw new ArgumentException("label must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter or digit", nameof(label));
        var canonical = Libc.RealPath(source) ?? throw new ArgumentException($"source '{source}' does not exist", nameof(source));
        if (!Directory.Exists(canonical)) throw new ArgumentException($"source '{canonical}' is not a directory", nameof(source));
        if (ForbiddenSources.Any(f => canonical == f || (f != "/" && canonical.StartsWith(f + "/", StringComparison.Ordinal) && f is "/proc" or "/sys" or "/dev" or "/etc" or "/boot" or "/root")))
            throw new ArgumentException($"source '{canonical}' is a system path and cannot be mounted", nameof(source));
        // Nothing in or around the data directory: its workspaces and trash are agent-writable, and bubblewrap
        // resolves a source path when the sandbox starts, so an agent could swap a directory there for a symlink.
        var data = Libc.RealPath(_dataDirectory) ?? _dataDirectory;
        if (canonical == data || canonical.StartsWith(data + "/", StringComparison.Ordinal) || data.StartsWith(canonical + "/", StringComparison.Ordinal))
            throw new ArgumentException($"source '{canonical}' overlaps the KruxOS data directory (workspaces and trash are agent-writable)", nameof(source));
        var entry = new MountEntry(agent, label, canonical, readOnly);
        lock (_gate)
        {
            if (_entries.Any(e => e.Agent == agent && e.Label == label)) throw new ArgumentException($"agent '{agent}' already has a mount labelled '{label}'", nameof(label));
            _entries = _entries.Add(entry);
            Save();
        }
        return entry;
    }

    /// <summary>Removes a mount; false when there was none.</summary>
    public bool Remove(string agent, string label)
    {
        lock (_gate)
        {
            var e = _entries.FirstOrDefault(x => x.Agent == agent && x.Label == label);
            if (e is null) return false;
            _entries = _entries.Remove(e);
            Save();
            return true;
        }
    }

    private void Save()
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(_file)!);
        PrivateFiles.WriteAtomically(_file, JsonSerializer.Serialize(_entries.OrderBy(e => e.Agent, StringComparer.Ordinal).ThenBy(e => e.Label, StringComparer.Ordinal), CoreJson.Options));
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex Label();
}
