using System.Collections.Frozen;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Health;
using KruxOS.Sandbox.Processes;
using KruxOS.Sandbox.Isolation;
using KruxOS.Sandbox.Mounts;
using KruxOS.Sandbox.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KruxOS.Sandbox;

/// <summary>
/// The gateway's <see cref="ISandbox"/>: checks the isolation mechanisms once at construction,
/// keeps one <see cref="AgentSandbox"/> per agent, routes filesystem/git calls to the agent's warm
/// worker and process calls to its process manager. When a mechanism is missing every call fails
/// closed with <c>SandboxUnavailable</c> and <see cref="Health"/> is critical.
/// </summary>
public sealed class SandboxHost : ISandbox
{
    private readonly ConcurrentDictionary<string, AgentSlot> _agents = new(StringComparer.Ordinal);
    private readonly Channel<FileWatchEvent> _watchEvents = Channel.CreateBounded<FileWatchEvent>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = false });
    private readonly Channel<ProcessExitEvent> _processExits = Channel.CreateBounded<ProcessExitEvent>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = false });
    private readonly HostUidMap? _uids;
    private readonly string? _setupFailure;
    private readonly object _gate = new();
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _started = new(StringComparer.Ordinal);
    private volatile string? _lastFailure;
    private int _disposed;

    /// <summary>Creates the sandbox; never throws for a missing mechanism (it reports it instead).</summary>
    public SandboxHost(SandboxOptions options, MountTable? mounts = null, ILogger<SandboxHost>? logger = null)
    {
        Options = options;
        Logger = logger ?? NullLogger<SandboxHost>.Instance;
        // The data directory stays private (0700): sandboxes reach what they need through the launcher's staging.
        if (!Directory.Exists(options.DataDirectory)) PrivateFiles.CreateDirectory(options.DataDirectory);
        Mounts = mounts ?? MountTable.Load(options.DataDirectory);
        Launcher = new Launcher(options);
        DotnetRoot = options.DotnetRoot ?? DetectDotnetRoot();
        if (options.Disabled)
        {
            Logger.LogCritical("SANDBOX DISABLED (Sandbox:Disabled=true): filesystem, process and git capabilities run UNCONFINED as the gateway user. Development only; never use this in production.");
            return;
        }
        _setupFailure = CheckSetup(out var cgroups, out var cgroupDetail) ?? PrepareDirectories() ?? ClaimInstance(out _uids);
        Cgroups = cgroups;
        if (_setupFailure is null)
        {
            // Measure rather than assume: a probe sandbox must show every mechanism active (same check as
            // `kruxos sandbox diagnose`), e.g. kernels that forbid unprivileged user namespaces fail here.
            StartupDiagnostics = SandboxDiagnostics.Run(options, Instance);
            if (!StartupDiagnostics.AllActive)
                _setupFailure = "confinement probe failed: " + string.Join("; ", StartupDiagnostics.Mechanisms.Where(m => m.Required && !m.Active).Select(m => $"{m.Name} ({m.Detail})")
                    .Concat(StartupDiagnostics.Advisories.Where(a => a.Verdict == AdvisoryVerdict.Exposed).Select(a => $"bubblewrap {a.Installed} exposed to {a.Id} ({a.Reason})")));
        }
        if (_setupFailure is not null) Logger.LogCritical("Sandbox unavailable, sandboxed capabilities will be refused: {Reason}", _setupFailure);
        else Logger.LogInformation("Sandbox ready: bubblewrap, seccomp ({Seccomp}), {Cgroups}; instance {Instance}, host uids {Uids}, cgroup {Cgroup}",
            Seccomp.Program.Detail, cgroupDetail, Instance!.Id, Instance.Uids, CgroupRoot);
    }

    /// <summary>The probe run at start (null when disabled or when a prerequisite was missing before probing).</summary>
    public DiagnosticsReport? StartupDiagnostics { get; }

    /// <summary>Options in effect.</summary>
    public SandboxOptions Options { get; }

    /// <summary>The operator's host mounts.</summary>
    public MountTable Mounts { get; }

    /// <summary>This data directory's sandbox instance on the host: its id (cgroup subtree) and host uid range (ADR 0019); null when disabled or not set up.</summary>
    internal SandboxInstance? Instance { get; private set; }

    /// <summary>The cgroup subtree this gateway owns, relative to its own cgroup: <c>&lt;CgroupName&gt;/&lt;instance id&gt;</c>.</summary>
    internal string CgroupRoot => Options.CgroupName + "/" + (Instance?.Id ?? "unconfined");

    internal ILogger Logger { get; }
    internal Launcher Launcher { get; }
    internal Cgroups? Cgroups { get; }
    internal string DotnetRoot { get; }

    /// <inheritdoc />
    public ChannelReader<FileWatchEvent> WatchEvents => _watchEvents.Reader;

    /// <inheritdoc />
    public ChannelReader<ProcessExitEvent> ProcessExits => _processExits.Reader;

    /// <inheritdoc />
    public SandboxHealth Health =>
        Options.Disabled ? new SandboxHealth(SandboxHealthStatus.Critical, "sandbox disabled by configuration (Sandbox:Disabled): capabilities run unconfined", true, null)
        : _setupFailure is not null ? new SandboxHealth(SandboxHealthStatus.Critical, "sandbox unavailable, sandboxed capabilities are refused: " + _setupFailure, false, Cgroups?.Version)
        : _lastFailure is { } f ? new SandboxHealth(SandboxHealthStatus.Degraded, f, false, Cgroups?.Version)
        : LandlockReport.Summarize(Options.WorkerLandlock, RunningWorkerLandlock()) is var (landlockDegraded, landlock) && landlockDegraded
            ? new SandboxHealth(SandboxHealthStatus.Degraded, $"bubblewrap namespaces, seccomp and cgroup {Cgroups!.Version} limits active; {landlock}; {StartupDiagnostics?.AdvisorySummary ?? "advisories not checked"}", false, Cgroups.Version)
            : new SandboxHealth(SandboxHealthStatus.Healthy, $"bubblewrap namespaces, seccomp and cgroup {Cgroups!.Version} limits active; {landlock}; {StartupDiagnostics?.AdvisorySummary ?? "advisories not checked"}", false, Cgroups.Version);

    // What each running worker measured in itself when it started (per-worker truth, not the option).
    private List<(string Agent, string Worker, string Git)> RunningWorkerLandlock() =>
        [.. _agents.Where(a => a.Value.Sandbox.IsValueCreated).Select(a => (a.Key, State: a.Value.Sandbox.Value.RunningWorkerLandlock))
            .Where(x => x.State is not null).Select(x => (x.Key, x.State!.Value.Worker, x.State!.Value.Git))];

    internal void ReportFailure(string message)
    {
        _lastFailure = message;
        Logger.LogError("Sandbox: {Message}", message);
    }

    /// <inheritdoc />
    public bool Handles(CapabilityName capability) => Operations.Contains(capability.Value);

    /// <summary>
    /// Every capability this host executes: its process operations (<see cref="ProcessManager.Operations"/>) and what the
    /// warm worker dispatches (<see cref="KruxOS.SandboxWorker.Ops.WorkerCapabilities.Names"/>, Linux only, like the
    /// worker), read from the code that runs them.
    /// </summary>
    public static FrozenSet<string> Operations { get; } =
        (OperatingSystem.IsLinux() ? ProcessManager.Operations.Concat(KruxOS.SandboxWorker.Ops.WorkerCapabilities.Names) : ProcessManager.Operations)
        .ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The host uid the agent's files and processes run as (for tests and the operator CLI).</summary>
    public uint HostUidFor(AgentName agent) =>
        Options.Disabled ? Libc.geteuid()
        : _uids?.For(agent.Value) ?? throw new InvalidOperationException("the sandbox is unavailable: " + _setupFailure);

    /// <summary>The instance id and host uid range of this data directory's sandboxes (null when disabled or unavailable).</summary>
    public (string Id, uint FirstUid, uint LastUid)? InstanceInfo => Instance is { } i ? (i.Id, i.Uids.First, i.Uids.Last) : null;

    /// <summary>The cgroup directory of an agent's subtree relative to the gateway's own cgroup (for tests and diagnostics).</summary>
    public string CgroupPathOf(AgentName agent) => CgroupRoot + "/" + agent.Value;

    /// <summary>The host path of an agent's workspace (created on first use).</summary>
    public string WorkspaceOf(AgentName agent) => Agent(agent.Value).Workspace;

    /// <summary>Landlock state the agent's current worker measured in itself ("applied (abi N)" when in force).</summary>
    public string WorkerLandlock(AgentName agent) => Agent(agent.Value).WorkerLandlock;

    /// <summary>Landlock state of the git processes of the agent's current worker ("applied" when in force).</summary>
    public string WorkerGitLandlock(AgentName agent) => Agent(agent.Value).WorkerGitLandlock;

    /// <summary>Start time of the agent's current worker (zero before the first call).</summary>
    public TimeSpan WorkerStartTime(AgentName agent) => Agent(agent.Value).LastWorkerStart;

    private AgentSandbox Agent(string name) => Slot(name).Sandbox.Value;

    private AgentSlot Slot(string name) =>
        _agents.GetOrAdd(name, n => new AgentSlot(new Lazy<AgentSandbox>(() =>
        {
            _started.TryAdd(n, 0);
            return new AgentSandbox(this, n, HostUidFor(AgentName.Parse(n)));
        })));

    /// <summary>
    /// The agent's sandbox for a call, or null when the agent is held (<see cref="StopAgentAsync(AgentName, bool, CancellationToken)"/>).
    /// The held check and the lookup happen under the gate that stopping takes, and a sandbox created for a slot that
    /// was stopped meanwhile is stopped here: no call can start anything after the agent was stopped.
    /// </summary>
    private AgentSandbox? ForCall(string name)
    {
        AgentSlot slot;
        lock (_gate)
        {
            if (_held.Contains(name)) return null;
            slot = Slot(name);
        }
        var sandbox = slot.Sandbox.Value;
        if (!slot.Stopped) return sandbox;
        _ = sandbox.StopAsync();
        return null;
    }

    /// <summary>One agent's entry: its sandbox (created on first use) and whether it has been stopped.</summary>
    private sealed class AgentSlot(Lazy<AgentSandbox> sandbox)
    {
        private int _stopped;
        public Lazy<AgentSandbox> Sandbox { get; } = sandbox;
        public bool Stopped => Volatile.Read(ref _stopped) != 0;
        public void MarkStopped() => Interlocked.Exchange(ref _stopped, 1);
    }

    /// <inheritdoc />
    public async Task<SandboxResult> ExecuteAsync(SandboxRequest request, CancellationToken ct)
    {
        try { return await ExecuteCoreAsync(request, ct).ConfigureAwait(false); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Never let a sandbox failure become an exception in the caller's actor: fail closed with a result.
            Logger.LogError(e, "Sandboxed {Capability} of agent {Agent} failed unexpectedly", request.Capability.Value, request.Agent.Value);
            return SandboxResult.Fail(Errors.Internal($"the sandboxed call failed: {e.GetType().Name}"), ResourceUsage.Elapsed(0));
        }
    }

    private async Task<SandboxResult> ExecuteCoreAsync(SandboxRequest request, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        if (!Handles(request.Capability))
            return SandboxResult.Fail(Errors.UnknownCapability(request.Capability.Value), ResourceUsage.Elapsed(0));
        if (_setupFailure is not null)
            return SandboxResult.Fail(SandboxErrors.Unavailable(_setupFailure), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
        if (Volatile.Read(ref _disposed) != 0)
            return SandboxResult.Fail(SandboxErrors.Unavailable("the gateway is shutting down"), ResourceUsage.Elapsed(0));

        AgentSandbox? found;
        try { found = ForCall(request.Agent.Value); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            _agents.TryRemove(request.Agent.Value, out _);
            ReportFailure($"sandbox of agent '{request.Agent}' could not be prepared: {e.Message}");
            return SandboxResult.Fail(SandboxErrors.Unavailable("the agent's sandbox could not be prepared: " + e.Message), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
        }
        if (found is not { } agent)
            return SandboxResult.Fail(SandboxErrors.Stopped(request.Agent.Value), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));

        var name = request.Capability.Value;
        if (ProcessManager.Operations.Contains(name)) return await agent.Processes.ExecuteAsync(name, request.Arguments, ct).ConfigureAwait(false);

        var timeout = request.Timeout ?? Options.DefaultCallTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        var context = new JsonObject
        {
            ["agent"] = request.Agent.Value,
            ["trash_retention_hours"] = request.Caller == CallerKind.User ? Options.UserTrashRetentionHours : Options.AgentTrashRetentionHours,
            ["memory_limit"] = SandboxErrors.Bytes(agent.Limits.MemoryBytes),
            ["git_remotes"] = GitRemotesJson(request.GitRemotes ?? Core.Policy.GitRemoteAllowlist.None),
            ["paths_decided"] = request.PathsDecided,
        };
        // A call that may reach a remote (its definition says so, and the request carries the remotes its policy allows)
        // opens the agent's relay for exactly those remotes.
        using var grant = request.GitRemotes is { } remotes ? agent.Relay?.Grant(remotes) : null;
        if (grant is not null) context["relay_token"] = grant.Token;
        try
        {
            // A walk under a path rule opens only the entries the rule lets through (ADR 0028); a watch reports only those.
            var shape = request.WalkGuard is null ? null : Core.Policy.WalkPolicy.ShapeOf(name, request.Arguments);
            if (shape is not null && name != "filesystem.watch")
            {
                var (allowed, refusal) = await Worker.WalkGate.DecideAsync(agent, name, request.Arguments, shape, request.WalkGuard!, request.PathsDecided, deadline.Token).ConfigureAwait(false);
                if (refusal is not null) return refusal;
                context["walk_allowed"] = allowed;
            }
            var result = await agent.CallWorkerAsync(name, request.Arguments, context, deadline.Token).ConfigureAwait(false);
            if (shape is not null && name == "filesystem.watch" && result.Data is { } watch
                && watch.TryGetProperty("watch_id", out var id) && id.ValueKind == JsonValueKind.String)
                agent.WatchGuards[id.GetString()!] = request.WalkGuard!;
            return result;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return SandboxResult.Fail(Errors.Timeout(name, timeout.TotalSeconds), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
        }
    }

    private static JsonArray GitRemotesJson(Core.Policy.GitRemoteAllowlist allowed) =>
        new([.. allowed.Layers.Select(layer => (JsonNode)new JsonArray([.. layer.Select(r => (JsonNode)r!)]))]);

    /// <inheritdoc />
    public async Task<SandboxResult> ResolvePathsAsync(AgentName agent, CapabilityName capability, IReadOnlyDictionary<string, string> paths, CancellationToken ct)
    {
        if (_setupFailure is not null) return SandboxResult.Fail(SandboxErrors.Unavailable(_setupFailure), ResourceUsage.Elapsed(0));
        if (Volatile.Read(ref _disposed) != 0) return SandboxResult.Fail(SandboxErrors.Unavailable("the gateway is shutting down"), ResourceUsage.Elapsed(0));
        var query = new JsonObject { ["capability"] = capability.Value, ["paths"] = new JsonObject([.. paths.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))]) };
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(Options.DefaultCallTimeout);
            return await Agent(agent.Value).CallWorkerAsync("paths.resolve", JsonSerializer.SerializeToElement(query), new JsonObject(), deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return SandboxResult.Fail(Errors.Timeout(capability.Value, Options.DefaultCallTimeout.TotalSeconds), ResourceUsage.Elapsed(0));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            _agents.TryRemove(agent.Value, out _);
            return SandboxResult.Fail(SandboxErrors.Unavailable("the agent's sandbox could not be prepared: " + e.Message), ResourceUsage.Elapsed(0));
        }
    }

    /// <inheritdoc />
    public async Task<SandboxResult> StreamFileAsync(AgentName agent, JsonElement stage, bool pathsDecided, TimeSpan timeout, CancellationToken ct)
    {
        if (_setupFailure is not null) return SandboxResult.Fail(SandboxErrors.Unavailable(_setupFailure), ResourceUsage.Elapsed(0));
        if (Volatile.Read(ref _disposed) != 0) return SandboxResult.Fail(SandboxErrors.Unavailable("the gateway is shutting down"), ResourceUsage.Elapsed(0));
        AgentSandbox? found;
        try { found = ForCall(agent.Value); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            _agents.TryRemove(agent.Value, out _);
            return SandboxResult.Fail(SandboxErrors.Unavailable("the agent's sandbox could not be prepared: " + e.Message), ResourceUsage.Elapsed(0));
        }
        if (found is not { } sandbox) return SandboxResult.Fail(SandboxErrors.Stopped(agent.Value), ResourceUsage.Elapsed(0));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            return await sandbox.CallWorkerAsync("files.stream", stage, new JsonObject { ["agent"] = agent.Value, ["paths_decided"] = pathsDecided }, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return SandboxResult.Fail(Errors.Timeout("network.download", timeout.TotalSeconds), ResourceUsage.Elapsed(0));
        }
    }

    /// <summary>Stops an active filesystem.watch.</summary>
    public Task<SandboxResult> StopWatchAsync(AgentName agent, string watchId, CancellationToken ct)
    {
        var sandbox = Agent(agent.Value);
        sandbox.WatchGuards.TryRemove(watchId, out _);
        return sandbox.CallWorkerAsync("filesystem.unwatch", JsonSerializer.SerializeToElement(new { watch_id = watchId }), new JsonObject(), ct);
    }

    internal void PublishWatchEvent(FileWatchEvent evt) => _watchEvents.Writer.TryWrite(evt);

    internal void PublishProcessExit(ProcessExitEvent evt) => _processExits.Writer.TryWrite(evt);

    /// <inheritdoc />
    public async Task StopAgentAsync(AgentName agent, CancellationToken ct) => await StopAgentAsync(agent, hold: false, ct).ConfigureAwait(false);

    /// <summary>
    /// Stops everything the agent runs on this node: its background and foreground processes, watches and worker,
    /// then anything still in its cgroup subtree and any process left with its host uid (SIGKILL until none is
    /// left). Calls already in flight fail with <c>SandboxUnavailable</c>. With <paramref name="hold"/>, every later
    /// sandboxed call of the agent is refused until <see cref="ReleaseAgent"/> (revocation, pause); without it the
    /// next call starts a fresh sandbox (kill, mount changes).
    /// </summary>
    public async Task<AgentStopReport> StopAgentAsync(AgentName agent, bool hold, CancellationToken ct)
    {
        AgentSlot? slot;
        lock (_gate)
        {
            if (hold) _held.Add(agent.Value);
            _agents.TryRemove(agent.Value, out slot);
        }
        var stopped = 0;
        if (slot is not null)
        {
            slot.MarkStopped();
            if (slot.Sandbox.IsValueCreated) stopped += await slot.Sandbox.Value.StopAsync().ConfigureAwait(false);
        }
        stopped += Sweep(agent);
        if (stopped > 0 || slot is not null)
            Logger.LogInformation("Stopped the sandbox of agent {Agent}: {Count} process(es) killed{Held}", agent.Value, stopped, hold ? "; its calls are refused until it is released" : "");
        return new AgentStopReport(agent.Value, stopped, hold);
    }

    /// <summary>Lets a held agent's sandboxed calls run again (restore, resume).</summary>
    public void ReleaseAgent(AgentName agent)
    {
        lock (_gate) _held.Remove(agent.Value);
    }

    /// <summary>Whether the agent's sandboxed calls are refused (held).</summary>
    public bool IsHeld(AgentName agent)
    {
        lock (_gate) return _held.Contains(agent.Value);
    }

    // Whatever is left of the agent after its sandbox stopped (or without one in this process): its cgroup subtree and
    // every process with its uid, which this data directory's range gives to no one else on the host.
    private int Sweep(AgentName agent)
    {
        if (Options.Disabled || Cgroups is null || _uids is null) return 0;
        var killed = Cgroups.RemoveTree(CgroupPathOf(agent));
        // Nothing can run with the uid of an agent that never had a sandbox in this process (launches die with the gateway).
        if (_started.ContainsKey(agent.Value) && _uids.Find(agent.Value) is { } uid)
        {
            for (var attempt = 0; attempt < 50; attempt++)
            {
                var pids = HostProcesses.WithUidIn(uid, uid);
                if (pids.Count == 0) break;
                foreach (var pid in pids) if (Libc.kill(pid, Libc.SIGKILL) == 0) killed++;
                Thread.Sleep(20);
            }
        }
        return killed;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var (_, slot) in _agents)
        {
            slot.MarkStopped();
            if (slot.Sandbox.IsValueCreated) await slot.Sandbox.Value.StopAsync().ConfigureAwait(false);
        }
        _agents.Clear();
        // Only this data directory's subtree: another gateway on the host keeps its own (ADR 0019).
        if (Instance is not null && Cgroups is not null)
        {
            Cgroups.RemoveTree(CgroupRoot);
            Cgroups.RemoveIfEmpty(Options.CgroupName);
        }
        _watchEvents.Writer.TryComplete();
        _processExits.Writer.TryComplete();
    }

    private string? CheckSetup(out Cgroups? cgroups, out string cgroupDetail)
    {
        cgroups = null;
        cgroupDetail = string.Empty;
        if (OperatingSystem.IsWindows()) return "the sandbox needs Linux";
        if (!File.Exists(Options.BwrapPath)) return $"bubblewrap not found at {Options.BwrapPath} (install the 'bubblewrap' package)";
        if (!File.Exists(Options.SetprivPath)) return $"setpriv not found at {Options.SetprivPath} (util-linux)";
        if (!File.Exists(Options.UnsharePath)) return $"unshare not found at {Options.UnsharePath} (util-linux)";
        if (Seccomp.Program.Program is null) return "seccomp: " + Seccomp.Program.Detail;
        cgroups = Isolation.Cgroups.Detect(out cgroupDetail);
        if (cgroups is null) return "cgroups: " + cgroupDetail;
        var worker = Path.Combine(Options.WorkerDirectory ?? AppContext.BaseDirectory, "KruxOS.SandboxWorker.dll");
        if (!File.Exists(worker)) return "the sandbox worker is missing: " + worker;
        if (!File.Exists(Path.Combine(DotnetRoot, "dotnet"))) return "the .NET runtime was not found at " + DotnetRoot;
        return null;
    }

    /// <summary>
    /// The host's own directories, all private (0700, ADR 0018): the sandbox never needs the data directory to be
    /// traversable, because each launch binds what it needs from a staging mount of its own. The staging mount
    /// point itself is an empty root-owned directory. The synthetic /etc of earlier versions is no longer kept on disk.
    /// </summary>
    private string? PrepareDirectories()
    {
        try
        {
            foreach (var dir in new[] { Options.WorkspaceRoot, Path.Combine(Options.DataDirectory, "trash"), Path.Combine(Options.DataDirectory, "sandbox"),
                         Path.Combine(Options.DataDirectory, "sandbox", "relay") })
                PrivateFiles.CreateDirectory(dir);
            Launcher.RemoveLegacyEtc(Options.DataDirectory);
            return Launcher.PrepareStagingDirectory();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "the data directory could not be prepared: " + e.Message;
        }
    }

    private string? ClaimInstance(out HostUidMap? uids)
    {
        uids = null;
        try
        {
            Instance = SandboxInstance.Claim(Options, TimeSpan.FromSeconds(30));
            uids = new HostUidMap(Options.DataDirectory, Instance);
            if (Instance.PreviousUids is { } before)
                Logger.LogWarning("The sandbox uids of {DataDirectory} moved from {Before} to {After} (another data directory on this host holds the old range); agents' files are re-owned on their next use",
                    Options.DataDirectory, before, Instance.Uids);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.Text.Json.JsonException)
        {
            return "no host uid range could be claimed for this data directory: " + e.Message;
        }
    }

    internal static string DetectDotnetRoot()
    {
        // …/shared/Microsoft.NETCore.App/<version>/System.Private.CoreLib.dll → the root three levels up.
        var core = Path.GetDirectoryName(typeof(object).Assembly.Location);
        var root = core is null ? null : Path.GetFullPath(Path.Combine(core, "..", "..", ".."));
        if (root is not null && File.Exists(Path.Combine(root, "dotnet"))) return Libc.RealPath(root) ?? root;
        return Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? "/usr/share/dotnet";
    }
}
