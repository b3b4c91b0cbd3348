using System.Globalization;

namespace KruxOS.Actors.Health;

/// <summary>One reading of the host counters.</summary>
public readonly record struct HostSample(
    DateTimeOffset At,
    ulong CpuTotal,
    ulong CpuIdle,
    long MemoryTotalBytes,
    long MemoryAvailableBytes,
    long DiskReadBytes,
    long DiskWriteBytes,
    long NetRxBytes,
    long NetTxBytes);

/// <summary>Parsers for the Linux <c>/proc</c> files the host metrics read. Pure: they take file text.</summary>
public static class ProcStats
{
    /// <summary>Total and idle (idle + iowait) jiffies from the aggregate <c>cpu</c> line of <c>/proc/stat</c>.</summary>
    public static (ulong Total, ulong Idle) ParseCpu(string procStat)
    {
        foreach (var line in procStat.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith("cpu ")) continue;
            var parts = line[4..].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            ulong total = 0, idle = 0;
            for (var i = 0; i < parts.Length && i < 8; i++)
            {
                var v = ulong.Parse(parts[i], CultureInfo.InvariantCulture);
                total += v;
                if (i is 3 or 4) idle += v;
            }
            return (total, idle);
        }
        throw new FormatException("no aggregate cpu line in /proc/stat");
    }

    /// <summary><c>MemTotal</c> and <c>MemAvailable</c> in bytes from <c>/proc/meminfo</c>.</summary>
    public static (long Total, long Available) ParseMemory(string meminfo)
    {
        long total = -1, available = -1;
        foreach (var line in meminfo.Split('\n'))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)) total = KiB(line);
            else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)) available = KiB(line);
        }
        if (total < 0 || available < 0) throw new FormatException("MemTotal/MemAvailable missing from /proc/meminfo");
        return (total, available);

        static long KiB(string line) =>
            long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Bytes read and written by the named whole disks, from <c>/proc/diskstats</c> (512-byte sectors).</summary>
    public static (long Read, long Written) ParseDisk(string diskstats, IReadOnlySet<string> disks)
    {
        long read = 0, written = 0;
        foreach (var line in diskstats.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 10 || !disks.Contains(f[2])) continue;
            read += long.Parse(f[5], CultureInfo.InvariantCulture) * 512;
            written += long.Parse(f[9], CultureInfo.InvariantCulture) * 512;
        }
        return (read, written);
    }

    /// <summary>Bytes received and sent on every interface but loopback, from <c>/proc/net/dev</c>.</summary>
    public static (long Rx, long Tx) ParseNet(string netdev)
    {
        long rx = 0, tx = 0;
        foreach (var line in netdev.Split('\n').Skip(2))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            if (line[..colon].Trim() == "lo") continue;
            var f = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 9) continue;
            rx += long.Parse(f[0], CultureInfo.InvariantCulture);
            tx += long.Parse(f[8], CultureInfo.InvariantCulture);
        }
        return (rx, tx);
    }

    /// <summary>Reads every counter now. Runs blocking file reads: call it off the actor thread.</summary>
    public static HostSample Read(DateTimeOffset at)
    {
        var (cpuTotal, cpuIdle) = ParseCpu(File.ReadAllText("/proc/stat"));
        var (memTotal, memAvail) = ParseMemory(File.ReadAllText("/proc/meminfo"));
        var disks = Directory.Exists("/sys/block")
            ? Directory.GetDirectories("/sys/block").Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith("loop", StringComparison.Ordinal) && !n.StartsWith("ram", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal)
            : [];
        var (dr, dw) = File.Exists("/proc/diskstats") ? ParseDisk(File.ReadAllText("/proc/diskstats"), disks) : (0, 0);
        var (rx, tx) = File.Exists("/proc/net/dev") ? ParseNet(File.ReadAllText("/proc/net/dev")) : (0, 0);
        return new HostSample(at, cpuTotal, cpuIdle, memTotal, memAvail, dr, dw, rx, tx);
    }
}

/// <summary>Averages and peaks over a window of samples.</summary>
public sealed record MetricsSummary(
    string Window,
    double CpuAveragePercent,
    double CpuPeakPercent,
    long MemoryAverageBytes,
    long MemoryPeakBytes,
    double MemoryAveragePercent,
    long DiskReadBytes,
    long DiskWriteBytes,
    long NetRxBytes,
    long NetTxBytes,
    int Samples);

/// <summary>Pure window arithmetic over host samples.</summary>
public static class MetricsWindow
{
    /// <summary>The supported windows and their lengths.</summary>
    public static readonly IReadOnlyDictionary<string, TimeSpan> Windows = new Dictionary<string, TimeSpan>(StringComparer.Ordinal)
    {
        ["1m"] = TimeSpan.FromMinutes(1),
        ["5m"] = TimeSpan.FromMinutes(5),
        ["15m"] = TimeSpan.FromMinutes(15),
        ["1h"] = TimeSpan.FromHours(1),
        ["24h"] = TimeSpan.FromHours(24),
    };

    /// <summary>
    /// Summarises the samples taken within <paramref name="window"/> before <paramref name="now"/>
    /// (samples must be in time order). CPU is computed between consecutive samples.
    /// </summary>
    public static MetricsSummary Summarise(IReadOnlyList<HostSample> samples, string window, DateTimeOffset now)
    {
        var from = now - Windows[window];
        var inWindow = samples.Where(s => s.At >= from && s.At <= now).ToList();
        if (inWindow.Count == 0) return new MetricsSummary(window, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        var cpu = new List<double>();
        for (var i = 1; i < inWindow.Count; i++)
        {
            var dt = (double)(inWindow[i].CpuTotal - inWindow[i - 1].CpuTotal);
            var di = (double)(inWindow[i].CpuIdle - inWindow[i - 1].CpuIdle);
            if (dt > 0) cpu.Add(Math.Round(100.0 * (dt - di) / dt, 2));
        }
        var used = inWindow.Select(s => s.MemoryTotalBytes - s.MemoryAvailableBytes).ToList();
        var first = inWindow[0];
        var last = inWindow[^1];
        return new MetricsSummary(window,
            cpu.Count == 0 ? 0 : Math.Round(cpu.Average(), 2), cpu.Count == 0 ? 0 : cpu.Max(),
            (long)used.Average(), used.Max(),
            Math.Round(100.0 * used.Average() / Math.Max(1, last.MemoryTotalBytes), 2),
            Math.Max(0, last.DiskReadBytes - first.DiskReadBytes), Math.Max(0, last.DiskWriteBytes - first.DiskWriteBytes),
            Math.Max(0, last.NetRxBytes - first.NetRxBytes), Math.Max(0, last.NetTxBytes - first.NetTxBytes),
            inWindow.Count);
    }
}
