using System.Runtime.InteropServices;

namespace KruxOS.LoadTest.Targets;

/// <summary>
/// Raises this process's open-file soft limit to its hard limit (Linux), so thousands of sockets fit;
/// the servers the driver starts inherit it. Above the hard limit, raise it with <c>ulimit -n</c> first.
/// </summary>
public static partial class FileLimit
{
    private const int RlimitNofile = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    /// <summary>Raises the soft limit to the hard limit; returns the soft limit now in force, or null off Linux.</summary>
    public static ulong? RaiseToHardLimit()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (GetRLimit(RlimitNofile, out var limit) != 0) return null;
        if (limit.Current < limit.Max)
        {
            var raised = new RLimit { Current = limit.Max, Max = limit.Max };
            if (SetRLimit(RlimitNofile, in raised) == 0) return limit.Max;
        }
        return limit.Current;
    }
}
