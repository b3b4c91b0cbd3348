using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Health;
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
    private readonly ConcurrentDictionary<string, Lazy<AgentSandbox>> _agents = new(StringComparer.Ordinal);
    private readonly Channel<FileWatchEvent> _watchEvents = Channel.CreateBounded<FileWatchEvent>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = false });
    private readonly HostUidMap _uids;
    private readonly string? _setupFailure;
    private volatile string? _lastFailure;
    private int _disposed;

    /// <summary>Creates the sandbox; never throws for a missing mechanism (it reports it instead).</summary>
    public SandboxHost(SandboxOptions options, MountTable? mounts = null, ILogger<SandboxHost>? logger = null)
    {
        Options = options;
        Logger = logger ?? NullLogger<SandboxHost>.Instance;
        Directory.CreateDirectory(options.DataDirectory);
        Mounts = mounts ?? MountTable.Load(options.DataDirectory);
        _uids = new HostUidMap(options.DataDirectory, options.HostUidBase, options.HostUidCount);
        Launcher = new Launcher(options);
        DotnetRoot = options.DotnetRoot ?? DetectDotnetRoot();
        if (options.Disabled)
        {
            Logger.LogCritical("SANDBOX DISABLED (Sandbox:Disabled=true): filesystem, process and git capabilities run UNCONFINED as the gateway user. Development only; never use this in production.");
            return;
        }
        _setupFailure = CheckSetup(out var cgroups, out var cgroupDetail) ?? PrepareDataDirectories();
        Cgroups = cgroups;
        if (_setupFailure is null)
        {
            // Measure rather than assume: a probe sandbox must show every mechanism active (same check as
            // `kruxos sandbox diagnose`), e.g. kernels that forbid unprivileged user namespaces fail here.
            StartupDiagnostics = SandboxDiagnostics.Run(options);
            if (!StartupDiagnostics.AllActive)
                _setupFailure = "confinement probe failed: " + string.Join("; ", StartupDiagnostics.Mechanisms.Where(m => m.Required && !m.Active).Select(m => $"{m.Name} ({m.Detail})"));
        }
        if (_setupFailure is not null) Logger.LogCritical("Sandbox unavailable, sandboxed capabilities will be refused: {Reason}", _setupFailure);
        else
        {
            Launcher.PrepareEtc();
            Logger.LogInformation("Sandbox ready: bubblewrap, seccomp ({Seccomp}), {Cgroups}", Seccomp.Program.Detail, cgroupDetail);
        }
    }

    /// <summary>The probe run at start (null when disabled or when a prerequisite was missing before probing).</summary>
    public DiagnosticsReport? StartupDiagnostics { get; }

    /// <summary>Options in effect.</summary>
    public SandboxOptions Options { get; }

    /// <summary>The operator's host mounts.</summary>
    public MountTable Mounts { get; }

    internal ILogger Logger { get; }
    internal Launcher Launcher { get; }
    internal Cgroups? Cgroups { get; }
    internal string DotnetRoot { get; }

    /// <inheritdoc />
    public ChannelReader<FileWatchEvent> WatchEvents => _watchEvents.Reader;

    /// <inheritdoc />
    public SandboxHealth Health =>
        Options.Disabled ? new SandboxHealth(SandboxHealthStatus.Critical, "sandbox disabled by configuration (Sandbox:Disabled): capabilities run unconfined", true, null)
        : _setupFailure is not null ? new SandboxHealth(SandboxHealthStatus.Critical, "sandbox unavailable, sandboxed capabilities are refused: " + _setupFailure, false, Cgroups?.Version)
        : _lastFailure is { } f ? new SandboxHealth(SandboxHealthStatus.Degraded, f, false, Cgroups?.Version)
        : LandlockReport.Summarize(Options.WorkerLandlock, RunningWorkerLandlock()) is var (landlockDegraded, landlock) && landlockDegraded
            ? new SandboxHealth(SandboxHealthStatus.Degraded, $"bubblewrap namespaces, seccomp and cgroup {Cgroups!.Version} limits active; {landlock}", false, Cgroups.Version)
            : new SandboxHealth(SandboxHealthStatus.Healthy, $"bubblewrap namespaces, seccomp and cgroup {Cgroups!.Version} limits active; {landlock}", false, Cgroups.Version);

    // What each running worker measured in itself when it started (per-worker truth, not the option).
    private List<(string Agent, string Worker, string Git)> RunningWorkerLandlock() =>
        [.. _agents.Where(a => a.Value.IsValueCreated).Select(a => (a.Key, State: a.Value.Value.RunningWorkerLandlock))
            .Where(x => x.State is not null).Select(x => (x.Key, x.State!.Value.Worker, x.State!.Value.Git))];

    internal void ReportFailure(string message)
    {
        _lastFailure = message;
        Logger.LogError("Sandbox: {Message}", message);
    }

    /// <inheritdoc />
    public bool Handles(CapabilityName capability) => capability.Category is "filesystem" or "process" or "git";

    /// <summary>The host uid the agent's files and processes run as (for tests and the operator CLI).</summary>
    public uint HostUidFor(AgentName agent) => Options.Disabled ? Libc.geteuid() : _uids.For(agent.Value);

    /// <summary>The host path of an agent's workspace (created on first use).</summary>
    public string WorkspaceOf(AgentName agent) => Agent(agent.Value).Workspace;

    /// <summary>Landlock state the agent's current worker measured in itself ("applied (abi N)" when in force).</summary>
    public string WorkerLandlock(AgentName agent) => Agent(agent.Value).WorkerLandlock;

    /// <summary>Landlock state of the git processes of the agent's current worker ("applied" when in force).</summary>
    public string WorkerGitLandlock(AgentName agent) => Agent(agent.Value).WorkerGitLandlock;

    /// <summary>Start time of the agent's current worker (zero before the first call).</summary>
    public TimeSpan WorkerStartTime(AgentName agent) => Agent(agent.Value).LastWorkerStart;

    private AgentSandbox Agent(string name) =>
        _agents.GetOrAdd(name, n => new Lazy<AgentSandbox>(() => new AgentSandbox(this, n, HostUidFor(AgentName.Parse(n))))).Value;

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

        AgentSandbox agent;
        try { agent = Agent(request.Agent.Value); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            _agents.TryRemove(request.Agent.Value, out _);
            ReportFailure($"sandbox of agent '{request.Agent}' could not be prepared: {e.Message}");
            return SandboxResult.Fail(SandboxErrors.Unavailable("the agent's sandbox could not be prepared: " + e.Message), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
        }

        var name = request.Capability.Value;
        if (request.Capability.Category == "process")
        {
            return name switch
            {
                "process.run" => await agent.Processes.RunAsync(request.Arguments, ct).ConfigureAwait(false),
                "process.monitor" => agent.Processes.Monitor(request.Arguments),
                "process.kill" => await agent.Processes.KillAsync(request.Arguments, ct).ConfigureAwait(false),
                "process.list" => agent.Processes.List(request.Arguments),
                "process.logs" => agent.Processes.Logs(request.Arguments),
                _ => SandboxResult.Fail(Errors.UnknownCapability(name), ResourceUsage.Elapsed(0)),
            };
        }

        var timeout = request.Timeout ?? (request.Capability.Category == "git" ? TimeSpan.FromMinutes(5) : Options.DefaultCallTimeout);
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
        // A git call that may reach a remote opens the agent's relay for exactly the remotes its policy allows.
        using var grant = name is "git.clone" or "git.pull" or "git.push" ? agent.Relay?.Grant(request.GitRemotes ?? Core.Policy.GitRemoteAllowlist.None) : null;
        if (grant is not null) context["relay_token"] = grant.Token;
        try
        {
            return await agent.CallWorkerAsync(name, request.Arguments, context, deadline.Token).ConfigureAwait(false);
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

    /// <summary>Stops an active filesystem.watch.</summary>
    public Task<SandboxResult> StopWatchAsync(AgentName agent, string watchId, CancellationToken ct) =>
        Agent(agent.Value).CallWorkerAsync("filesystem.unwatch", JsonSerializer.SerializeToElement(new { watch_id = watchId }), new JsonObject(), ct);

    internal void PublishWatchEvent(FileWatchEvent evt) => _watchEvents.Writer.TryWrite(evt);

    /// <inheritdoc />
    public async Task StopAgentAsync(AgentName agent, CancellationToken ct)
    {
        if (!_agents.TryRemove(agent.Value, out var lazy) || !lazy.IsValueCreated) return;
        await lazy.Value.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var (_, lazy) in _agents)
            if (lazy.IsValueCreated) await lazy.Value.DisposeAsync().ConfigureAwait(false);
        _agents.Clear();
        Cgroups?.RemoveTree(Options.CgroupName);
        _watchEvents.Writer.TryComplete();
    }

    private string? CheckSetup(out Cgroups? cgroups, out string cgroupDetail)
    {
        cgroups = null;
        cgroupDetail = string.Empty;
        if (!File.Exists(Options.BwrapPath)) return $"bubblewrap not found at {Options.BwrapPath} (install the 'bubblewrap' package)";
        if (!File.Exists(Options.SetprivPath)) return $"setpriv not found at {Options.SetprivPath} (util-linux)";
        if (Seccomp.Program.Program is null) return "seccomp: " + Seccomp.Program.Detail;
        cgroups = Isolation.Cgroups.Detect(out cgroupDetail);
        if (cgroups is null) return "cgroups: " + cgroupDetail;
        var worker = Path.Combine(Options.WorkerDirectory ?? AppContext.BaseDirectory, "KruxOS.SandboxWorker.dll");
        if (!File.Exists(worker)) return "the sandbox worker is missing: " + worker;
        if (!File.Exists(Path.Combine(DotnetRoot, "dotnet"))) return "the .NET runtime was not found at " + DotnetRoot;
        return null;
    }

    /// <summary>
    /// bubblewrap runs as the agent's uid and must traverse to the directories it binds: give the data
    /// directory and its sandbox subtrees search (x) permission for others, never read permission.
    /// </summary>
    private string? PrepareDataDirectories()
    {
        if (OperatingSystem.IsWindows()) return "the sandbox needs Linux";
        foreach (var dir in new[] { Options.DataDirectory, Options.WorkspaceRoot, Path.Combine(Options.DataDirectory, "trash"), Path.Combine(Options.DataDirectory, "sandbox") })
        {
            Directory.CreateDirectory(dir);
            var mode = File.GetUnixFileMode(dir);
            if ((mode & UnixFileMode.OtherExecute) == 0 && Libc.chmod(dir, (uint)(mode | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute)) != 0)
                return $"cannot make {dir} traversable for the sandbox users";
        }
        for (var dir = Path.GetDirectoryName(Path.GetFullPath(Options.DataDirectory)); dir is not null; dir = Path.GetDirectoryName(dir))
            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0) return $"{dir} is not traversable by unprivileged users (chmod o+x), so sandboxes cannot reach the workspaces";
        return null;
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
