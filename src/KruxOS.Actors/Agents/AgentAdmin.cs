using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Identity;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Identity;

namespace KruxOS.Actors.Agents;

/// <summary>An agent as the admin surfaces show it: its identity record and what this node saw it do.</summary>
public sealed record AgentView(AgentRecord Agent, AgentActivityView Activity);

/// <summary>One agent in detail (<c>agent.show</c>): the view and where its workspace appears inside its sandbox.</summary>
public sealed record AgentDetails(AgentView View, string WorkspacePath);

/// <summary>An agent with a freshly issued token, shown exactly once (create, rotate, restore).</summary>
public sealed record AgentIssued(AgentView Agent, string Token);

/// <summary>A revoked agent; <paramref name="SandboxStopped"/>: everything it ran on this node has been stopped and stays held.</summary>
public sealed record AgentRevocation(AgentView Agent, bool SandboxStopped);

/// <summary>What <c>kill</c> ended: the agent's connections and its sandboxed processes on this node.</summary>
public sealed record KillResult(string Agent, int ConnectionsClosed, int ProcessesStopped);

/// <summary>
/// Agent administration for every adapter (control socket, User API, dashboard). Tokens are generated here, handed to the
/// identity registry only as hashes, and returned to the caller exactly once.
/// </summary>
public sealed class AgentAdmin(
    IdentityAdminCalls identity,
    IRequiredActor<AgentSessionRegion> sessions,
    IRequiredActor<SandboxHousekeeping> sandboxes,
    IdentityDirectory directory,
    AgentActivity activity,
    TimeProvider clock)
{
    /// <summary>Stopping waits for every killed process to be reaped (each at most 10 s); allow it more than a plain request.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Every agent this node knows, in the directory's order.</summary>
    public IReadOnlyList<AgentView> List() => [.. directory.Current.Agents.Values.Select(View)];

    /// <summary>One agent by name.</summary>
    public AdminResult<AgentDetails> Show(string name) =>
        directory.Current.Agents.TryGetValue(name, out var agent)
            ? new AgentDetails(View(agent), Workspace.AgentPath)
            : AdminErrors.NotFound($"agent '{name}' not found");

    /// <summary>Registers a new agent and issues its first token.</summary>
    public Task<AdminResult<AgentIssued>> CreateAsync(string? name, string purpose, CancellationToken ct) => AdminCalls.Guarded(async () =>
    {
        if (!AgentName.TryParse(name, out _, out var why)) return AdminErrors.InvalidInput(why);
        return await IssueAsync(hash => new IdentityCommands.CreateAgent(name!, purpose, hash, clock.GetUtcNow()), ct).ConfigureAwait(false);
    });

    /// <summary>Replaces the agent's token (the old one stops working at once).</summary>
    public Task<AdminResult<AgentIssued>> RotateAsync(string name, CancellationToken ct) =>
        AdminCalls.Guarded(() => IssueAsync(hash => new IdentityCommands.RotateAgentToken(name, hash, clock.GetUtcNow()), ct));

    /// <summary>Makes a revoked agent usable again, with a new token.</summary>
    public Task<AdminResult<AgentIssued>> RestoreAsync(string name, CancellationToken ct) =>
        AdminCalls.Guarded(() => IssueAsync(hash => new IdentityCommands.RestoreAgent(name, hash, clock.GetUtcNow()), ct));

    /// <summary>Revokes the agent, then stops and holds everything it runs.</summary>
    public Task<AdminResult<AgentRevocation>> RevokeAsync(string name, CancellationToken ct) => AdminCalls.Guarded<AgentRevocation>(async () =>
    {
        var result = await identity.AskAsync(new IdentityCommands.RevokeAgent(name, clock.GetUtcNow()), ct).ConfigureAwait(false);
        if (!result.IsOk) return AdminErrors.FromIdentity(result.Code, result.Message);
        // Its sessions are already terminated; now everything it runs stops, and its calls stay refused (every node
        // also holds it as soon as its identity read model shows the revocation).
        await StopSandboxesAsync(name, hold: true, "agent revoked", ct).ConfigureAwait(false);
        return new AgentRevocation(View(result.Agent!), SandboxStopped: true);
    });

    /// <summary>Ends the agent's connections and its sandboxed processes; its token stays valid (the next call starts afresh).</summary>
    public Task<AdminResult<KillResult>> KillAsync(string? name, CancellationToken ct) => AdminCalls.Guarded<KillResult>(async () =>
    {
        if (!AgentName.TryParse(name, out var agent, out var why)) return AdminErrors.InvalidInput(why);
        if (!directory.Current.Agents.ContainsKey(agent.Value)) return AdminErrors.NotFound($"agent '{agent}' not found");
        var region = await sessions.GetAsync(ct).ConfigureAwait(false);
        var result = await region.Ask<AgentSessionReplies.TerminateResult>(new AgentSessionCommands.Terminate(agent, "killed by operator"), AdminCalls.EdgeTimeout, ct)
            .ConfigureAwait(false);
        var stopped = await StopSandboxesAsync(agent.Value, hold: false, "killed by operator", ct).ConfigureAwait(false);
        return new KillResult(result.Agent, result.ConnectionsClosed, stopped);
    });

    private async Task<AdminResult<AgentIssued>> IssueAsync(Func<string, IIdentityCommand> command, CancellationToken ct)
    {
        var token = TokenHashing.NewAgentToken();
        var result = await identity.AskAsync(command(TokenHashing.Hash(token)), ct).ConfigureAwait(false);
        if (!result.IsOk) return AdminErrors.FromIdentity(result.Code, result.Message);
        return new AgentIssued(View(result.Agent!), token);
    }

    // This node's stop is awaited (the caller answers once it is done); in a cluster the other nodes are told at once and stop theirs.
    private async Task<int> StopSandboxesAsync(string agent, bool hold, string reason, CancellationToken ct)
    {
        var housekeeping = await sandboxes.GetAsync(ct).ConfigureAwait(false);
        var stopped = await housekeeping.Ask<SandboxStopMessages.AgentStopped>(new SandboxStopMessages.StopAgent(agent, hold, reason), StopTimeout, ct)
            .ConfigureAwait(false);
        return stopped.ProcessesKilled;
    }

    private AgentView View(AgentRecord agent) => new(agent, activity.Of(agent.Name));
}
