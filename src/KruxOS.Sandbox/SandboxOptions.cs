namespace KruxOS.Sandbox;

/// <summary>Configuration of the sandbox (section <c>Sandbox</c>). Every property has a safe default.</summary>
public sealed class SandboxOptions
{
    /// <summary>Root of persistent data (spec §1.5). Default <c>/data/kruxos</c>. Workspaces are <c>&lt;data&gt;/workspace/&lt;agent&gt;</c>.</summary>
    public string DataDirectory { get; set; } = "/data/kruxos";

    /// <summary>
    /// DEVELOPMENT ONLY: run capabilities unconfined (no namespaces, seccomp, cgroups; as the gateway's own user).
    /// Logged as a critical warning at start and reported critical by the health check. Default false.
    /// </summary>
    public bool Disabled { get; set; }

    /// <summary>bubblewrap binary. Default <c>/usr/bin/bwrap</c>.</summary>
    public string BwrapPath { get; set; } = "/usr/bin/bwrap";

    /// <summary>setpriv binary used to drop to the agent's host uid before bwrap. Default <c>/usr/bin/setpriv</c>.</summary>
    public string SetprivPath { get; set; } = "/usr/bin/setpriv";

    /// <summary>unshare binary (util-linux) that gives each launch a private mount namespace. Default <c>/usr/bin/unshare</c>.</summary>
    public string UnsharePath { get; set; } = "/usr/bin/unshare";

    /// <summary>
    /// An empty root-owned directory the launcher mounts a private staging tmpfs on, in each launch's own mount
    /// namespace, to hand bubblewrap the host directories a sandbox needs without making the data directory
    /// traversable (ADR 0018). Created at start (0700, root). Default <c>/run/kruxos-sandbox</c>.
    /// </summary>
    public string StagingDirectory { get; set; } = "/run/kruxos-sandbox";

    /// <summary>
    /// The host-wide registry of sandbox uid ranges: one range per data directory, so two gateways on one host
    /// never share a uid (ADR 0019). Guarded by an exclusive lock on <c>&lt;file&gt;.lock</c>. Default
    /// <c>/var/lib/kruxos/sandbox-uid-ranges.json</c>.
    /// </summary>
    public string UidRangeRegistry { get; set; } = "/var/lib/kruxos/sandbox-uid-ranges.json";

    /// <summary>Directory holding KruxOS.SandboxWorker.dll; default: next to this assembly.</summary>
    public string? WorkerDirectory { get; set; }

    /// <summary>Root of the .NET runtime for the worker; default: the running runtime's root.</summary>
    public string? DotnetRoot { get; set; }

    /// <summary>
    /// Where this data directory's host uid range may start: the first free range of <see cref="HostUidCount"/> uids
    /// at or above it is claimed in <see cref="UidRangeRegistry"/> (one uid per agent, persisted; ADR 0019). Default 200000.
    /// </summary>
    public uint HostUidBase { get; set; } = 200_000;

    /// <summary>Size of each data directory's host uid range (its last uid is the diagnostics probe's). Default 10000.</summary>
    public uint HostUidCount { get; set; } = 10_000;

    /// <summary>
    /// Name of the cgroup subtree the gateways of this host share; each data directory owns only
    /// <c>&lt;name&gt;/&lt;instance id&gt;</c> below it and removes only that on dispose (ADR 0019). Default <c>kruxos</c>.
    /// </summary>
    public string CgroupName { get; set; } = "kruxos";

    /// <summary>Limits of every agent's sandbox unless <see cref="Agents"/> overrides them.</summary>
    public SandboxLimits DefaultLimits { get; set; } = SandboxLimits.Default;

    /// <summary>Per-agent settings keyed by agent name.</summary>
    public Dictionary<string, AgentSandboxSettings> Agents { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Deadline of a call when the request names none. Default 60 s.</summary>
    public TimeSpan DefaultCallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a worker may take to start. Default 15 s (2-core CI machines).</summary>
    public TimeSpan WorkerStartTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Trash retention for agent callers. Default 24 h.</summary>
    public int AgentTrashRetentionHours { get; set; } = 24;

    /// <summary>Trash retention for user callers. Default 168 h.</summary>
    public int UserTrashRetentionHours { get; set; } = 168;

    /// <summary>
    /// Apply Landlock inside the worker's sandbox as an extra layer (kernel ≥ 5.13). Costs one re-exec of the
    /// worker at start. Where the kernel lacks Landlock the worker runs without it and says so. Default true.
    /// </summary>
    public bool WorkerLandlock { get; set; } = true;

    /// <summary>Size of the private /tmp of each sandbox. Default 100 MB.</summary>
    public long TmpfsBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Bytes of stdout/stderr kept per stream of each process (older output is dropped). Default 8 MiB.</summary>
    public int ProcessOutputBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Finished process records kept per agent. Default 200.</summary>
    public int ProcessHistory { get; set; } = 200;

    /// <summary>Resolved workspace root.</summary>
    public string WorkspaceRoot => Path.Combine(DataDirectory, "workspace");

    internal AgentSandboxSettings For(string agent) => Agents.TryGetValue(agent, out var s) ? s : new AgentSandboxSettings();
}

/// <summary>Per-agent sandbox settings.</summary>
public sealed class AgentSandboxSettings
{
    /// <summary>Limits for this agent; null = <see cref="SandboxOptions.DefaultLimits"/>.</summary>
    public SandboxLimits? Limits { get; set; }
}
