using System.Globalization;

namespace KruxOS.Testing;

// Linked into the test projects that look at what a sandbox left running on the host (Sandbox, Actors, Gateway tests).

/// <summary>What runs on the host under a uid, and which cgroups exist: how specs check that an agent was really stopped.</summary>
internal static class SandboxLeftovers
{
    /// <summary>The pids whose real, effective, saved or filesystem uid is <paramref name="uid"/>.</summary>
    public static List<int> ProcessesOf(uint uid)
    {
        var pids = new List<int>();
        var wanted = uid.ToString(CultureInfo.InvariantCulture);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            try
            {
                var line = File.ReadLines(Path.Combine(dir, "status")).FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
                if (line is not null && line[4..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries).Contains(wanted)) pids.Add(pid);
            }
            catch (IOException) { /* the process ended while we looked */ }
            catch (UnauthorizedAccessException) { }
        }
        return pids;
    }

    /// <summary>Whether a group below this process's own cgroup exists in any hierarchy the sandbox uses (v1 memory/pids, or v2).</summary>
    public static bool CgroupExists(string relative)
    {
        foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts.Length < 3) continue;
            var mount = parts[0] == "0" && parts[1].Length == 0 ? "/sys/fs/cgroup"
                : parts[1].Split(',').FirstOrDefault(c => c is "memory" or "pids") is { } c ? "/sys/fs/cgroup/" + c : null;
            if (mount is not null && Directory.Exists(mount + parts[2].TrimEnd('/') + "/" + relative)) return true;
        }
        return false;
    }
}
