using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Isolation;
using KruxOS.Sandbox.Mounts;
using KruxOS.Sandbox.Native;
using KruxOS.Sandbox.Processes;
using KruxOS.Sandbox.Worker;
using Microsoft.Extensions.Logging;

namespace KruxOS.Sandbox;

/// <summary>
/// One agent's sandbox: its host uid, workspace and trash directories, its cgroup, the warm worker
/// (started on first use and restarted after it dies) and its processes.
/// </summary>
internal sealed class AgentSandbox : IAsyncDisposable
{
    private readonly SandboxHost _host;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private WorkerClient? _worker;
    private CgroupGroup? _workerGroup;
    private long _oomBaseline;

    public AgentSandbox(SandboxHost host, string agent, uint hostUid)
    {
        _host = host;
        Agent = agent;
        HostUid = hostUid;
        Workspace = Path.Combine(host.Options.WorkspaceRoot, agent);
        TrashDirectory = Path.Combine(host.Options.DataDirectory, "trash", agent);
        Limits = host.Options.For(agent).Limits ?? host.Options.DefaultLimits;
        PrepareDirectory(Workspace);
        PrepareDirectory(TrashDirectory);
        Workspace = Libc.RealPath(Workspace) ?? Workspace;
        if (!host.Options.Disabled) AgentGroup = host.Cgroups!.Create(CgroupPath, Limits);
        Processes = new ProcessManager(this);
        // Named by uid, not agent name, to keep the socket path under the 108-byte limit of sockaddr_un.
        RelayDirectory = Path.Combine(host.Options.DataDirectory, "sandbox", "relay", hostUid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try { Relay = new GitRelay(RelayDirectory, agent, hostUid, !host.Options.Disabled, host.Logger); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException)
        {
            // Without a relay only git:// remotes are unreachable (the worker says so); everything else works.
            host.Logger.LogError(e, "The git relay of agent {Agent} could not be created at {Directory}; git:// remotes are unavailable", agent, RelayDirectory);
        }
    }

    public string Agent { get; }
    public uint HostUid { get; }
    public string Workspace { get; }
    public string TrashDirectory { get; }
    public SandboxLimits Limits { get; }
    public ProcessManager Processes { get; }
    /// <summary>The agent's git relay (the worker's only way to a git daemon, ADR 0012); null when it could not be created.</summary>
    public GitRelay? Relay { get; }
    private string RelayDirectory { get; }
    /// <summary>The agent-wide cgroup carrying its limits; workers and processes are leaves below it.</summary>
    public CgroupGroup? AgentGroup { get; }
    private long OomCount() => (_workerGroup?.OomKills() ?? 0) + (AgentGroup?.OomKills() ?? 0);
    internal SandboxHost Host => _host;
    public string CgroupPath => _host.CgroupRoot + "/" + Agent;

    private int _stopped;

    /// <summary>Set once <see cref="StopAsync"/> began: nothing new starts for this sandbox any more.</summary>
    public bool Stopped => Volatile.Read(ref _stopped) != 0;

    /// <summary>What the last worker measured about Landlock ("applied (abi N)" when in force).</summary>
    public string WorkerLandlock { get; private set; } = "not started";

    /// <summary>What the last worker measured about its git layer ("applied" when in force).</summary>
    public string WorkerGitLandlock { get; private set; } = "not started";

    /// <summary>The Landlock states of the running worker, or null when none runs.</summary>
    public (string Worker, string Git)? RunningWorkerLandlock => _worker is { IsAlive: true } ? (WorkerLandlock, WorkerGitLandlock) : null;

    /// <summary>Measured start time of the last worker, for diagnostics and benchmarks.</summary>
    public TimeSpan LastWorkerStart { get; private set; }

    /// <summary>The agent's mounts whose source still resolves to itself (others are left out and logged).</summary>
    public IReadOnlyList<MountEntry> Mounts
    {
        get
        {
            var all = _host.Mounts.For(Agent);
            foreach (var m in all.Where(m => !MountTable.StillCanonical(m)))
                _host.Logger.LogError("Mount /mnt/{Label} of agent {Agent} is left out: its source {Source} no longer resolves to itself", m.Label, Agent, m.Source);
            return [.. all.Where(MountTable.StillCanonical)];
        }
    }

    private void PrepareDirectory(string dir)
    {
        Directory.CreateDirectory(dir);
        if (_host.Options.Disabled) return;
        // The parent (<data>/workspace, <data>/trash) is root's; the directory itself and all below it is the
        // agent's to change, so it is opened without following a symlink and walked fd by fd (SafeTree).
        using var parent = SafeTree.OpenTrusted(Path.GetDirectoryName(dir)!)
            ?? throw new IOException($"cannot open {Path.GetDirectoryName(dir)}");
        using var fd = SafeTree.OpenDirectory(parent.Value, Path.GetFileName(dir), anyDevice: true)
            ?? throw new IOException($"{dir} is not a plain directory (a symlink?): refusing to use it");
        // The agent's files belong to its own unprivileged host uid (ownership pitfall in sandbox-probe.md).
        if (SafeTree.Stat(fd.Value, null)?.Uid != HostUid)
        {
            var r = SafeTree.Chown(fd.Value, HostUid, HostUid);
            if (r.Skipped > 0) _host.Logger.LogWarning("{Dir}: {Skipped} entries were not given to agent {Agent} (symlinked, hard-linked, device or too deep)", dir, r.Skipped, Agent);
        }
        SafeTree.ChmodDirectory(fd.Value, 0x1C0); // 0700: no other uid (other agents included) may enter
    }

    public async Task<SandboxResult> CallWorkerAsync(string op, JsonElement args, JsonObject context, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        WorkerClient worker;
        try { worker = await EnsureWorkerAsync(ct).ConfigureAwait(false); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e) when (e is WorkerDiedException or IOException or InvalidOperationException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            _host.ReportFailure($"the worker of agent '{Agent}' could not start: {e.Message}");
            return SandboxResult.Fail(SandboxErrors.Unavailable("the sandboxed worker could not start: " + e.Message), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
        }
        try
        {
            var reply = await worker.CallAsync(op, args, context, ct).ConfigureAwait(false);
            var usage = ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds);
            if (reply.GetProperty("ok").GetBoolean()) return SandboxResult.Ok(reply.GetProperty("data").Clone(), usage);
            var error = reply.GetProperty("error").Deserialize<StructuredError>(KruxOS.Core.CoreJson.Options)!;
            var escape = reply.TryGetProperty("path_escape", out var pe) && pe.ValueKind == JsonValueKind.True;
            return SandboxResult.Fail(error, usage, escape);
        }
        catch (WorkerDiedException)
        {
            var usage = ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds);
            var ooms = OomCount();
            if (ooms > _oomBaseline)
            {
                _oomBaseline = ooms;
                return SandboxResult.Fail(SandboxErrors.ResourceExhausted("memory", SandboxErrors.Bytes(Limits.MemoryBytes), "limit reached (OOM kill)"), usage);
            }
            return SandboxResult.Fail(SandboxErrors.Crashed(worker.LastStderr.Length > 0 ? worker.LastStderr : "worker exited"), usage);
        }
    }

    private async Task<WorkerClient> EnsureWorkerAsync(CancellationToken ct)
    {
        var current = _worker;
        if (current is { IsAlive: true }) return current;
        await _startLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_worker is { IsAlive: true } w) return w;
            if (_worker is not null) { await _worker.DisposeAsync().ConfigureAwait(false); _worker = null; }
            if (Stopped) throw new InvalidOperationException($"the sandbox of agent '{Agent}' was stopped");
            var sw = Stopwatch.StartNew();
            var process = StartWorkerProcess();
            _worker = await WorkerClient.AttachAsync(process, OnWorkerEvent,
                line => _host.Logger.LogDebug("worker {Agent}: {Line}", Agent, line), _host.Options.WorkerStartTimeout, ct).ConfigureAwait(false);
            LastWorkerStart = sw.Elapsed;
            WorkerLandlock = _worker.Landlock;
            WorkerGitLandlock = _worker.GitLandlock;
            _host.Logger.LogInformation("Sandboxed worker of agent {Agent} started in {Ms:0} ms (pid {Pid}, landlock: {Landlock}, git processes: {GitLandlock})",
                Agent, sw.Elapsed.TotalMilliseconds, _worker.Pid, _worker.Landlock, _worker.GitLandlock);
            return _worker;
        }
        finally { _startLock.Release(); }
    }

    private Process StartWorkerProcess()
    {
        var o = _host.Options;
        var workerDir = o.WorkerDirectory ?? AppContext.BaseDirectory.TrimEnd('/');
        var dll = Path.Combine(workerDir, "KruxOS.SandboxWorker.dll");
        if (!File.Exists(dll)) throw new InvalidOperationException($"KruxOS.SandboxWorker.dll not found in {workerDir}");
        var dotnetRoot = _host.DotnetRoot;
        var env = new Dictionary<string, string>
        {
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = "/tmp",
            ["LANG"] = "C.UTF-8",
            ["DOTNET_ROOT"] = o.Disabled ? dotnetRoot : "/opt/kruxos/dotnet",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_EnableDiagnostics"] = "0",
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_TieredPGO"] = "0",
        };
        if (o.Disabled)
        {
            var cmd = new List<string> { Path.Combine(dotnetRoot, "dotnet"), dll, "--agent", Agent, "--trash", TrashDirectory, "--root", "/workspace=" + Workspace };
            if (Relay is not null) cmd.AddRange(["--git-relay", Relay.SocketPath]);
            foreach (var m in Mounts) { cmd.Add("--mount"); cmd.Add($"{m.Target}={m.Source}{(m.ReadOnly ? ":ro" : string.Empty)}"); }
            return Launcher.StartUnconfined(cmd, Workspace, env);
        }
        _workerGroup ??= _host.Cgroups!.Create(CgroupPath + "/worker", null);
        _oomBaseline = OomCount();
        var command = new List<string> { "/opt/kruxos/dotnet/dotnet", "/opt/kruxos/worker/KruxOS.SandboxWorker.dll", "--agent", Agent, "--trash", "/trash", "--root", "/workspace=/workspace" };
        if (Relay is not null) command.AddRange(["--git-relay", GitRelay.InsidePath]);
        if (o.WorkerLandlock) command.Add("--landlock");
        var mounts = Mounts;
        foreach (var m in mounts) { command.Add("--mount"); command.Add($"{m.Target}={m.Target}{(m.ReadOnly ? ":ro" : string.Empty)}"); }
        var spec = new LaunchSpec(Agent, HostUid, Workspace, mounts,
            Relay is null ? [(dotnetRoot, "/opt/kruxos/dotnet"), .. WorkerFiles.Binds(workerDir)]
                : [(dotnetRoot, "/opt/kruxos/dotnet"), .. WorkerFiles.Binds(workerDir), (RelayDirectory, GitRelay.InsideDirectory)],
            [(TrashDirectory, "/trash")],
            "/workspace", command, env, _workerGroup, Worker: true);
        return _host.Launcher.Start(spec);
    }

    /// <summary>The walk guards of this agent's watches under a path rule (ADR 0028), by watch id: an event about an entry
    /// the rule holds back is never published.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, WalkGuard> WatchGuards { get; } = new(StringComparer.Ordinal);

    private void OnWorkerEvent(JsonElement data)
    {
        if (!Core.Agents.AgentName.TryParse(Agent, out var name, out _)) return;
        var watchId = data.GetProperty("watch_id").GetString() ?? string.Empty;
        var path = data.GetProperty("path").GetString() ?? string.Empty;
        var oldPath = data.TryGetProperty("old_path", out var op) && op.ValueKind == JsonValueKind.String ? op.GetString() : null;
        if (WatchGuards.TryGetValue(watchId, out var guard) && (guard("path", path) is not null || (oldPath is not null && guard("path", oldPath) is not null)))
            return;
        var evt = new FileWatchEvent(name, watchId,
            data.GetProperty("event_type").GetString() ?? string.Empty,
            path,
            oldPath,
            data.TryGetProperty("timestamp", out var ts) && DateTimeOffset.TryParse(ts.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var t) ? t : DateTimeOffset.UtcNow);
        _host.PublishWatchEvent(evt);
    }

    /// <summary>Stops the worker (next call starts a fresh one, e.g. to pick up mount changes).</summary>
    public async Task StopWorkerAsync()
    {
        await _startLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_worker is not null) { await _worker.DisposeAsync().ConfigureAwait(false); _worker = null; }
            _workerGroup?.KillAll();
        }
        finally { _startLock.Release(); }
    }

    /// <summary>
    /// Stops everything of this sandbox (once): no new process or worker starts after the flag is set, running
    /// processes and the worker are killed, and the agent's whole cgroup subtree is emptied and removed. Returns how
    /// many processes were killed.
    /// </summary>
    public async Task<int> StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return 0;
        var killed = await Processes.StopAllAsync().ConfigureAwait(false);
        if (_worker is { IsAlive: true }) killed++;
        await StopWorkerAsync().ConfigureAwait(false);
        if (Relay is not null) await Relay.DisposeAsync().ConfigureAwait(false);
        _workerGroup?.Remove();
        AgentGroup?.Remove();
        if (!_host.Options.Disabled) killed += _host.Cgroups?.RemoveTree(CgroupPath) ?? 0;
        return killed;
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
