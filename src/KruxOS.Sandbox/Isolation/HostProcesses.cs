using System.Globalization;

namespace KruxOS.Sandbox.Isolation;

/// <summary>Processes of the host by uid, read from <c>/proc</c> (real, effective, saved and filesystem uid).</summary>
internal static class HostProcesses
{
    /// <summary>Pids of every process any of whose uids lies in [<paramref name="first"/>, <paramref name="last"/>].</summary>
    public static List<int> WithUidIn(uint first, uint last)
    {
        var found = new List<int>();
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateDirectories("/proc"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return found; }
        foreach (var dir in entries)
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (Uids(pid) is { } uids && uids.Any(u => u >= first && u <= last)) found.Add(pid);
        }
        return found;
    }

    /// <summary>The four uids of a process, or null when it is gone.</summary>
    public static uint[]? Uids(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (!line.StartsWith("Uid:", StringComparison.Ordinal)) continue;
                return [.. line[4..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(x => uint.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out var u) ? u : uint.MaxValue)];
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }
}
