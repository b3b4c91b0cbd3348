using System.Globalization;

namespace KruxOS.LoadTest.Targets;

/// <summary>Reads a process's resident set size and CPU time from <c>/proc/&lt;pid&gt;/</c> (Linux).</summary>
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

    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux architecture .NET runs on.
    private const double ClockTicksPerSecond = 100;

    /// <summary>User + system CPU seconds the process has used, or null when it cannot be read.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            return ParseCpuSeconds(File.ReadAllText($"/proc/{pid}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Parses utime + stime (fields 14 and 15) of a <c>/proc/&lt;pid&gt;/stat</c> line into seconds.</summary>
    public static double? ParseCpuSeconds(string stat)
    {
        // The command name (field 2) is in parentheses and may contain spaces; count fields after the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) is fields[12].
        if (fields.Length < 13
            || !long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var utime)
            || !long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var stime))
            return null;
        return (utime + stime) / ClockTicksPerSecond;
    }

    /// <summary>
    /// Context switches (voluntary + involuntary) of each of the process's live threads, by thread id, or null when
    /// the process cannot be read. A thread that ended is gone from the reading, so readings are turned into a
    /// running total by <see cref="ContextSwitchTally"/>, never subtracted from each other.
    /// </summary>
    public static Dictionary<int, long>? ThreadContextSwitches(int pid)
    {
        try
        {
            var counts = new Dictionary<int, long>();
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                if (!int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out var tid)) continue;
                try { counts[tid] = ParseContextSwitches(File.ReadAllText(Path.Combine(task, "status"))); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the thread ended meanwhile */ }
            }
            return counts;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Sums the <c>voluntary_ctxt_switches</c> and <c>nonvoluntary_ctxt_switches</c> lines of a status file.</summary>
    public static long ParseContextSwitches(string status)
    {
        long total = 0;
        foreach (var line in status.Split('\n'))
        {
            if (!line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) && !line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal)) continue;
            if (long.TryParse(line[(line.IndexOf(':') + 1)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)) total += n;
        }
        return total;
    }
}
