using System.Text.Json;
using System.Threading.Channels;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Health;

namespace KruxOS.Sandbox;

/// <summary>
/// Runs sandboxed capabilities (filesystem, process, git) for agents. One instance per gateway; it
/// keeps a warm confined worker per agent. Calls are safe to run concurrently and to abandon:
/// a ToolRun actor does <c>ExecuteAsync(req, cts.Token).PipeTo(Self)</c> and cancels the token in
/// <c>PostStop</c>. Failures come back as <see cref="SandboxResult.Error"/>; only cancellation through
/// the token throws (<see cref="OperationCanceledException"/>).
/// </summary>
public interface ISandbox : IAsyncDisposable
{
    /// <summary>Runs one validated capability call inside the agent's sandbox.</summary>
    Task<SandboxResult> ExecuteAsync(SandboxRequest request, CancellationToken ct);

    /// <summary>Whether this sandbox executes the capability (filesystem.*, process.*, git.*).</summary>
    bool Handles(CapabilityName capability);

    /// <summary>Current confinement health (check <c>sandbox-confinement</c>).</summary>
    SandboxHealth Health { get; }

    /// <summary>Events of every active <c>filesystem.watch</c>, to forward to the owning agent's session.</summary>
    ChannelReader<FileWatchEvent> WatchEvents { get; }

    /// <summary>The end of every <c>process.run</c> process on this node (completed, killed, timed out; foreground and background).</summary>
    ChannelReader<ProcessExitEvent> ProcessExits { get; }

    /// <summary>Ends an agent's sandbox: kills its background processes, drops its watches and stops its worker.</summary>
    Task StopAgentAsync(AgentName agent, CancellationToken ct);

    /// <summary>
    /// The canonical paths (symbolic links resolved, inside the agent's workspace and mounts) that <paramref name="capability"/>
    /// would really open for each path in <paramref name="paths"/> (argument name → path as given), resolved by the agent's
    /// worker exactly as the operation resolves them: <c>{"paths": {argument: canonical path}}</c>, or an error such as
    /// <c>PathOutOfScope</c>. The policy decides on these paths, and the call then runs on them with
    /// <see cref="SandboxRequest.PathsDecided"/> set (ADR 0023).
    /// </summary>
    Task<SandboxResult> ResolvePathsAsync(AgentName agent, CapabilityName capability, IReadOnlyDictionary<string, string> paths, CancellationToken ct);

    /// <summary>
    /// One stage of a file written from content the gateway streams in (<c>network.download</c>): <paramref name="stage"/>
    /// is <c>{stage: begin|chunk|commit|abort, path, temp, content (base64), overwrite, expected_checksum}</c>. The agent's
    /// worker does every stage as the agent, with the path rules of <c>filesystem.write</c>; <paramref name="pathsDecided"/>
    /// as for <see cref="SandboxRequest.PathsDecided"/>.
    /// </summary>
    Task<SandboxResult> StreamFileAsync(AgentName agent, JsonElement stage, bool pathsDecided, TimeSpan timeout, CancellationToken ct);

    /// <summary>
    /// Stops everything the agent runs on this node (processes, watches, worker, and anything left in its cgroup or
    /// running as its host uid). With <paramref name="hold"/> its later sandboxed calls are refused until
    /// <see cref="ReleaseAgent"/>: revocation and pause hold; kill and mount changes do not.
    /// </summary>
    Task<AgentStopReport> StopAgentAsync(AgentName agent, bool hold, CancellationToken ct);

    /// <summary>Lets a held agent's sandboxed calls run again.</summary>
    void ReleaseAgent(AgentName agent);
}

/// <summary>What stopping an agent's sandbox on one node did.</summary>
/// <param name="Agent">The agent.</param>
/// <param name="ProcessesKilled">Processes killed (tracked processes, the worker, leftovers in its cgroup or with its uid).</param>
/// <param name="Held">Whether its calls are now refused until released.</param>
public sealed record AgentStopReport(string Agent, int ProcessesKilled, bool Held);

/// <summary>Who a call acts for; decides trash retention (spec §12.4).</summary>
public enum CallerKind
{
    /// <summary>An agent session (24 h trash retention by default).</summary>
    Agent,
    /// <summary>A human user principal (168 h).</summary>
    User,
}

/// <summary>Resource limits of a sandbox or of one process.run call.</summary>
/// <param name="MemoryBytes">Memory ceiling, no swap.</param>
/// <param name="CpuCores">CPU bandwidth in cores (0.5 = half of one core).</param>
/// <param name="Pids">Maximum number of processes and threads.</param>
public sealed record SandboxLimits(long MemoryBytes, double CpuCores, int Pids)
{
    /// <summary>The spec defaults: 512 MiB, 50 % of a core, 100 pids.</summary>
    public static readonly SandboxLimits Default = new(512L * 1024 * 1024, 0.5, 100);
}

/// <summary>One sandboxed call.</summary>
/// <param name="Agent">The agent the call runs for (selects the workspace, mounts, limits and host uid).</param>
/// <param name="Capability">A filesystem.*, process.* or git.* capability.</param>
/// <param name="Arguments">Arguments already validated by <c>ArgumentValidator</c> (defaults filled in).</param>
/// <param name="Timeout">Overall deadline of the call; null uses <see cref="SandboxOptions.DefaultCallTimeout"/>. process.run uses its own timeout argument.</param>
/// <param name="Caller">Agent or user, for trash retention.</param>
/// <param name="GitRemotes">The remotes the caller's policy allows (git.clone/pull/push); null allows none.</param>
/// <param name="PathsDecided">The path arguments are the canonical paths the policy decided on
/// (<see cref="ISandbox.ResolvePathsAsync"/>): each must still resolve to itself, or the call fails closed with
/// <c>PathOutOfScope</c> instead of following a link that appeared since.</param>
/// <param name="WalkGuard">For a call that walks a tree (<see cref="KruxOS.Core.Policy.WalkPolicy.ShapeOf"/>): decides each entry
/// the walk reaches, given the argument it is reached through and its canonical agent path; null lets it be opened,
/// an error holds it back (ADR 0028). Null when no path rule can hold anything back.</param>
public sealed record SandboxRequest(AgentName Agent, CapabilityName Capability, JsonElement Arguments, TimeSpan? Timeout = null, CallerKind Caller = CallerKind.Agent,
    KruxOS.Core.Policy.GitRemoteAllowlist? GitRemotes = null, bool PathsDecided = false, WalkGuard? WalkGuard = null);

/// <summary>Decides one entry a walk reaches (ADR 0028): null when it may be opened, else the refusal naming it.</summary>
public delegate StructuredError? WalkGuard(string argument, string path);

/// <summary>Resources a call consumed, where measurable (null when the mechanism does not report it).</summary>
public sealed record ResourceUsage(long? CpuMs, long? MemoryPeakBytes, long? IoReadBytes, long? IoWriteBytes, double DurationMs)
{
    public static ResourceUsage Elapsed(double ms) => new(null, null, null, null, ms);
}

/// <summary>The outcome of a sandboxed call: exactly one of <see cref="Data"/> and <see cref="Error"/> is set.</summary>
/// <param name="Data">The capability's output object on success.</param>
/// <param name="Error">The structured error on failure.</param>
/// <param name="Usage">Measured resource usage.</param>
/// <param name="PathEscape">True when the call tried to leave the agent's scope; the caller emits a <c>path_escape</c> audit event.</param>
public sealed record SandboxResult(JsonElement? Data, StructuredError? Error, ResourceUsage Usage, bool PathEscape = false)
{
    public bool IsSuccess => Error is null;
    public static SandboxResult Ok(JsonElement data, ResourceUsage usage) => new(data, null, usage);
    public static SandboxResult Fail(StructuredError error, ResourceUsage usage, bool escape = false) => new(null, error, usage, escape);
}

/// <summary>A file system change seen by a <c>filesystem.watch</c> of <paramref name="Agent"/>.</summary>
/// <param name="Agent">The watching agent.</param>
/// <param name="WatchId">The id returned by filesystem.watch.</param>
/// <param name="EventType">create, modify, delete or rename.</param>
/// <param name="Path">Agent-visible path.</param>
/// <param name="OldPath">Previous path for rename.</param>
/// <param name="Timestamp">When the worker saw it.</param>
public sealed record FileWatchEvent(AgentName Agent, string WatchId, string EventType, string Path, string? OldPath, DateTimeOffset Timestamp);

/// <summary>The end of a <c>process.run</c> process (foreground or background), as the sandbox host saw it.</summary>
/// <param name="Agent">Whose process it was.</param>
/// <param name="ProcessId">The id <c>process.run</c> returned.</param>
/// <param name="State">completed, killed or timed_out (set by the host, never by the process).</param>
/// <param name="ExitCode">The exit code of a completed process.</param>
/// <param name="Background">True for a <c>background</c> run.</param>
/// <param name="Timestamp">When the host saw it end.</param>
public sealed record ProcessExitEvent(AgentName Agent, string ProcessId, string State, int? ExitCode, bool Background, DateTimeOffset Timestamp);
