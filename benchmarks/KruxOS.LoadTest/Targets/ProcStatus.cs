using System.Globalization;

namespace KruxOS.LoadTest.Targets;

/// <summary>Reads a process's resident set size from <c>/proc/&lt;pid&gt;/status</c> (Linux).</summary>
public static class ProcStatus
{
    /// <summary>VmRSS in bytes, or null when it cannot be read (not Linux, process gone).</summary>
    public static long? ResidentBytes(int pid)
    {
        try
        {
            return ParseVmRss(File.ReadAllText($"/proc/{pid}/status"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Parses the <c>VmRSS:  123456 kB</c> line of a status file into bytes.</summary>
    public static long? ParseVmRss(string status)
    {
        foreach (var line in status.Split('\n'))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            var parts = line[6..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb))
                return kb * 1024;
        }
        return null;
    }
}
