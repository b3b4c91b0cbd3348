using System.Globalization;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Isolation;

/// <summary>
/// cgroup limits for sandboxes, on whichever hierarchy is live: pure cgroup v2 (memory, cpu and pids
/// controllers on the unified mount) or cgroup v1 (one mount per controller, as on our CI machines).
/// Groups are created under the gateway's own cgroup, as <c>&lt;name&gt;/&lt;agent&gt;/&lt;leaf&gt;</c>.
/// </summary>
internal abstract class Cgroups
{
    /// <summary>"v2" or "v1".</summary>
    public abstract string Version { get; }

    /// <summary>Where the hierarchy lives, for diagnostics.</summary>
    public abstract string Describe();

    /// <summary>Creates (or reuses) a group at a relative path and applies limits; null limits = none at this level.</summary>
    public abstract CgroupGroup Create(string relative, SandboxLimits? limits);

    /// <summary>Removes a whole subtree (killing what is left in it), deepest first; returns how many processes were killed.</summary>
    public abstract int RemoveTree(string relative);

    /// <summary>Removes one group directory only when it holds no process and no child group (never kills).</summary>
    public abstract void RemoveIfEmpty(string relative);

    internal static void RemoveEmpty(string dir)
    {
        if (!Directory.Exists(dir) || ReadPids(dir).Count > 0) return;
        try { Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Detects the live hierarchy; null with the reason when memory/cpu/pids are not all usable.</summary>
    public static Cgroups? Detect(out string detail)
    {
        if (Libc.geteuid() != 0) { detail = "the gateway is not root and no delegated cgroup is configured"; return null; }
        var selfV2 = SelfPath("");
        if (File.Exists("/sys/fs/cgroup/cgroup.controllers"))
        {
            var controllers = File.ReadAllText("/sys/fs/cgroup/cgroup.controllers").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (new[] { "memory", "cpu", "pids" }.All(controllers.Contains))
            {
                detail = "cgroup v2 at /sys/fs/cgroup";
                return new CgroupsV2("/sys/fs/cgroup" + (selfV2 ?? "/"));
            }
        }
        var v1 = new Dictionary<string, string>();
        foreach (var c in new[] { "memory", "cpu", "pids", "cpuacct" })
        {
            var mount = "/sys/fs/cgroup/" + c;
            if (!File.Exists(Path.Combine(mount, "cgroup.procs"))) continue;
            var self = SelfPath(c) ?? "/";
            var basePath = mount + (self == "/" ? string.Empty : self);
            v1[c] = Directory.Exists(basePath) ? basePath : mount;
        }
        if (v1.ContainsKey("memory") && v1.ContainsKey("cpu") && v1.ContainsKey("pids"))
        {
            detail = "cgroup v1 (" + string.Join(", ", v1.Select(kv => kv.Key + " at " + kv.Value)) + ")";
            return new CgroupsV1(v1);
        }
        detail = "neither cgroup v2 with memory/cpu/pids nor cgroup v1 memory/cpu/pids mounts were found";
        return null;
    }

    /// <summary>The process's own group path for a v1 controller, or the v2 path when controller is "".</summary>
    private static string? SelfPath(string controller)
    {
        foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts.Length < 3) continue;
            if (controller.Length == 0 ? parts[0] == "0" && parts[1].Length == 0 : parts[1].Split(',').Contains(controller)) return parts[2];
        }
        return null;
    }

    internal static void WriteFile(string path, string value)
    {
        try { File.WriteAllText(path, value); }
        catch (IOException e) { throw new IOException($"writing '{value}' to {path} failed: {e.Message}", e); }
    }

    internal static long? ReadLong(string path)
    {
        try { return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Reads "key value" lines (memory.events, pids.events, cpu.stat, memory.oom_control).</summary>
    internal static long? ReadKey(string path, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                var parts = line.Split(' ', 2);
                if (parts.Length == 2 && parts[0] == key && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) return v;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    internal static int KillAndRemove(IEnumerable<string> dirs)
    {
        var killed = new HashSet<int>();
        foreach (var dir in dirs.Where(Directory.Exists).OrderByDescending(d => d.Length))
        {
            for (var attempt = 0; attempt < 50; attempt++)
            {
                var pids = ReadPids(dir);
                if (pids.Count == 0) break;
                foreach (var pid in pids) if (Libc.kill(pid, Libc.SIGKILL) == 0) killed.Add(pid);
                Thread.Sleep(20);
            }
            try { Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return killed.Count;
    }

    internal static List<int> ReadPids(string dir)
    {
        var result = new List<int>();
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(dir, "cgroup.procs")))
                if (int.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid)) result.Add(pid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return result;
    }

    /// <summary>
    /// <paramref name="root"/> and every group below it, children before their parent. A group can go away while it is
    /// walked — its last process exited and the run that owned it removed it (an agent stop racing its calls' exits) — so
    /// a directory that vanished is simply not in the list; it never fails the kill or the removal of the others.
    /// </summary>
    internal static List<string> Subtree(string root) => Subtree(root, ChildDirectories);

    // Real directories only: a symbolic link is never walked into (cgroupfs has none; a link would lead outside the group).
    private static string[] ChildDirectories(string dir) =>
        [.. new DirectoryInfo(dir).EnumerateDirectories().Where(d => d.LinkTarget is null).Select(d => d.FullName)];

    /// <summary><see cref="Subtree(string)"/> over a given listing of a directory's child directories.</summary>
    internal static List<string> Subtree(string root, Func<string, string[]> children)
    {
        var found = new List<string>();
        Walk(root);
        return found;

        void Walk(string dir)
        {
            string[] below;
            try
            {
                below = children(dir);
            }
            catch (DirectoryNotFoundException)
            {
                return; // removed meanwhile (or never there)
            }
            foreach (var child in below) Walk(child);
            found.Add(dir);
        }
    }
}

/// <summary>One created group (possibly spread over several v1 hierarchies).</summary>
internal abstract class CgroupGroup
{
    /// <summary>The cgroup.procs files a launcher writes its pid to before exec'ing the sandbox.</summary>
    public abstract IReadOnlyList<string> ProcsFiles { get; }
    public abstract long OomKills();
    public abstract long PidsLimitHits();
    public abstract long? MemoryPeakBytes();
    public abstract long? CpuUsageMicroseconds();
    public abstract List<int> Pids();
    /// <summary>SIGKILLs every process in the group (and below), repeatedly until it is empty.</summary>
    public abstract void KillAll();
    /// <summary>Kills what is left and removes the directories.</summary>
    public abstract void Remove();
}

internal sealed class CgroupsV2(string basePath) : Cgroups
{
    public override string Version => "v2";
    public override string Describe() => "cgroup v2 under " + basePath;

    public override CgroupGroup Create(string relative, SandboxLimits? limits)
    {
        var path = basePath.TrimEnd('/');
        foreach (var part in relative.Split('/'))
        {
            // Enable the controllers for children on every level we pass (no-internal-process rule: only leaves hold processes).
            Directory.CreateDirectory(path);
            try { WriteFile(Path.Combine(path, "cgroup.subtree_control"), "+memory +cpu +pids"); } catch (IOException) { }
            path = Path.Combine(path, part);
        }
        Directory.CreateDirectory(path);
        if (limits is { } l)
        {
            WriteFile(Path.Combine(path, "memory.max"), l.MemoryBytes.ToString(CultureInfo.InvariantCulture));
            if (File.Exists(Path.Combine(path, "memory.swap.max"))) WriteFile(Path.Combine(path, "memory.swap.max"), "0");
            WriteFile(Path.Combine(path, "cpu.max"), $"{(long)(l.CpuCores * 100_000)} 100000");
            WriteFile(Path.Combine(path, "pids.max"), l.Pids.ToString(CultureInfo.InvariantCulture));
        }
        return new Group(path);
    }

    public override int RemoveTree(string relative) => KillAndRemove(Subtree(Path.Combine(basePath, relative)));

    public override void RemoveIfEmpty(string relative) => RemoveEmpty(Path.Combine(basePath, relative));

    private sealed class Group(string path) : CgroupGroup
    {
        public override IReadOnlyList<string> ProcsFiles => [Path.Combine(path, "cgroup.procs")];
        public override long OomKills() => ReadKey(Path.Combine(path, "memory.events"), "oom_kill") ?? 0;
        public override long PidsLimitHits() => ReadKey(Path.Combine(path, "pids.events"), "max") ?? 0;
        public override long? MemoryPeakBytes() => ReadLong(Path.Combine(path, "memory.peak"));
        public override long? CpuUsageMicroseconds() => ReadKey(Path.Combine(path, "cpu.stat"), "usage_usec");
        public override List<int> Pids() => Subtree(path).SelectMany(ReadPids).ToList();
        public override void KillAll()
        {
            var kill = Path.Combine(path, "cgroup.kill");
            if (File.Exists(kill)) { try { WriteFile(kill, "1"); } catch (IOException) { } }
            for (var i = 0; i < 50 && Pids() is { Count: > 0 } pids; i++) { foreach (var p in pids) Libc.kill(p, Libc.SIGKILL); Thread.Sleep(10); }
        }
        public override void Remove() { KillAll(); KillAndRemove(Subtree(path)); }
    }
}

internal sealed class CgroupsV1(Dictionary<string, string> bases) : Cgroups
{
    public override string Version => "v1";
    public override string Describe() => "cgroup v1: " + string.Join(", ", bases.Select(kv => kv.Key + "=" + kv.Value));

    public override CgroupGroup Create(string relative, SandboxLimits? limits)
    {
        var dirs = bases.ToDictionary(kv => kv.Key, kv => Path.Combine(kv.Value, relative));
        foreach (var d in dirs.Values) Directory.CreateDirectory(d);
        if (limits is { } l)
        {
            var mem = dirs["memory"];
            var bytes = l.MemoryBytes.ToString(CultureInfo.InvariantCulture);
            WriteFile(Path.Combine(mem, "memory.limit_in_bytes"), bytes);
            // No swap: memsw (memory+swap) equal to memory, when swap accounting exists; swappiness 0 otherwise.
            if (File.Exists(Path.Combine(mem, "memory.memsw.limit_in_bytes"))) WriteFile(Path.Combine(mem, "memory.memsw.limit_in_bytes"), bytes);
            try { WriteFile(Path.Combine(mem, "memory.swappiness"), "0"); } catch (IOException) { }
            WriteFile(Path.Combine(dirs["cpu"], "cpu.cfs_period_us"), "100000");
            WriteFile(Path.Combine(dirs["cpu"], "cpu.cfs_quota_us"), ((long)(l.CpuCores * 100_000)).ToString(CultureInfo.InvariantCulture));
            WriteFile(Path.Combine(dirs["pids"], "pids.max"), l.Pids.ToString(CultureInfo.InvariantCulture));
        }
        return new Group(dirs);
    }

    public override int RemoveTree(string relative) => KillAndRemove(bases.Values.SelectMany(b => Subtree(Path.Combine(b, relative))));

    public override void RemoveIfEmpty(string relative)
    {
        foreach (var b in bases.Values) RemoveEmpty(Path.Combine(b, relative));
    }

    private sealed class Group(Dictionary<string, string> dirs) : CgroupGroup
    {
        public override IReadOnlyList<string> ProcsFiles => [.. dirs.Values.Select(d => Path.Combine(d, "cgroup.procs"))];
        public override long OomKills() => ReadKey(Path.Combine(dirs["memory"], "memory.oom_control"), "oom_kill") ?? 0;
        public override long PidsLimitHits() => ReadKey(Path.Combine(dirs["pids"], "pids.events"), "max") ?? 0;
        public override long? MemoryPeakBytes() => ReadLong(Path.Combine(dirs["memory"], "memory.max_usage_in_bytes"));
        public override long? CpuUsageMicroseconds() =>
            dirs.TryGetValue("cpuacct", out var acct) && ReadLong(Path.Combine(acct, "cpuacct.usage")) is { } ns ? ns / 1000 : null;
        public override List<int> Pids() => Subtree(dirs["pids"]).SelectMany(ReadPids).ToList();
        public override void KillAll()
        {
            for (var i = 0; i < 50 && Pids() is { Count: > 0 } pids; i++) { foreach (var p in pids) Libc.kill(p, Libc.SIGKILL); Thread.Sleep(10); }
        }
        public override void Remove() { KillAll(); KillAndRemove(dirs.Values.SelectMany(Subtree)); }
    }
}
